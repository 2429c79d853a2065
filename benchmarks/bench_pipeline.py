"""Whole-graph benchmark: generate PRISM-scale inputs, materialise every asset, measure.

    .venv/bin/python benchmarks/bench_pipeline.py [--scale 1] [--seed 0] [--user user42] [--out benchmarks/out/pipeline]

Runs, each in a fresh subprocess so peak memory (the largest max RSS among the command's
processes, from getrusage) belongs to that run alone:
  1. ``prism-pipeline generate --scale X``;
  2. ``prism-pipeline run`` with an empty state dir (cold: every text flagged);
  3. ``prism-pipeline run`` again (warm: every flag from the content cache);
  4. ``prism-pipeline remove USER`` then ``prism-pipeline run --job removal_rerun`` (one removal
     run, as ``bench_removal.py`` drives it).
For the Dagster runs it also samples the resident memory of every process of the run twice
a second and reports the steps during which the largest process peaked (where the memory
goes), and the run's own duration from the instance. Prints a table and writes it to
``<out>/results.json``. Not a test: timings belong here, not in the suite.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


_MEASURE = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[1:]).returncode\n"
    "sys.stderr.write(f'\\nMAXRSS_KIB={resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}\\n')\n"
    "sys.exit(code)\n"
)


def _timed(cmd: list[str], env: dict[str, str], samples: list | None = None) -> tuple[float, float, str]:
    """(seconds, peak MiB, stdout) of one command. A small wrapper process runs it, so the
    wrapper's RUSAGE_CHILDREN peak is this command's tree alone (the largest process in it).
    ``samples``: filled with (unix time, RSS MiB of the largest process) twice a second."""
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen([sys.executable, "-c", _MEASURE, *cmd], env=env, stdout=out, stderr=err, text=True)
        while proc.poll() is None:
            if samples is not None:
                samples.append((time.time(), _largest_rss_mib(proc.pid)))
            time.sleep(0.5)
        seconds = time.perf_counter() - started
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        sys.stderr.write(stdout[-5000:] + stderr[-5000:])
        raise SystemExit(f"command failed: {' '.join(cmd)}")
    peak_kib = int(stderr.rsplit("MAXRSS_KIB=", 1)[1].split()[0])
    return seconds, peak_kib / 1024, stdout


def _largest_rss_mib(pid: int) -> float:
    import psutil  # installed with dask.distributed

    try:
        procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return 0.0
    rss = []
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            rss.append(proc.memory_info().rss)
    return max(rss, default=0) / 2**20


def last_run(home: Path) -> tuple[float, list[tuple[str, float, float]]]:
    """Duration of the latest run in the instance at ``home`` and its steps as (key, start, end)."""
    import dagster as dg

    os.environ["DAGSTER_HOME"] = str(home)
    with dg.DagsterInstance.get() as instance:
        [record] = instance.get_run_records(limit=1)
        steps = instance.get_run_step_stats(record.dagster_run.run_id)
        return (record.end_time - record.start_time,
                [(s.step_key, s.start_time, s.end_time) for s in steps if s.start_time and s.end_time])


def step_peaks(steps: list[tuple[str, float, float]], samples: list[tuple[float, float]], top: int = 4):
    """The ``top`` steps by the largest process's peak RSS (MiB) sampled while they ran."""
    peaks = [(key, max((m for t, m in samples if start <= t <= end), default=0.0), end - start)
             for key, start, end in steps]
    return sorted(peaks, key=lambda p: -p[1])[:top]


def workspace(out: Path) -> tuple[Path, dict[str, Path], dict[str, str]]:
    """A fresh benchmark folder: (out, {raw, release, state}, environment with its own DAGSTER_HOME)."""
    out = out.resolve()
    shutil.rmtree(out, ignore_errors=True)
    (out / "dagster_home").mkdir(parents=True)
    # The instance settings `make run` uses (telemetry off), so runs are timed as users run them.
    shutil.copy(Path(__file__).resolve().parents[1] / "dagster_home" / "dagster.yaml", out / "dagster_home")
    dirs = {name: out / name for name in ("raw", "release", "state")}
    return out, dirs, {**os.environ, "DAGSTER_HOME": str(out / "dagster_home")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--user", default="user42", help="participant removed for the removal run")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/pipeline"))
    args = parser.parse_args()

    out, dirs, env = workspace(args.out)
    raw, release, state = dirs["raw"], dirs["release"], dirs["state"]
    cli = str(BIN / "prism-pipeline")
    rows = []

    seconds, peak, _ = _timed([cli, "generate", "--out", str(raw), "--scale", str(args.scale), "--seed",
                               str(args.seed)], env)
    rows.append(("generate", seconds, None, peak, []))
    run = [cli, "run", "--raw", str(raw), "--out", str(release), "--state", str(state)]

    def dagster_run(name: str, cmd: list[str]) -> None:
        samples: list = []
        seconds, peak, _ = _timed(cmd, env, samples)
        run_seconds, steps = last_run(out / "dagster_home")
        rows.append((name, seconds, run_seconds, peak, step_peaks(steps, samples)))

    dagster_run("full graph, cold (empty flag cache)", run)
    files = {p.name: {"bytes": p.stat().st_size, "rows": sum(1 for _ in p.open("rb"))}
             for p in sorted(release.glob("*.jsonl"))}
    dagster_run("full graph, warm (flags from cache)", run)
    _timed([cli, "remove", args.user, "--raw", str(raw), "--state", str(state)], env)
    dagster_run(f"removal run ({args.user}, removal_rerun)", [*run, "--job", "removal_rerun"])

    cold = rows[1]
    print(f"scale {args.scale}, seed {args.seed}, {os.cpu_count()} cores")
    print(f"{'step':42s} {'CLI wall s':>10s} {'Dagster run s':>13s} {'peak MiB':>9s}")
    for name, seconds, run_seconds, peak, _ in rows:
        print(f"{name:42s} {seconds:10.1f} {'' if run_seconds is None else f'{run_seconds:13.1f}':>13s} {peak:9.0f}")
    removal = rows[-1]
    print(f"removal / cold: Dagster run {100 * removal[2] / cold[2]:.1f} %, "
          f"CLI wall {100 * removal[1] / cold[1]:.1f} %")
    for name, *_, peaks in rows[1:]:
        print(f"{name}: largest process peaked in " + ", ".join(f"{k} {m:,.0f} MiB ({s:.1f} s)" for k, m, s in peaks))
    for name, info in files.items():
        print(f"  {name:22s} {info['rows']:>9,} rows {info['bytes'] / 2**20:8.1f} MiB")
    (out / "results.json").write_text(json.dumps(
        {"scale": args.scale, "seed": args.seed, "cores": os.cpu_count(),
         "steps": [{"step": n, "cli_wall_seconds": round(s, 1),
                    "dagster_run_seconds": None if r is None else round(r, 1), "peak_mib": round(p),
                    "peak_steps": [{"step": k, "peak_mib": round(m), "seconds": round(d, 1)} for k, m, d in peaks]}
                   for n, s, r, p, peaks in rows],
         "removal_over_cold_dagster_run": round(removal[2] / cold[2], 3),
         "removal_over_cold_cli_wall": round(removal[1] / cold[1], 3),
         "files": files}, indent=2))


if __name__ == "__main__":
    main()
