"""``prism-pipeline``: the command-line entry point, for every registered dataset.

    prism-pipeline run [--dataset D] [--raw DIR] [--out DIR] [--state DIR]   materialise every asset (full_release)
    prism-pipeline run --unsynced                             rerun only what changed files/settings/rules affect
    prism-pipeline run --job removal_rerun                    apply new removal requests without a rebuild
    prism-pipeline remove USER_ID [--note TEXT]               record a removal request (salted hash only)
    prism-pipeline audit [--out DIR] [--state DIR]            write audit_report.md from the run history
    prism-pipeline review-pii export|import [SHEET]           PII reviewer sheet round trip
    prism-pipeline generate --out DIR [--scale X] [--seed N]  write synthetic release-shaped inputs

``--dataset`` names a registered dataset (``prism``, the default, or ``thoughttrace``: the
entry points ``prism_pipeline.datasets``). ``run`` executes the job in this process against the
persistent Dagster instance (``DAGSTER_HOME``, set by the Makefile to ``dagster_home/``), so the
run, its checks and its materialisations show in ``dagster dev`` afterwards.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from prism_pipeline.core.dataset import DEFAULT_DATASET, FOLDER_KEYS, Dataset, dataset_names, load_dataset
from prism_pipeline.core.locations import REPO_ROOT

FLAGS = {"raw": "raw", "out": "output", "state": "state", "reference": "reference"}  # option -> folder


def _set_dirs(dataset: Dataset, args: argparse.Namespace) -> None:
    # Before importing the definitions: they read these through EnvVar.
    for flag, folder in FLAGS.items():
        value = getattr(args, flag, None)
        if value:
            os.environ[dataset.env_var(folder)] = str(Path(value).resolve())
        os.environ.setdefault(dataset.env_var(folder), str(dataset.default_dirs[folder]))
    if not os.environ.get("DAGSTER_HOME"):
        home = REPO_ROOT / "dagster_home"
        if (home / "dagster.yaml").exists():
            os.environ["DAGSTER_HOME"] = str(home)


def _dir(dataset: Dataset, folder: str) -> Path:
    return Path(os.environ[dataset.env_var(folder)])


def _dirs(dataset: Dataset) -> dict[str, str]:
    return {dataset.env_var(folder): str(_dir(dataset, folder).resolve()) for folder in FOLDER_KEYS}


def _dagster_home_problem() -> str | None:
    """Create a missing DAGSTER_HOME folder (Dagster would stop with a traceback); a path that
    is not a folder is a setup mistake, reported in one line."""
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        return None
    path = Path(home)
    if path.exists() and not path.is_dir():
        return f"DAGSTER_HOME={home} is not a folder: set DAGSTER_HOME to a folder (created if missing)"
    if not path.exists():
        try:
            path.mkdir(parents=True)
        except OSError as exc:
            return f"DAGSTER_HOME={home} does not exist and cannot be created ({exc.strerror}): create it or " \
                   "set DAGSTER_HOME to a writable folder"
        print(f"created the DAGSTER_HOME folder {path} (a new Dagster instance, SQLite storage in that folder)")
    return None


def _setup_problems(dataset: Dataset) -> list[str]:
    """Setup mistakes a new user makes, one line each, checked before a run starts."""
    from prism_pipeline.core.jsonl import check_raw_dir

    home = _dagster_home_problem()
    return ([home] if home else []) + check_raw_dir(_dir(dataset, "raw"), dataset)


def _definitions(dataset: Dataset):
    import importlib

    return importlib.import_module(dataset.definitions_module).defs


def _record_in_sync(dataset: Dataset, instance, defs) -> None:
    """After Dagster found nothing unsynced: the stamp that lets the next --unsynced skip loading it."""
    from prism_pipeline.core import state_store
    from prism_pipeline.core.dataset import CARD_NAME
    from prism_pipeline.core.resources import resolved
    from prism_pipeline.core.sources import stamp
    from prism_pipeline.core.sources.observations import source_path

    paths = resolved(defs.resources["paths"])  # EnvVar fields read
    sources = {f.key: str(source_path(dataset, paths, f.key)) for f in dataset.source_files}
    written = [str(paths.output / name) for name in (*dataset.release_files, CARD_NAME)]
    stamp.record(paths.state, _dirs(dataset), sources, os.environ.get("DAGSTER_HOME") if instance.is_persistent
                 else None, written + [str(paths.state / state_store.ASSETS_DIRNAME)])


def _instance():
    """The persistent Dagster instance (``DAGSTER_HOME``), else an ephemeral one. Two processes
    creating a new instance's SQLite storage at once collide on its tables, so this happens
    under a lock in ``DAGSTER_HOME`` (``core/lock.py``)."""
    import dagster as dg

    from prism_pipeline.core.lock import instance_lock

    home = os.environ.get("DAGSTER_HOME")
    if not home:
        return dg.DagsterInstance.ephemeral()
    with instance_lock(home):
        instance = dg.DagsterInstance.get()
        instance.get_run_records(limit=1)  # creates the storage's tables now, under the lock
        instance.event_log_storage  # noqa: B018 (so does this)
    return instance


def _locked(dataset: Dataset, args: argparse.Namespace, command: str, body) -> int:
    """Run ``body()`` holding the state folder's lock (``core/lock.py``): a run in progress on the
    same folder is waited for (one line names it), or with ``--no-wait`` refused."""
    from prism_pipeline.core.lock import StateLocked, state_lock

    try:
        with state_lock(_dir(dataset, "state"), command, wait=not getattr(args, "no_wait", False),
                        say=lambda line: print(f"prism-pipeline: {line}", flush=True)):
            return body()
    except StateLocked as err:
        print(f"prism-pipeline: {err}", file=sys.stderr)
        return 3


def cmd_run(dataset: Dataset, args: argparse.Namespace) -> int:
    _set_dirs(dataset, args)
    return _locked(dataset, args, dataset.command(f"run --job {args.job}"), lambda: _run(dataset, args))


def _run(dataset: Dataset, args: argparse.Namespace) -> int:
    started = time.perf_counter()
    output = _dir(dataset, "output")
    if args.unsynced and args.job == "full_release":
        from prism_pipeline.core.sources import stamp

        if stamp.is_current(_dir(dataset, "state"), _dirs(dataset), os.environ.get("DAGSTER_HOME")):
            print(f"nothing is unsynced: no source file, setting, rule or run changed since the last check "
                  f"(core/sources/stamp.py); the release in {output} is current; checked in "
                  f"{time.perf_counter() - started:.1f}s")
            return 0
    import dagster as dg

    from prism_pipeline.core.removal.jobs import REMOVAL_JOB

    defs = _definitions(dataset)
    problems = _setup_problems(dataset)
    for problem in problems:
        print(f"prism-pipeline: {problem}", file=sys.stderr)
    if problems:
        return 2
    instance = _instance()
    defs.resolve_job_def(args.job)  # an unknown job name fails here, before a run is created
    selection = None
    if args.job == REMOVAL_JOB:
        from prism_pipeline.core.removal.jobs import missing_before_removal
        from prism_pipeline.core.resources import resolved

        problem = missing_before_removal(dataset, resolved(defs.resources["paths"]))
        if problem:
            print(f"prism-pipeline: cannot apply removal requests: {problem}", file=sys.stderr)
            return 2
    if args.unsynced:
        from prism_pipeline.core.sources.staleness import files_out_of_sync, observe_sources, unsynced_assets

        changed = observe_sources(instance, defs, dataset)
        files = files_out_of_sync(instance, defs, dataset)
        keys = unsynced_assets(instance, defs, set(files))
        if not keys:
            _record_in_sync(dataset, instance, defs)
            print(f"nothing is unsynced ({changed} sources changed; every release file and stored table is what the "
                  f"last run wrote): the release in {output} is current; checked in "
                  f"{time.perf_counter() - started:.1f}s")
            return 0
        for key, why in sorted(files.items()):
            print(f"{key.to_user_string()} is out of sync: {why}")
        out_of_sync = f", {len(files)} assets' files are out of sync" if files else ""
        print(f"{changed} sources changed{out_of_sync}; rerunning {len(keys)} unsynced assets: "
              + ", ".join(sorted(k.to_user_string() for k in keys)))
        selection = sorted(keys)
    # The console shows INFO and above (progress of the flagging, warnings); every event is still
    # stored in the instance's event log for the UI. execute_job, not execute_in_process: that one
    # keeps every step's output in memory until the run ends (for output_for_node), which at
    # scale 10 held gigabytes of tables that the IO manager had already stored (docs/benchmarks.md).
    # The code location's tag, which runs launched by the daemon carry: the instance's run queue
    # (dagster.yaml) then holds them while this run is in progress, instead of starting them to
    # wait on the state folder's lock.
    job = dg.build_reconstructable_job(dataset.definitions_module, "resolve_job", (args.job,))
    result = dg.execute_job(job, instance=instance, raise_on_error=False, asset_selection=selection,
                            tags={"dagster/code_location": dataset.name}, run_config={
                                "loggers": {"console": {"config": {"log_level": args.log_level}}}})
    seconds = time.perf_counter() - started
    code = report(result, seconds, output, dataset)
    if code == 0:
        print(f"audit report: {_audit(dataset, instance, defs)}")
        if args.job == "full_release":
            from prism_pipeline.core.sources.staleness import files_out_of_sync, unsynced_assets

            if not unsynced_assets(instance, defs, set(files_out_of_sync(instance, defs, dataset))):
                # (a file edited during the run leaves it unsynced)
                _record_in_sync(dataset, instance, defs)
    return code


def _audit(dataset: Dataset, instance, defs) -> Path:
    from prism_pipeline.core.release.audit import write_audit_report

    return write_audit_report(instance, defs.resolve_asset_graph(), _dir(dataset, "output").resolve(),
                              _dir(dataset, "state").resolve(), dataset)


def cmd_audit(dataset: Dataset, args: argparse.Namespace) -> int:
    _set_dirs(dataset, args)
    if not os.environ.get("DAGSTER_HOME") or not Path(os.environ["DAGSTER_HOME"]).is_dir():
        print(f"DAGSTER_HOME is {'not a folder' if os.environ.get('DAGSTER_HOME') else 'not set'}: there is no run "
              "history to audit", file=sys.stderr)
        return 2

    def audit() -> int:  # under the lock: the report describes a release no run is rewriting
        print(f"audit report: {_audit(dataset, _instance(), _definitions(dataset))}")
        return 0

    return _locked(dataset, args, dataset.command("audit"), audit)


def report(result, seconds: float, output_dir: Path, dataset: Dataset) -> int:
    """Print the outcome of a run: failed checks and steps, or where the release went."""
    failed_checks = [e.asset_check_evaluation_data for e in result.all_events
                     if e.event_type_value == "ASSET_CHECK_EVALUATION" and not e.asset_check_evaluation_data.passed]
    for check in failed_checks:
        severity = check.severity.value
        print(f"[{severity}] check {check.asset_key.to_user_string()}:{check.check_name} failed"
              + (f"\n  {check.description}".replace("\n", "\n  ") if check.description else ""))
    if not result.success:
        for event in result.all_events:
            if event.event_type_value == "STEP_FAILURE":
                error = event.step_failure_data.error
                message = error.message.strip() if error else ""
                print(f"[ERROR] step {event.step_key} failed: {message}")
        released = {tuple(e.asset_key.path) for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"
                    } & {tuple(dataset.key(asset)) for asset in dataset.release_assets}
        print(f"run {result.run_id} FAILED after {seconds:.1f}s; " + (
            f"the release in {output_dir} was written by this run, before the failure" if released else
            f"the previous release in {output_dir} is unchanged"))
        return 1
    print(f"run {result.run_id} succeeded in {seconds:.1f}s")
    print(f"release written to {output_dir}:")
    for name in sorted(dataset.release_files):
        path = output_dir / name
        if path.exists():
            print(f"  {path.name}  {path.stat().st_size:,} bytes")
    return 0


def cmd_remove(dataset: Dataset, args: argparse.Namespace) -> int:
    """Record a removal request; the sensor (or `prism-pipeline run --job removal_rerun`) applies it."""
    _set_dirs(dataset, args)
    import datetime as dt

    from prism_pipeline.core.jsonl import InputError
    from prism_pipeline.core.removal.requests import REQUESTS_FILENAME, RemovalRequestError, add_request

    state = _dir(dataset, "state")
    try:
        known = dataset.function(dataset.read_user_ids)(_dir(dataset, "raw"))
        request_id = add_request(state, args.user_id, known, dt.date.today(), args.note)
    except (RemovalRequestError, InputError) as err:
        print(f"removal request refused: {err}", file=sys.stderr)
        return 2
    print(f"recorded removal request {request_id} in {state / REQUESTS_FILENAME}; apply it with "
          f"`{dataset.command('run --job removal_rerun')}` (the Dagster daemon's sensor does it too)")
    return 0


def cmd_review_pii(dataset: Dataset, args: argparse.Namespace) -> int:
    """The reviewer sheet round trip (core/flags/pii_review.py): export the pending PII flags
    with their evidence, import the filled-in verdicts into pii_manual_review.csv. Holds the
    state folder's lock: a run rewrites the tables it reads, a removal deletes the sheet."""
    _set_dirs(dataset, args)
    return _locked(dataset, args, dataset.command(f"review-pii {args.action}"), lambda: _review_pii(dataset, args))


