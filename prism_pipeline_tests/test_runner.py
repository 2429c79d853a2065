"""The cached, de-duplicated, parallel and shardable detector runner (SPEC §7.4)."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pandas as pd
import pytest

from prism_pipeline.core.flags.cache import FlagCache
from prism_pipeline.core.flags.detectors import LANGUAGE_DETECTOR, PII_DETECTOR, Detector, DetectorSpec
from prism_pipeline.core.flags.runner import HASH_COLUMN, run_detectors, shard_of
from prism_pipeline.core.hashing import hash_texts, text_sha256

REPO = Path(__file__).resolve().parents[1]


class CountingDetector:
    """Test detector: logs every text it computes (one line per text, flushed) to ``log_dir``.

    ``kill_after``: SIGKILL its own process when about to compute its n-th text, as a crash.
    """

    detector_id = "counting"

    def __init__(self, log_dir: str, tag: str = "v1", kill_after: int | None = None, prefix: str = "") -> None:
        self.log_dir, self.tag, self.kill_after, self.seen = Path(log_dir), tag, kill_after, 0
        self.prefix = prefix

    @property
    def version(self) -> str:
        return f"counting-{self.tag}"

    def detect(self, texts: list[str]) -> list[dict]:
        out = []
        with open(self.log_dir / f"computed-{os.getpid()}.log", "a", encoding="utf-8") as log:
            for text in texts:
                self.seen += 1
                if self.kill_after is not None and self.seen >= self.kill_after:
                    os.kill(os.getpid(), signal.SIGKILL)
                log.write(text_sha256(text) + "\n")
                log.flush()
                out.append({f"{self.prefix}length": len(text), f"{self.prefix}vowels": sum(c in "aeiou" for c in text)})
        return out

    def null_result(self) -> dict:
        return {f"{self.prefix}length": None, f"{self.prefix}vowels": None}

    def load(self) -> None:
        (self.log_dir / f"loaded-{os.getpid()}").touch()


class ParityDetector:
    """Second test detector, without ``null_result``."""

    detector_id = "parity"
    version = "p1"

    def detect(self, texts: list[str]) -> list[dict]:
        return [{"even": len(t) % 2 == 0} for t in texts]


def computed(log_dir: Path) -> list[str]:
    return [line for p in sorted(log_dir.glob("computed-*.log")) for line in p.read_text().splitlines()]


def counting(log_dir: Path, **kwargs) -> DetectorSpec:
    return DetectorSpec.of(CountingDetector, log_dir=str(log_dir), **kwargs)


@pytest.fixture
def log_dir(tmp_path) -> Path:
    d = tmp_path / "logs"
    d.mkdir()
    return d


@pytest.fixture
def cache(tmp_path):
    with FlagCache(tmp_path / "state") as c:
        yield c


def test_results_per_row_with_duplicates_nulls_and_index(log_dir, cache):
    texts = pd.Series(["banana", None, "kiwi", "banana", "EMPTY STRING", ""], index=list("abcdef"))
    out = run_detectors(texts, [counting(log_dir), ParityDetector()], cache)
    expected = pd.DataFrame(
        {
            HASH_COLUMN: [text_sha256("banana"), None, text_sha256("kiwi"), text_sha256("banana"),
                          text_sha256("EMPTY STRING"), text_sha256("")],
            "length": [6, None, 4, 6, 12, 0],
            "vowels": [3, None, 2, 3, 0, 0],
            "even": [True, None, True, True, True, True],
        },
        index=list("abcdef"),
    )
    assert out.index.tolist() == list("abcdef")
    assert out.columns.tolist() == [HASH_COLUMN, "length", "vowels", "even"]
    assert out.astype(object).where(out.notna(), None).to_dict("index") == expected.astype(object).where(
        expected.notna(), None
    ).to_dict("index")
    # each distinct non-null text computed once
    assert sorted(computed(log_dir)) == sorted(text_sha256(t) for t in ["banana", "kiwi", "EMPTY STRING", ""])


@pytest.mark.parametrize("dtype", ["str", "string", object])
def test_null_texts_of_every_dtype(cache, dtype):
    values = ["ab", None, "abc", float("nan")] + ([7] if dtype is object else [])
    out = run_detectors(pd.Series(values, dtype=dtype), [ParityDetector()], cache)
    def plain(column: pd.Series) -> list:
        return [None if pd.isna(v) else v for v in column]

    nulls = [None] if dtype is object else []  # a number is a null text too
    assert plain(out[HASH_COLUMN]) == [text_sha256("ab"), None, text_sha256("abc"), None] + nulls
    assert plain(out["even"]) == [True, None, False, None] + nulls


def test_lone_surrogates_are_hashed_with_surrogatepass(cache):
    texts = pd.Series(["plain", "broken \ud83d escape"])
    expected = [hashlib.sha256(t.encode("utf-8", "surrogatepass")).hexdigest() for t in texts]
    assert hash_texts(texts).tolist() == expected == [text_sha256(t) for t in texts]
    assert run_detectors(texts, [ParityDetector()], cache)[HASH_COLUMN].tolist() == expected


def test_hit_miss_only_new_texts_computed(log_dir, cache):
    first = pd.Series([f"text {i}" for i in range(50)])
    run_detectors(first, [counting(log_dir)], cache)
    assert len(computed(log_dir)) == 50
    again = run_detectors(first, [counting(log_dir)], cache)
    assert len(computed(log_dir)) == 50
    assert again["length"].tolist() == [len(t) for t in first]
    changed = pd.concat([first[:45], pd.Series(["new a", "new b", "text 3"])], ignore_index=True)
    out = run_detectors(changed, [counting(log_dir)], cache)
    assert computed(log_dir)[50:] == [text_sha256("new a"), text_sha256("new b")]
    assert out["length"].tolist() == [len(t) for t in changed]


def test_version_change_recomputes_only_that_detector(log_dir, cache, tmp_path):
    other_log = tmp_path / "other"
    other_log.mkdir()

    class Renamed(CountingDetector):
        detector_id = "counting-2"

    texts = pd.Series(["one", "two", "three"])
    run_detectors(texts, [counting(log_dir), Renamed(str(other_log), prefix="b_")], cache)
    out = run_detectors(texts, [counting(log_dir, tag="v2"), Renamed(str(other_log), prefix="b_")], cache)
    assert out.columns.tolist() == [HASH_COLUMN, "length", "vowels", "b_length", "b_vowels"]
    assert len(computed(log_dir)) == 6  # recomputed under v2
    assert len(computed(other_log)) == 3  # untouched
    assert cache.stats()["entries"] == {("counting", "counting-v1"): 3, ("counting", "counting-v2"): 3,
                                        ("counting-2", "counting-v1"): 3}


def test_progress_reports_about_every_tenth(log_dir, cache):
    calls: list[tuple[int, int]] = []
    run_detectors(pd.Series([f"t{i}" for i in range(200)]), [counting(log_dir)], cache, chunk_size=7,
                  progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (200, 200)
    assert all(total == 200 for _, total in calls)
    tenths = [10 * done // 200 for done, _ in calls]
    assert tenths == sorted(set(tenths)) == list(range(1, 11))
    calls.clear()
    run_detectors(pd.Series(["t1"]), [counting(log_dir)], cache, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(0, 0)]


@pytest.mark.parametrize("start_method", ["fork", "forkserver"])
def test_pool_gives_the_in_process_result(log_dir, cache, tmp_path, start_method):
    texts = pd.Series([f"sentence number {i} " * (i % 5 + 1) for i in range(300)] + [None, "sentence number 0 "])
    pooled = run_detectors(texts, [counting(log_dir), ParityDetector()], cache, workers=2, chunk_size=40,
                           min_pool_texts=0, start_method=start_method)
    worker_pids = {int(p.stem.split("-")[1]) for p in log_dir.glob("computed-*.log")}
    assert worker_pids and os.getpid() not in worker_pids  # computed in worker processes
    loaded = [p.name for p in log_dir.glob("loaded-*")]
    # under fork the parent loads once and the workers inherit; otherwise nobody calls load()
    assert loaded == ([f"loaded-{os.getpid()}"] if start_method == "fork" else [])
    assert sorted(computed(log_dir)) == sorted({text_sha256(t) for t in texts.dropna()})
    with FlagCache(tmp_path / "fresh") as fresh:
        local = run_detectors(texts, [counting(tmp_path / "fresh"), ParityDetector()], fresh, workers=1)
    pd.testing.assert_frame_equal(pooled, local)


def test_real_detectors_through_the_pool(cache):
    texts = pd.Series(["Thanks, that was helpful.", "Escríbeme a maria@ejemplo.es", "EMPTY STRING", None] * 40
                      + [f"Question {i}: what do you think about policy {i}?" for i in range(200)])
    out = run_detectors(texts, [LANGUAGE_DETECTOR, PII_DETECTOR], cache, workers=2, chunk_size=50,
                        min_pool_texts=0)
    assert out.loc[:2, "language_flag"].tolist() == ["en", "es", "en"]
    assert pd.isna(out.loc[3, "language_flag"]) and out["language_flag"].dtype == "str"
    assert out.loc[:3, "pii_flag"].tolist() == [False, True, False, False]
    direct_lang = LANGUAGE_DETECTOR.build().detect(texts.dropna().tolist())
    direct_pii = PII_DETECTOR.build().detect(texts.dropna().tolist())
    present = out[texts.notna()]
    assert present["language_flag"].tolist() == [r["language_flag"] for r in direct_lang]
    assert present["pii_flag"].tolist() == [r["pii_flag"] for r in direct_pii]
    assert out["pii_flag"].dtype == bool


def test_shards_cover_every_row_once_and_collect_from_cache(log_dir, cache):
    texts = pd.Series([f"item {i % 180}" for i in range(200)] + [None, None])
    n = 3
    with pytest.raises(LookupError, match=r"^180 text results are not in the cache at .* \(counting: 180\)$"):
        run_detectors(texts, [counting(log_dir)], cache, compute_missing=False)
    parts = [run_detectors(texts, [counting(log_dir)], cache, shard=(i, n)) for i in range(n)]
    rows = [i for part in parts for i in part.index]
    assert sorted(rows) == list(texts.index)  # every row exactly once
    assert texts.index[texts.isna()].isin(parts[0].index).all()
    for i, part in enumerate(parts):
        hashed = part[HASH_COLUMN].dropna()
        assert (shard_of(hashed, n) == i).all()
    assert sorted(computed(log_dir)) == sorted({text_sha256(t) for t in texts.dropna()})  # each text once
    collected = run_detectors(texts, [counting(log_dir)], cache, compute_missing=False)
    pd.testing.assert_frame_equal(collected, pd.concat(parts).loc[texts.index])
    assert len(computed(log_dir)) == 180


def test_shard_of_is_the_documented_rule():
    hashes = hash_texts(pd.Series(["a", "b", "c"]))
    assert shard_of(hashes, 4).tolist() == [int(x[:8], 16) % 4 for x in hashes]
    assert text_sha256("a") == "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"
    with pytest.raises(ValueError, match=r"^n_shards must be >= 1, got 0$"):
        shard_of(hashes, 0)


def _crash_script(state: Path, log_dir: Path, workers: int) -> str:
    return textwrap.dedent(
        f"""
        import pandas as pd
        from prism_pipeline.core.flags.cache import FlagCache
        from prism_pipeline.core.flags.detectors import DetectorSpec
        from prism_pipeline.core.flags.runner import run_detectors
        from prism_pipeline_tests.test_runner import CountingDetector
        texts = pd.Series([f"text {{i}}" for i in range(100)])
        spec = DetectorSpec.of(CountingDetector, log_dir={str(log_dir)!r}, kill_after=35)
        run_detectors(texts, [spec], FlagCache({str(state)!r}), workers={workers}, chunk_size=10,
                      min_pool_texts=0, start_method="fork")
        """
    )


@pytest.mark.parametrize(("workers", "crash"), [(1, "the run itself"), (2, "a pool worker")])
def test_killed_run_resumes_from_committed_chunks(tmp_path, log_dir, workers, crash):
    state = tmp_path / "state"
    proc = subprocess.run([sys.executable, "-c", _crash_script(state, log_dir, workers)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    if workers == 1:
        assert proc.returncode == -signal.SIGKILL, proc.stderr
    else:
        assert proc.returncode == 1 and BrokenProcessPool.__name__ in proc.stderr, proc.stderr
    assert not [p for p in state.iterdir() if ".snap-" in p.name]  # written only at the end of a run
    with FlagCache(state) as cache:
        assert cache.integrity_check() == "ok"
        committed = cache.stats()["total"]
        assert committed % 10 == 0 and 0 < committed < 100  # whole chunks only
        if workers == 1:
            assert committed == 30
        rerun_log = tmp_path / "rerun"
        rerun_log.mkdir()
        out = run_detectors(pd.Series([f"text {i}" for i in range(100)]), [counting(rerun_log)], cache)
        assert len(computed(rerun_log)) == 100 - committed
        assert out["length"].tolist() == [len(f"text {i}") for i in range(100)]
        assert cache.stats()["total"] == 100


# ---------------------------------------------------------------------------------------
# Warm reruns
# ---------------------------------------------------------------------------------------
class ShapeDetector:
    """Results of two shapes: texts longer than 5 characters get an extra key."""

    detector_id = "shape"
    version = "s1"

    def detect(self, texts: list[str]) -> list[dict]:
        return [{"n": len(t), "long": True} if len(t) > 5 else {"n": len(t)} for t in texts]


def test_warm_rerun_computes_only_a_changed_text(log_dir, cache):
    texts = pd.Series(["banana", None, "kiwi", "banana", "EMPTY STRING", ""], index=list("abcdef"))
    cold = run_detectors(texts, [counting(log_dir), ParityDetector()], cache)
    warm = run_detectors(texts, [counting(log_dir), ParityDetector()], cache)
    pd.testing.assert_frame_equal(warm, cold)
    assert len(computed(log_dir)) == 4  # the four distinct texts, once
    changed = texts.copy()
    changed["c"] = "kiwis"
    out = run_detectors(changed, [counting(log_dir), ParityDetector()], cache)
    assert out.loc["c", "length"] == 5 and not out.loc["c", "even"]
    assert computed(log_dir)[4:] == [text_sha256("kiwis")]


def test_output_depends_on_the_run_texts_only(cache, tmp_path):
    """The cache holds results of texts not in this run: columns, order and dtypes come from
    this run's texts alone, as with a fresh cache."""
    run_detectors(pd.Series(["a much longer text", "ab", None]), [ShapeDetector()], cache)
    subset = pd.Series(["ab", None, "abc", "ab"], index=[7, 3, 5, 1])
    warm = run_detectors(subset, [ShapeDetector()], cache)
    assert warm.columns.tolist() == [HASH_COLUMN, "n"]
    with FlagCache(tmp_path / "fresh") as fresh:
        pd.testing.assert_frame_equal(warm, run_detectors(subset, [ShapeDetector()], fresh))


