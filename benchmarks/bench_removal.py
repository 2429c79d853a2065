"""Removal benchmark: how long a removal run takes against a cold full run (issue target ≤ 10 %).

    .venv/bin/python benchmarks/bench_removal.py [--scale 1] [--user user42]

1. generate PRISM-scale inputs; 2. cold full run (empty state); 3. `prism-pipeline remove USER`;
4. `prism-pipeline run --job removal_rerun`; 3-4 repeated for each of ``--users`` (the removals
accumulate, as in production). Each step runs in its own subprocess (peak memory
per step). Prints, for both runs, the wall-clock seconds of the CLI process (Python start-up,
imports and loading the definitions included: about 4 s, the same for any job) and the Dagster
run's own duration (start to end in the instance's run record: what the UI shows), peak MiB,
the median removal run's ratios to the cold run and its steps; writes <out>/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_pipeline import BIN, _timed, last_run, workspace  # noqa: E402  (same measuring wrapper)


def _last_run(home: Path) -> tuple[float, list[tuple[str, float]]]:
    """Duration of the latest run in the instance at ``home`` and its steps, slowest first."""
    seconds, steps = last_run(home)
    return seconds, sorted(((key, end - start) for key, start, end in steps), key=lambda x: -x[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--users", default="user42,user142,user242",
                        help="participants to remove, one removal run each, in sequence (the median is reported)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/removal"))
    args = parser.parse_args()

    out, paths, env = workspace(args.out)
    raw, release, state = paths["raw"], paths["release"], paths["state"]
    cli = str(BIN / "prism-pipeline")
    dirs = ["--raw", str(raw), "--out", str(release), "--state", str(state)]
    rows = []
    _timed([cli, "generate", "--out", str(raw), "--scale", str(args.scale)], env)
    seconds, peak, _ = _timed([cli, "run", *dirs], env)
    run_seconds, _ = _last_run(out / "dagster_home")
    rows.append(("cold full run (full_release)", seconds, run_seconds, peak))
    removals = []
    for user in args.users.split(","):
        _timed([cli, "remove", user, "--raw", str(raw), "--state", str(state)], env)
        seconds, peak, _ = _timed([cli, "run", "--job", "removal_rerun", *dirs], env)
        run_seconds, steps = _last_run(out / "dagster_home")
        removals.append((seconds, run_seconds, peak, steps))
        rows.append((f"removal run {len(removals)} (removal_rerun)", seconds, run_seconds, peak))
    median = sorted(removals, key=lambda r: r[1])[len(removals) // 2]
    wall_ratio, run_ratio = median[0] / rows[0][1], median[1] / rows[0][2]
    print(f"scale {args.scale}, {os.cpu_count()} cores")
    print(f"{'run':30s} {'CLI wall s':>10s} {'Dagster run s':>13s} {'peak MiB':>9s}")
    for name, seconds, run_seconds, peak in rows:
        print(f"{name:30s} {seconds:10.1f} {run_seconds:13.2f} {peak:9.0f}")
    print(f"median removal / cold: Dagster run {100 * run_ratio:.1f} % (target <= 10 %), "
          f"CLI wall {100 * wall_ratio:.1f} %")
    print("median removal run, steps: " + ", ".join(f"{k} {v:.2f} s" for k, v in median[3]))
    (out / "results.json").write_text(json.dumps(
        {"scale": args.scale,
         "runs": [{"run": n, "cli_wall_seconds": round(s, 1), "dagster_run_seconds": round(r, 2), "peak_mib": round(p)}
                  for n, s, r, p in rows],
         "median_removal_over_cold_dagster_run": round(run_ratio, 3),
         "median_removal_over_cold_cli_wall": round(wall_ratio, 3),
         "median_removal_steps_seconds": {k: round(v, 2) for k, v in median[3]}}, indent=2))


if __name__ == "__main__":
    main()