def _review_pii(dataset: Dataset, args: argparse.Namespace) -> int:
    import datetime as dt

    from prism_pipeline.core import state_store
    from prism_pipeline.core.flags import manual_review, pii_review

    kinds = dataset.text_kinds
    state, reference = _dir(dataset, "state"), _dir(dataset, "reference")
    review_path = reference / manual_review.REVIEW_FILENAME
    tables = {}
    for asset in ("pii_review_evidence", "text_instances", "text_flags"):
        path = state_store.table_path(state, [asset])
        if not path.exists():
            print(f"review-pii: {asset} is not materialised under {state}: run "
                  f"`{dataset.command('run')}` first", file=sys.stderr)
            return 2
        tables[asset] = state_store.read(path)
    try:
        review = manual_review.load_review(review_path, kinds)
        if args.action == "export":
            sheet = pii_review.reviewer_sheet(tables["pii_review_evidence"], tables["text_instances"],
                                              tables["text_flags"], review, kinds)
            out = state / pii_review.SHEET_FILENAME
            pii_review.write_sheet(sheet, out)
            print(f"wrote {len(sheet)} pending PII flags to {out}. Fill in verdict (true = real PII, false = a false "
                  "alarm) and reviewer (a pseudonym such as annotator-1), optionally reviewed_on (default today) and "
                  f"note, then run `{dataset.command('review-pii import')}`. The sheet holds participant "
                  "texts: keep it in the state dir; a removal request deletes it.")
            return 0
        sheet_path = Path(args.sheet) if args.sheet else state / pii_review.SHEET_FILENAME
        merged, counts = pii_review.import_sheet(pii_review.read_sheet(sheet_path, kinds),
                                                 tables["pii_review_evidence"], review, dt.date.today(), kinds)
    except (pii_review.SheetError, manual_review.ReviewTableError, FileNotFoundError) as err:
        print(f"review-pii: {err}", file=sys.stderr)
        return 2
    manual_review.write_review(merged, review_path, kinds)
    print(f"imported {counts['imported']} verdicts into {review_path} ({counts['still_pending']} rows of the sheet "
          f"still without a verdict); `{dataset.command('run')}` applies them to pii_manual_flag")
    return 0