def test_a_changed_or_deleted_result_is_never_served(log_dir, cache):
    texts = pd.Series(["one", "three", "four"])
    run_detectors(texts, [counting(log_dir), ParityDetector()], cache)
    cache.put_many("parity", "p1", {text_sha256("one"): {"even": True}})  # e.g. a corrected result
    assert run_detectors(texts, [ParityDetector()], cache)["even"].tolist() == [True, False, True]
    assert cache.delete_hashes([text_sha256("four")]) == 2
    out = run_detectors(texts, [counting(log_dir)], cache)
    assert computed(log_dir)[3:] == [text_sha256("four")]  # recomputed
    assert out["length"].tolist() == [3, 5, 4]


def test_shards_then_collect_reads_every_result(log_dir, cache):
    texts = pd.Series([f"item {i % 90}" for i in range(100)] + [None])
    for i in range(3):
        run_detectors(texts, [counting(log_dir)], cache, shard=(i, 3))
    assert len(computed(log_dir)) == 90
    collected = run_detectors(texts, [counting(log_dir)], cache, compute_missing=False)
    assert collected["length"].tolist()[:100] == [len(f"item {i % 90}") for i in range(100)]
    assert len(computed(log_dir)) == 90


def test_no_raw_text_in_the_store(cache):
    texts = pd.Series(["Please e-mail me at jane.doe@example.com about the flat",
                       "Mi dirección es calle Mayor 5, Madrid", "EMPTY STRING"])
    run_detectors(texts, [LANGUAGE_DETECTOR, PII_DETECTOR], cache)
    data = b"".join(p.read_bytes() for p in cache.path.parent.iterdir())
    assert bytes.fromhex(text_sha256(texts[0])) in data  # the 32-byte digest: the check below can fail
    for text in texts:
        assert text.encode() not in data
    assert b"jane.doe" not in data and b"calle Mayor" not in data


def test_bad_calls(log_dir, cache):
    texts = pd.Series(["x"])
    with pytest.raises(ValueError, match=r"^detector ids must be distinct, got \['counting', 'counting'\]$"):
        run_detectors(texts, [counting(log_dir), counting(log_dir, tag="v2")], cache)

    class Clash(ParityDetector):
        detector_id = "clash"

        def detect(self, texts):
            return [{"length": 0} for _ in texts]

    with pytest.raises(ValueError, match=r"^detector clash result keys \['length'\] clash with other columns$"):
        run_detectors(texts, [counting(log_dir), Clash()], cache)
    with pytest.raises(ValueError, match=r"^shard must be \(i, n\) with 0 <= i < n, got \(3, 3\)$"):
        run_detectors(texts, [counting(log_dir)], cache, shard=(3, 3))
    with pytest.raises(ValueError, match=r"^no detectors given$"):
        run_detectors(texts, [], cache)
    assert isinstance(CountingDetector(str(log_dir)), Detector)
