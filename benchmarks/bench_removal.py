"""Removal benchmark: how long a removal run takes against a cold full run (issue target ≤ 10 %).

    .venv/bin/python benchmarks/bench_removal.py [--scale 1] [--user user42]

1. generate PRISM-scale inputs; 2. cold full run (empty state); 3. `prism-pipeline remove USER`;
4. `prism-pipeline run --job removal_rerun`. Each step runs in its own subprocess (peak memory
per step). Prints seconds, peak MiB and the removal/cold ratio; writes <out>/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_pipeline import BIN, _timed, workspace  # noqa: E402  (same measuring wrapper)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--user", default="user42", help="participant to remove (must have conversations)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/removal"))
    args = parser.parse_args()

    out, paths, env = workspace(args.out)
    raw, release, state = paths["raw"], paths["release"], paths["state"]
    cli = str(BIN / "prism-pipeline")
    dirs = ["--raw", str(raw), "--out", str(release), "--state", str(state)]
    rows = []
    _timed([cli, "generate", "--out", str(raw), "--scale", str(args.scale)], env)
    seconds, peak, _ = _timed([cli, "run", *dirs], env)
    rows.append(("cold full run", seconds, peak))
    _timed([cli, "remove", args.user, "--raw", str(raw), "--state", str(state)], env)
    seconds, peak, stdout = _timed([cli, "run", "--job", "removal_rerun", *dirs], env)
    rows.append(("removal run (removal_rerun job)", seconds, peak))
    ratio = rows[1][1] / rows[0][1]
    print(f"scale {args.scale}, {os.cpu_count()} cores")
    print(f"{'step':34s} {'seconds':>9s} {'peak MiB':>9s}")
    for name, seconds, peak in rows:
        print(f"{name:34s} {seconds:9.1f} {peak:9.0f}")
    print(f"removal / cold = {100 * ratio:.0f} % (target ≤ 10 %)")
    (out / "results.json").write_text(json.dumps(
        {"scale": args.scale, "steps": [{"step": n, "seconds": round(s, 1), "peak_mib": round(p)} for n, s, p in rows],
         "removal_over_cold": round(ratio, 3)}, indent=2))


if __name__ == "__main__":
    main()