def cmd_generate(dataset: Dataset, args: argparse.Namespace) -> int:
    if dataset.generate is None:
        print(f"generate: the {dataset.name} dataset has no synthetic generator", file=sys.stderr)
        return 2
    started = time.perf_counter()
    counts = dataset.function(dataset.generate)(Path(args.out), scale=args.scale, seed=args.seed)
    print(f"wrote {args.out} in {time.perf_counter() - started:.1f}s: "
          + ", ".join(f"{v:,} {k}" for k, v in counts.items()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="prism-pipeline", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, func, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--dataset", default=DEFAULT_DATASET,
                       help=f"the dataset: {', '.join(dataset_names())} (default: {DEFAULT_DATASET})")
        p.set_defaults(func=func)
        return p

    run = command("run", cmd_run, "materialise every asset and write the release")
    run.add_argument("--raw", help="folder with the published files (default: <PREFIX>_RAW_DIR or the dataset's "
                                   "folder under data/)")
    run.add_argument("--out", help="release folder (default: <PREFIX>_OUTPUT_DIR or the dataset's release folder)")
    run.add_argument("--state", help="private state folder (default: <PREFIX>_STATE_DIR or the dataset's state "
                                     "folder)")
    run.add_argument("--job", default="full_release", help="job to run: full_release (default) or removal_rerun")
    run.add_argument("--unsynced", action="store_true",
                     help="rerun only the assets whose raw or reference files, settings or rules changed since "
                          "their last materialisation, and what is downstream of them (like the UI's 'Materialize "
                          "unsynced')")
    run.add_argument("--no-wait", action="store_true",
                     help="refuse (exit 3) instead of waiting when another run holds the state folder")
    run.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                     help="console log level (the event log keeps everything)")

    remove = command("remove", cmd_remove, "record a participant's removal request")
    remove.add_argument("user_id", help="the participant's user_id, e.g. user12")
    remove.add_argument("--note", help="optional note (must not contain the id or other personal data)")
    remove.add_argument("--raw", help="folder with the published files (default: <PREFIX>_RAW_DIR)")
    remove.add_argument("--state", help="private state folder (default: <PREFIX>_STATE_DIR)")

    audit = command("audit", cmd_audit, "write audit_report.md for the current release from the run history")
    audit.add_argument("--out", help="release folder (default: <PREFIX>_OUTPUT_DIR)")
    audit.add_argument("--state", help="private state folder (default: <PREFIX>_STATE_DIR)")

    review = command("review-pii", cmd_review_pii, "export pending PII flags for a reviewer, import their verdicts")
    review.add_argument("action", choices=["export", "import"],
                        help="export: write the reviewer sheet into the state dir; import: merge its verdicts into "
                             "pii_manual_review.csv")
    review.add_argument("sheet", nargs="?", help="import: the filled-in sheet (default: the exported one)")
    review.add_argument("--state", help="private state folder (default: <PREFIX>_STATE_DIR)")
    review.add_argument("--reference", help="reference folder with pii_manual_review.csv (default: "
                                            "<PREFIX>_REFERENCE_DIR)")

    gen = command("generate", cmd_generate, "write synthetic release-shaped inputs")
    gen.add_argument("--out", required=True, help="output folder")
    gen.add_argument("--scale", type=float, default=1.0, help="1 = the published size; 10 = ten times")
    gen.add_argument("--seed", type=int, default=0)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        dataset = load_dataset(args.dataset)
    except ValueError as err:
        print(f"prism-pipeline: {err}", file=sys.stderr)
        sys.exit(2)
    sys.exit(args.func(dataset, args))


if __name__ == "__main__":
    main()
