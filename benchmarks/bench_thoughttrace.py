"""ThoughtTrace on the engine at the published size and ten times it (docs/benchmarks.md).

    .venv/bin/python benchmarks/bench_thoughttrace.py [--scales 1 10] [--seed 0] [--out benchmarks/out/thoughttrace]

For each scale, in a fresh folder and instance, each step a fresh ``prism-pipeline --dataset
thoughttrace`` process as a user runs it (helpers of ``bench_pipeline.py``):
  1. ``generate --scale X`` (synthetic ThoughtTrace.jsonl);
  2. ``run`` with an empty state dir (cold: every text flagged);
  3. ``run --unsynced`` with nothing changed;
  4. one user message edited in ``ThoughtTrace.jsonl``, then ``run --unsynced`` (and the edit is
     checked to be in the published ``messages.jsonl``);
  5. ``remove USER`` (the second participant of the file) then ``run --job removal_rerun``.
For each run: the time the CLI prints ("succeeded in X s" / "checked in X s"), the process's wall
time, the Dagster run's duration in the instance, the peak memory of the largest process and the
slowest steps. Prints a table per scale and writes ``<out>/results.json``. Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from pathlib import Path

from bench_pipeline import BIN, _timed, last_run, workspace

PRINTED = re.compile(r"(?:succeeded in|checked in) ([0-9.]+)s")
FILE = "ThoughtTrace.jsonl"


def edit_one_message(raw: Path) -> str:
    """Append to the first user message of the first conversation; returns the new text."""
    path = raw / FILE
    lines = path.read_text(encoding="utf-8").split("\n")
    record = json.loads(lines[0])
    message = record["messages"][0]
    message["content"] = message["content"] + " (edited for the benchmark)"
    lines[0] = json.dumps(record, ensure_ascii=False)
    path.write_text("\n".join(lines), encoding="utf-8")
    return message["content"].strip()


def second_user(raw: Path) -> str:
    seen: list[str] = []
    with (raw / FILE).open(encoding="utf-8") as fh:
        for line in fh:
            user = json.loads(line)["id"].split("_", 1)[0]
            if user not in seen:
                seen.append(user)
            if len(seen) == 2:
                return user
    return seen[0]


def bench(scale: float, seed: int, out: Path) -> dict:
    out, dirs, env = workspace(out)
    cli = [str(BIN / "prism-pipeline")]
    gen_wall, gen_peak, gen_stdout = _timed([*cli, "generate", "--dataset", "thoughttrace", "--out", str(dirs["raw"]),
                                             "--scale", str(scale), "--seed", str(seed)], env)
    run = [*cli, "run", "--dataset", "thoughttrace", "--raw", str(dirs["raw"]), "--out", str(dirs["release"]),
           "--state", str(dirs["state"]), "--log-level", "WARNING"]
    rows = [{"step": "generate", "printed_seconds": None, "wall_seconds": round(gen_wall, 2),
             "peak_mib": round(gen_peak), "counts": gen_stdout.strip().split(": ", 1)[-1]}]

    def step(name: str, cmd: list[str], dagster: bool = True) -> None:
        wall, peak, stdout = _timed(cmd, env)
        printed = PRINTED.findall(stdout)
        row = {"step": name, "printed_seconds": float(printed[-1]) if printed else None,
               "wall_seconds": round(wall, 2), "peak_mib": round(peak)}
        if dagster:
            run_seconds, steps = last_run(out / "dagster_home")
            row["dagster_run_seconds"] = round(run_seconds, 2)
            row["slowest_steps"] = [[k, round(e - s, 2)] for k, s, e in sorted(steps, key=lambda x: x[1] - x[2])[:5]]
        rows.append(row)

    step("cold", run)
    step("unsynced, nothing changed", [*run, "--unsynced"], dagster=False)
    edited = edit_one_message(dirs["raw"])
    step("unsynced, one edited text", [*run, "--unsynced"])
    published = (dirs["release"] / "messages.jsonl").read_text(encoding="utf-8")
    assert json.dumps(edited, ensure_ascii=False)[1:-1] in published, "the edit was not published"
    user = second_user(dirs["raw"])
    _timed([*cli, "remove", "--dataset", "thoughttrace", user, "--raw", str(dirs["raw"]), "--state",
            str(dirs["state"])], env)
    step(f"removal run ({user})", [*run, "--job", "removal_rerun"])
    files = {p.name: {"bytes": p.stat().st_size, "rows": sum(1 for _ in p.open("rb"))}
             for p in sorted(dirs["release"].iterdir()) if p.suffix in (".jsonl", ".json")}
    return {"scale": scale, "seed": seed, "cores": os.cpu_count(), "runs": rows, "files": files,
            "raw_bytes": (dirs["raw"] / FILE).stat().st_size}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0, 10.0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/thoughttrace"))
    args = parser.parse_args()
    results = []
    for scale in args.scales:
        result = bench(scale, args.seed, args.out / f"scale-{scale:g}")
        results.append(result)
        raw_mib = result["raw_bytes"] / 2**20
        print(f"\nscale {scale:g}, seed {args.seed}, {result['cores']} cores; raw {raw_mib:.1f} MiB")
        print(f"{'run':30s} {'printed s':>9s} {'wall s':>7s} {'Dagster s':>9s} {'peak MiB':>8s}")
        for row in result["runs"]:
            print(f"{row['step']:30s} {row['printed_seconds'] or 0:9.2f} {row['wall_seconds']:7.2f} "
                  f"{row.get('dagster_run_seconds', 0):9.2f} {row['peak_mib']:8d}")
        for row in result["runs"]:
            if "slowest_steps" in row:
                print(f"  {row['step']}: " + ", ".join(f"{k} {s:.2f}" for k, s in row["slowest_steps"]))
        for name, info in result["files"].items():
            print(f"  {name:20s} {info['rows']:>9,} rows {info['bytes'] / 2**20:8.1f} MiB")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
