"""Rerun only what changed: cold run against ``prism-pipeline run --unsynced`` (issue 11 target).

    .venv/bin/python benchmarks/bench_unsynced.py [--scale 1] [--seed 0] [--out benchmarks/out/unsynced]

Each step is a fresh process (as a user runs it), timed with its peak memory
(``bench_pipeline._timed``):
  1. ``prism-pipeline run`` on generated inputs with an empty state dir (cold);
  2. ``prism-pipeline run --unsynced`` with nothing changed: observes every source file and
     setting, finds nothing unsynced, runs nothing;
  3. one raw file changes (``survey.jsonl``: one participant's survey duration, still valid),
     then ``run --unsynced``: reruns the assets downstream of survey.jsonl only;
  4. ``prism-pipeline run`` again (the whole graph, every flag from the cache), for comparison.
Target: step 2 at least 10x faster than step 1. Writes ``<out>/results.json``. Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from pathlib import Path

from bench_pipeline import BIN, _timed, workspace

RERUN = re.compile(r"rerunning (\d+) unsynced assets: (.*)")


def _change_survey(raw: Path) -> None:
    """One participant's survey duration +60 s (minutes kept consistent): a valid new file."""
    path = raw / "survey.jsonl"
    lines = path.read_text(encoding="utf-8").split("\n")
    record = json.loads(lines[0])
    record["timing_duration_s"] = round(record["timing_duration_s"] + 60, 6)
    record["timing_duration_mins"] = round(record["timing_duration_s"] / 60, 2)
    lines[0] = json.dumps(record, ensure_ascii=False)
    path.write_text("\n".join(lines), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/unsynced"))
    args = parser.parse_args()

    out, dirs, env = workspace(args.out)
    _timed([str(BIN / "prism-pipeline"), "generate", "--out", str(dirs["raw"]), "--scale", str(args.scale),
            "--seed", str(args.seed)], env)
    run = [str(BIN / "prism-pipeline"), "run", "--raw", str(dirs["raw"]), "--out", str(dirs["release"]),
           "--state", str(dirs["state"]), "--log-level", "WARNING"]
    steps = []

    def step(name: str, cmd: list[str]) -> str:
        seconds, peak, stdout = _timed(cmd, env)
        match = RERUN.search(stdout)
        steps.append({"step": name, "seconds": round(seconds, 2), "peak_mib": round(peak),
                      "assets_rerun": (int(match.group(1)) if match
                                       else (0 if "nothing is unsynced" in stdout else None)),
                      "which": match.group(2).split(", ") if match else []})
        return stdout

    step("cold: full graph, empty state", run)
    step("unsynced rerun, nothing changed", run + ["--unsynced"])
    _change_survey(dirs["raw"])
    step("unsynced rerun after survey.jsonl changed", run + ["--unsynced"])
    step("full graph rerun, flags from cache", run)

    cold, idle = steps[0]["seconds"], steps[1]["seconds"]
    print(f"scale {args.scale}, seed {args.seed}, {os.cpu_count()} cores")
    print(f"{'step':45s} {'seconds':>8s} {'peak MiB':>9s} {'assets':>7s}")
    for s in steps:
        rerun = "" if s["assets_rerun"] is None else s["assets_rerun"]
        print(f"{s['step']:45s} {s['seconds']:8.2f} {s['peak_mib']:9d} {rerun!s:>7s}")
    print(f"cold / unsynced-with-nothing-changed: {cold / idle:.1f}x (target >= 10x)")
    print("rerun after survey.jsonl changed: " + ", ".join(steps[2]["which"]))
    (out / "results.json").write_text(json.dumps(
        {"scale": args.scale, "seed": args.seed, "cores": os.cpu_count(), "steps": steps,
         "speedup_nothing_changed": round(cold / idle, 1)}, indent=2))


if __name__ == "__main__":
    main()
