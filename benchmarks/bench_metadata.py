"""Benchmark of the metadata flags (language_flag, pii_flag) against the reference loop (SPEC §7.4).

Not a test: run it by hand, e.g.

    .venv/bin/python benchmarks/bench_metadata.py                # full scale, ~3 min on 2 cores
    .venv/bin/python benchmarks/bench_metadata.py --scale 0.1    # quick look
    .venv/bin/python benchmarks/bench_metadata.py --sample 5000  # (a) timed on 5,000 texts, extrapolated
    .venv/bin/python benchmarks/bench_metadata.py --repeat 3     # (b)-(d) 3 times each, medians

On synthetic data from ``prism_pipeline_synthetic.generator.generate(out, scale, seed)``
(scale 1: 106,554 text instances) it times

  (a) a faithful re-creation of the reference loop (``add_metadata``, moderation excluded):
      ``DataFrame.iterrows`` over every text, ``langid.classify`` and ``scrubadub.clean`` per
      text, values written back with ``df.at`` (BLAS limited to one thread, which makes
      langid faster here than with the default thread pool on a small machine);
  (b) ``run_detectors`` with an empty cache (de-duplication, process pool, chunk commits);
  (c) the same again, nothing changed (everything from the cache);
  (d) again after one participant's texts changed (the participant with the most texts);

checks that (a) and (b) give the same language and PII flag on every text, that (c) gives
exactly (b)'s flags and (d) exactly (b)'s on every unchanged row, and prints each time, the ratios against
the targets ((b) >= 5x faster than (a); (c), (d) >= 50x faster than (b)) and the peak
resident memory. Each phase runs in its own subprocess, so its peak memory
(``getrusage`` maxrss of the phase process and of its largest child) is its own. It also
measures per-text speeds of langid vs py3langid vs this project's language detector, and
``scrubadub.clean`` vs one reused ``Scrubber``.

Outputs (git-ignored) go to ``benchmarks/out/metadata/``: the generated data, the text
instances, each phase's flags, the cache, and ``results.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).resolve().parent / "out" / "metadata"
PHASES = ("speeds", "a", "b", "c", "d")


# ---------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------
def prepare(out: Path, scale: float, seed: int) -> Path:
    """Generate the synthetic release (once per scale/seed) and pickle its text instances."""
    from prism_pipeline.prism.conversation_tables.derive import derive_utterances
    from prism_pipeline.prism.inputs.parse import read_conversations, read_survey
    from prism_pipeline.prism.metadata.text_instances import build_text_instances
    from prism_pipeline_synthetic.generator import generate

    data = out / f"data-scale{scale:g}-seed{seed}"
    texts_path = data / "text_instances.pkl"
    if not texts_path.exists():
        t0 = time.perf_counter()
        generate(data, scale=scale, seed=seed)
        survey = read_survey(data / "survey.jsonl")
        conversations, history = read_conversations(data / "conversations.jsonl")
        utterances = derive_utterances(conversations, history)
        instances = build_text_instances(survey, conversations, utterances)
        instances.to_pickle(texts_path)
        print(f"generated {len(instances):,} text instances in {time.perf_counter() - t0:.1f} s", flush=True)
    return texts_path


def changed_participant(instances: pd.DataFrame) -> tuple[pd.DataFrame, str, int]:
    """The text instances with every text of the participant with the most texts edited."""
    user = instances["user_id"].value_counts().sort_index().idxmax()
    mask = (instances["user_id"] == user).to_numpy()
    edited = instances.copy()
    edited.loc[mask, "text"] = edited.loc[mask, "text"] + " (edited)"
    return edited, str(user), int(mask.sum())


# ---------------------------------------------------------------------------------------
# Phases (each in its own process)
# ---------------------------------------------------------------------------------------
def phase_a(instances: pd.DataFrame, sample: int | None, seed: int) -> dict:
    """The reference loop: iterrows, langid.classify and scrubadub.clean per text, df.at writes."""
    import langid
    import scrubadub

    df = instances[["column_id", "text"]].copy()
    if sample is not None and sample < len(df):
        df = df.sample(n=sample, random_state=seed).sort_index()
    df["language_flag"] = None
    df["pii_flag"] = None
    warnings.simplefilter("ignore", DeprecationWarning)  # the reference ran with the warnings on screen
    t0 = time.perf_counter()
    for index, row in df.iterrows():
        text = row["text"]
        if pd.isna(row["language_flag"]):
            df.at[index, "language_flag"] = langid.classify(text)[0] if isinstance(text, str) else None
        if pd.isna(row["pii_flag"]):
            df.at[index, "pii_flag"] = int(scrubadub.clean(text) != text) if isinstance(text, str) else 0
    seconds = time.perf_counter() - t0
    df["pii_flag"] = df["pii_flag"].astype(bool)
    return {"seconds": seconds, "texts": len(df), "flags": df[["language_flag", "pii_flag"]]}


def phase_run(instances: pd.DataFrame, cache_dir: Path, workers: int | None, fresh: bool) -> dict:
    from prism_pipeline.core.flags.cache import FlagCache
    from prism_pipeline.core.flags.detectors import LANGUAGE_DETECTOR, PII_DETECTOR
    from prism_pipeline.core.flags.runner import _start_method, run_detectors

    if fresh and cache_dir.exists():
        shutil.rmtree(cache_dir)
    done: list[tuple[int, int]] = []
    with FlagCache(cache_dir) as cache:
        before = cache.stats()["total"]
        t0 = time.perf_counter()
        out = run_detectors(instances["text"], [LANGUAGE_DETECTOR, PII_DETECTOR], cache, workers=workers,
                            progress=lambda d, t: done.append((d, t)))
        seconds = time.perf_counter() - t0
        computed = cache.stats()["total"] - before
    return {"seconds": seconds, "texts": len(instances), "computed": computed, "start_method": _start_method(None),
            "distinct_texts": int(out["text_sha256"].nunique()),
            "flags": out[["language_flag", "pii_flag"]]}


def phase_speeds(instances: pd.DataFrame, n: int, seed: int) -> dict:
    """Per-text speed of each implementation on the same n texts, one process, one thread."""
    import langid
    import py3langid
    import scrubadub

    from prism_pipeline.core.flags.language import LangidDetector
    from prism_pipeline.core.flags.pii import ScrubadubDetector

    texts = instances["text"].dropna().sample(n=min(n, len(instances)), random_state=seed).tolist()
    warnings.simplefilter("ignore", DeprecationWarning)
    langid.classify("")
    py3langid.classify("")
    ours = LangidDetector()
    pii = ScrubadubDetector()
    scrubber = scrubadub.Scrubber()
    timings = {}

    def timed(name, fn):
        t0 = time.perf_counter()
        result = fn()
        timings[name] = (time.perf_counter() - t0) / len(texts) * 1e6
        return result

    ref = timed("langid.classify", lambda: [langid.classify(t)[0] for t in texts])
    p3 = timed("py3langid.classify", lambda: [py3langid.classify(t)[0] for t in texts])
    mine = timed("LangidDetector (certified)", lambda: [r["language_flag"] for r in ours.detect(texts)])
    clean = timed("scrubadub.clean", lambda: [scrubadub.clean(t) != t for t in texts])
    timed("Scrubber().clean reused", lambda: [scrubber.clean(t) != t for t in texts])
    det = timed("ScrubadubDetector", lambda: [r["pii_flag"] for r in pii.detect(texts)])
    return {
        "texts": len(texts),
        "mean_chars": float(np.mean([len(t) for t in texts])),
        "us_per_text": timings,
        "py3langid_label_differences": sum(a != b for a, b in zip(ref, p3, strict=True)),
        "certified_label_differences": sum(a != b for a, b in zip(ref, mine, strict=True)),
        "certified_fallbacks": ours.fallbacks,
        "pii_differences": sum(a != b for a, b in zip(clean, det, strict=True)),
    }


def load_libraries() -> float:
    """Import/decode every library and model before timing, for every phase alike (the
    reference loop's first langid call decodes its model; scrubadub's import takes ~1.5 s).
    Returns the seconds this took: a one-off cost per process, reported separately."""
    t0 = time.perf_counter()
    import langid
    import scrubadub
    from phonenumbers import PhoneMetadata

    from prism_pipeline.core.flags.language import shared_model

    langid.classify("")
    scrubadub.Scrubber()
    # phonenumbers (scrubadub's phone detector) imports each region's metadata on first use:
    # ~15 ms in (d) for the regions one participant's texts touch; 50 ms for all of them here.
    PhoneMetadata.load_all()
    shared_model()
    return time.perf_counter() - t0


def run_phase(args: argparse.Namespace) -> None:
    if args.phase in ("speeds", "a"):
        # One BLAS thread, as in the pool workers: langid's per-call matrix product would
        # otherwise fight over the cores, which would flatter our ratio against (a).
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1)
    instances = pd.read_pickle(args.texts)
    load_seconds = load_libraries()
    # Imports (Dagster's) already ran a helper subprocess, whose peak counts as a child's:
    # record it so the pool's workers are not confused with it.
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    cache_dir = args.out / "cache"
    if args.phase == "speeds":
        result = phase_speeds(instances, args.speed_texts, args.seed)
    elif args.phase == "a":
        result = phase_a(instances, args.sample, args.seed)
    elif args.phase == "b":
        result = phase_run(instances, cache_dir, args.workers, fresh=True)
    elif args.phase == "c":
        result = phase_run(instances, cache_dir, args.workers, fresh=False)
    else:
        edited, user, n = changed_participant(instances)
        result = phase_run(edited, cache_dir, args.workers, fresh=False)
        result["changed_rows"] = n
        result["changed_user_texts"] = int(edited.loc[edited["user_id"] == user, "text"].nunique())
    flags = result.pop("flags", None)
    if flags is not None:
        flags.to_pickle(args.out / f"flags_{args.phase}.pkl")
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    result["library_load_seconds"] = load_seconds
    result["peak_rss_mib"] = {"process": round(own / 1024, 1), "largest_child": round(children / 1024, 1),
                              "largest_child_before_phase": round(children_before / 1024, 1)}
    print(json.dumps(result))


# ---------------------------------------------------------------------------------------
# Orchestration
# ---------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sample", type=int, default=None,
                        help="time (a) on N random texts and extrapolate to all (stated in the output)")
    parser.add_argument("--workers", type=int, default=None, help="pool size for (b)-(d); default os.cpu_count()")
    parser.add_argument("--speed-texts", type=int, default=3000, help="texts for the per-text speed comparison")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run (b), (c), (d) N times (each (b) from an empty cache) and report each one's median "
                             "(this machine is shared: single timings of a fraction of a second are noisy)")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--phase", choices=PHASES, help=argparse.SUPPRESS)
    parser.add_argument("--texts", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        run_phase(args)
        return

    args.out.mkdir(parents=True, exist_ok=True)
    texts_path = prepare(args.out, args.scale, args.seed)
    instances = pd.read_pickle(texts_path)
    n = len(instances)
    print(f"{n:,} text instances ({instances['text'].nunique():,} distinct), {os.cpu_count()} CPUs", flush=True)
    runs: dict[str, list[dict]] = {phase: [] for phase in PHASES}
    # (b), (c), (d) in order, --repeat times: every (b) starts from an empty cache, so every
    # (d) finds exactly one participant's texts new.
    for phase in ["speeds", "a", *["b", "c", "d"] * args.repeat]:
        cmd = [sys.executable, __file__, "--phase", phase, "--texts", str(texts_path), "--out", str(args.out),
               "--seed", str(args.seed), "--speed-texts", str(args.speed_texts)]
        if args.sample is not None:
            cmd += ["--sample", str(args.sample)]
        if args.workers is not None:
            cmd += ["--workers", str(args.workers)]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            sys.exit(f"phase {phase} failed:\n{proc.stderr}")
        runs[phase].append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(f"phase {phase}: done in {time.perf_counter() - t0:.1f} s wall (incl. start-up)", flush=True)
    results: dict[str, dict] = {}
    for phase, done in runs.items():  # the median run of each phase (the upper one of an even count)
        results[phase] = sorted(done, key=lambda r: r.get("seconds", 0))[len(done) // 2]
        results[phase]["all_seconds"] = [r.get("seconds") for r in done]

    a, b, c, d = (results[p] for p in "abcd")
    extrapolated = a["texts"] < n
    a_seconds = a["seconds"] * n / a["texts"]
    flags_a = pd.read_pickle(args.out / "flags_a.pkl")
    flags_b = pd.read_pickle(args.out / "flags_b.pkl").loc[flags_a.index]
    same_lang = flags_a["language_flag"].fillna("<null>").astype(str).eq(flags_b["language_flag"].fillna("<null>"))
    same_pii = flags_a["pii_flag"].astype(bool).eq(flags_b["pii_flag"].astype(bool))
    # Warm runs must give exactly the cold run's flags (d: on the rows it did not change).
    all_b = pd.read_pickle(args.out / "flags_b.pkl")
    unchanged = (instances["user_id"] != changed_participant(instances)[1]).to_numpy()
    warm_c_same = pd.read_pickle(args.out / "flags_c.pkl").equals(all_b)
    warm_d_same = pd.read_pickle(args.out / "flags_d.pkl")[unchanged].equals(all_b[unchanged])
    summary = {
        "texts": n,
        "a_seconds_full": a_seconds,
        "a_extrapolated_from": a["texts"] if extrapolated else None,
        "ratio_a_over_b": a_seconds / b["seconds"],
        "ratio_b_over_c": b["seconds"] / c["seconds"],
        "ratio_b_over_d": b["seconds"] / d["seconds"],
        "flags_compared": int(len(flags_a)),
        "language_mismatches": int((~same_lang).sum()),
        "pii_mismatches": int((~same_pii).sum()),
        "c_equals_b": bool(warm_c_same),
        "d_equals_b_on_unchanged_rows": bool(warm_d_same),
    }
    results["summary"] = summary
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")

    s = results["speeds"]
    print(f"\nper-text speed on {s['texts']:,} texts (mean {s['mean_chars']:.0f} chars), one process:")
    for name, us in s["us_per_text"].items():
        print(f"  {name:28s} {us:8.1f} µs/text")
    print(f"  label differences vs langid.classify: py3langid {s['py3langid_label_differences']}, "
          f"certified {s['certified_label_differences']} (fallbacks {s['certified_fallbacks']}); "
          f"PII differences vs scrubadub.clean: {s['pii_differences']}")
    print(f"\n{'phase':44s} {'seconds':>9s} {'µs/text':>8s} {'peak RSS MiB (proc / child)':>28s}")
    label_a = f"(a) reference loop{' (extrapolated from ' + format(a['texts'], ',') + ')' if extrapolated else ''}"
    rows = [(label_a, a_seconds, a), ("(b) cold, empty cache", b["seconds"], b),
            ("(c) warm, nothing changed", c["seconds"], c),
            (f"(d) one participant changed ({d['changed_rows']} rows)", d["seconds"], d)]
    for label, seconds, r in rows:
        rss = r["peak_rss_mib"]
        print(f"{label:44s} {seconds:9.2f} {seconds / n * 1e6:8.1f} "
              f"{rss['process']:>14.0f} / {rss['largest_child']:<10.0f}")
    if args.repeat > 1:
        print(f"(medians of {args.repeat} runs; all runs, seconds: "
              + "; ".join(f"({p}) " + ", ".join(f"{x:.2f}" for x in results[p]["all_seconds"]) for p in "bcd") + ")")
    print(f"(library and model loading, done before the timer in every phase: "
          f"{b['library_load_seconds']:.1f} s per process; the largest child before any phase work was "
          f"{b['peak_rss_mib']['largest_child_before_phase']:.0f} MiB, a helper subprocess started while "
          "importing the libraries)")
    print(f"\n(b) ran {b['start_method']} workers ({args.workers or os.cpu_count()}); "
          f"computed {b['computed']:,} results for {b['distinct_texts']:,} distinct texts; "
          f"(c) computed {c['computed']}; (d) computed {d['computed']} "
          f"({d['changed_user_texts']} distinct edited texts x 2 detectors)")
    print(f"(a)/(b) = {summary['ratio_a_over_b']:.1f}x (target >= 5x)   "
          f"(b)/(c) = {summary['ratio_b_over_c']:.0f}x   (b)/(d) = {summary['ratio_b_over_d']:.0f}x (targets >= 50x)")
    print(f"flags identical on all {summary['flags_compared']:,} compared texts: "
          f"language mismatches {summary['language_mismatches']}, PII mismatches {summary['pii_mismatches']}")
    print(f"warm flags equal to (b): (c) {warm_c_same}, (d) on its {int(unchanged.sum()):,} unchanged rows "
          f"{warm_d_same}")
    print(f"results: {args.out / 'results.json'}")
    if summary["language_mismatches"] or summary["pii_mismatches"] or not (warm_c_same and warm_d_same):
        sys.exit(1)


if __name__ == "__main__":
    main()
