"""Where users wait: the five runs of the lean-core targets, at PRISM scale (docs/benchmarks.md).

    .venv/bin/python benchmarks/bench_speed.py [--scale 1] [--seed 0] [--user user42] [--out benchmarks/out/speed]

Each step is a fresh ``prism-pipeline`` process, as a user runs it:
  1. ``run`` with an empty state dir (cold: every text flagged);
  2. ``run`` again (every flag from the cache, the whole graph recomputed);
  3. ``run --unsynced`` with nothing changed;
  4. one model response edited in ``conversations.jsonl``, then ``run --unsynced`` (and the edit is
     checked to be in the published ``utterances.jsonl``);
  5. ``remove USER`` then ``run --job removal_rerun``.
For each run it records the time the CLI prints ("succeeded in X s"), the process's wall time,
the Dagster run's duration (start to end in the instance), its peak memory and its slowest steps.
Targets (issue: lean core): cold <= 20 s; warm <= 8 s; --unsynced after one edit <= 8 s; removal
<= 5 % of cold; --unsynced with nothing changed < 1 s (CLI-printed times). Writes
``<out>/results.json``. Not a test.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from bench_pipeline import BIN, _timed, last_run, workspace

PRINTED = re.compile(r"(?:succeeded in|checked in) ([0-9.]+)s")
TARGETS = {"cold": 20.0, "warm": 8.0, "unsynced, nothing changed": 1.0, "unsynced, one edited text": 8.0}


def edit_one_model_response(raw: Path) -> str:
    """Change one model response of the first conversation (still valid JSON); returns the new text."""
    path = raw / "conversations.jsonl"
    lines = path.read_text(encoding="utf-8").split("\n")
    record = json.loads(lines[0])
    item = next(i for i in record["conversation_history"] if i["role"] == "model")
    item["content"] = item["content"] + " (edited for the benchmark)"
    lines[0] = json.dumps(record, ensure_ascii=False)
    path.write_text("\n".join(lines), encoding="utf-8")
    return item["content"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--user", default="user42", help="participant removed for the removal run")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/speed"))
    args = parser.parse_args()

    out, dirs, env = workspace(args.out)
    cli = str(BIN / "prism-pipeline")
    _timed([cli, "generate", "--out", str(dirs["raw"]), "--scale", str(args.scale), "--seed", str(args.seed)], env)
    run = [cli, "run", "--raw", str(dirs["raw"]), "--out", str(dirs["release"]), "--state", str(dirs["state"]),
           "--log-level", "WARNING"]
    rows = []

    def step(name: str, cmd: list[str], dagster: bool = True) -> str:
        wall, peak, stdout = _timed(cmd, env)
        printed = PRINTED.findall(stdout)
        row = {"step": name, "printed_seconds": float(printed[-1]) if printed else None, "wall_seconds": round(wall, 2),
               "peak_mib": round(peak)}
        if dagster:
            run_seconds, steps = last_run(out / "dagster_home")
            row["dagster_run_seconds"] = round(run_seconds, 2)
            row["slowest_steps"] = [[k, round(e - s, 2)] for k, s, e in sorted(steps, key=lambda x: x[1] - x[2])[:8]]
        rows.append(row)
        return stdout

    step("cold", run)
    step("warm", run)
    step("unsynced, nothing changed", [*run, "--unsynced"], dagster=False)
    edited = edit_one_model_response(dirs["raw"])
    step("unsynced, one edited text", [*run, "--unsynced"])
    published = (dirs["release"] / "utterances.jsonl").read_text(encoding="utf-8")
    assert json.dumps(edited, ensure_ascii=False)[1:-1] in published, "the edit was not published"
    _timed([cli, "remove", args.user, "--raw", str(dirs["raw"]), "--state", str(dirs["state"])], env)
    step("removal run", [*run, "--job", "removal_rerun"])

    cold = rows[0]["printed_seconds"]
    removal = rows[-1]["printed_seconds"]
    print(f"scale {args.scale}, seed {args.seed}")
    print(f"{'run':28s} {'printed s':>9s} {'wall s':>7s} {'Dagster s':>9s} {'peak MiB':>8s} {'target':>8s}")
    for row in rows:
        target = TARGETS.get(row["step"])
        target_text = f"<= {target:g}" if target else (f"<= {0.05 * cold:.2f}" if row["step"] == "removal run" else "")
        print(f"{row['step']:28s} {row['printed_seconds'] or 0:9.2f} {row['wall_seconds']:7.2f} "
              f"{row.get('dagster_run_seconds', 0):9.2f} {row['peak_mib']:8d} {target_text:>8s}")
    print(f"removal / cold: {100 * removal / cold:.1f} % of the printed time (target <= 5 %)")
    for row in rows:
        if "slowest_steps" in row:
            print(f"{row['step']}: " + ", ".join(f"{k} {s:.2f}" for k, s in row["slowest_steps"]))
    (out / "results.json").write_text(json.dumps({"scale": args.scale, "seed": args.seed, "runs": rows,
                                                  "removal_over_cold": round(removal / cold, 4)}, indent=2))


if __name__ == "__main__":
    main()
