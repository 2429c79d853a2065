"""Whole-graph benchmark: generate PRISM-scale inputs, materialise every asset, measure.

    .venv/bin/python benchmarks/bench_pipeline.py [--scale 1] [--seed 0] [--out benchmarks/out/pipeline]

Runs, each in a fresh subprocess so peak memory (the largest max RSS among the command's
processes, from getrusage) belongs to that run alone:
  1. ``prism-pipeline generate --scale X``;
  2. ``prism-pipeline run`` with an empty state dir (cold: every text flagged);
  3. ``prism-pipeline run`` again (warm: every flag from the content cache).
Prints a table (seconds, peak MiB, release sizes and row counts) and writes it to
``<out>/results.json``. Not a test: timings belong here, not in the suite.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent


_MEASURE = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[1:]).returncode\n"
    "sys.stderr.write(f'\\nMAXRSS_KIB={resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}\\n')\n"
    "sys.exit(code)\n"
)


def _timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(seconds, peak MiB, stdout) of one command. A small wrapper process runs it, so the
    wrapper's RUSAGE_CHILDREN peak is this command's tree alone (the largest process in it)."""
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _MEASURE, *cmd], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-5000:] + proc.stderr[-5000:])
        raise SystemExit(f"command failed: {' '.join(cmd)}")
    peak_kib = int(proc.stderr.rsplit("MAXRSS_KIB=", 1)[1].split()[0])
    return seconds, peak_kib / 1024, proc.stdout


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
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/pipeline"))
    args = parser.parse_args()

    out, dirs, env = workspace(args.out)
    raw, release, state = dirs["raw"], dirs["release"], dirs["state"]
    rows = []

    seconds, peak, _ = _timed([str(BIN / "prism-pipeline"), "generate", "--out", str(raw), "--scale",
                               str(args.scale), "--seed", str(args.seed)], env)
    rows.append(("generate", seconds, peak))
    run = [str(BIN / "prism-pipeline"), "run", "--raw", str(raw), "--out", str(release), "--state", str(state)]
    seconds, peak, _ = _timed(run, env)
    rows.append(("full graph, cold (empty flag cache)", seconds, peak))
    seconds, peak, _ = _timed(run, env)
    rows.append(("full graph, warm (flags from cache)", seconds, peak))

    files = {p.name: {"bytes": p.stat().st_size, "rows": sum(1 for _ in p.open("rb"))}
             for p in sorted(release.glob("*.jsonl"))}
    print(f"scale {args.scale}, seed {args.seed}, {os.cpu_count()} cores")
    print(f"{'step':40s} {'seconds':>9s} {'peak MiB':>9s}")
    for name, seconds, peak in rows:
        print(f"{name:40s} {seconds:9.1f} {peak:9.0f}")
    for name, info in files.items():
        print(f"  {name:22s} {info['rows']:>9,} rows {info['bytes'] / 2**20:8.1f} MiB")
    (out / "results.json").write_text(json.dumps(
        {"scale": args.scale, "seed": args.seed, "cores": os.cpu_count(),
         "steps": [{"step": n, "seconds": round(s, 1), "peak_mib": round(p)} for n, s, p in rows],
         "files": files}, indent=2))


if __name__ == "__main__":
    main()
