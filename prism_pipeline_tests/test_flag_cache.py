"""Content-hash cache of detector results (SPEC §7.4, §7.7)."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest

from prism_pipeline.metadata_flags.cache import DEFAULT_FILENAME, FlagCache


def h(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


A, B, C = h("alpha"), h("beta"), h("gamma")
MODERATION = {
    "flagged": False,
    "categories": {"hate": False, "self-harm/intent": False},
    "category_scores": {"hate": 0.0012, "self-harm/intent": 1e-7},
    "backend": "local",
    "model": None,
}


@pytest.fixture
def cache(tmp_path):
    with FlagCache(tmp_path / "state") as c:
        yield c


def test_directory_path_gets_default_file(tmp_path):
    with FlagCache(tmp_path / "state") as c:
        assert c.path == tmp_path / "state" / DEFAULT_FILENAME
    with FlagCache(tmp_path / "x.sqlite") as c:
        assert c.path == tmp_path / "x.sqlite"
    assert (tmp_path / "state" / DEFAULT_FILENAME).exists()


def test_hit_miss_and_json_round_trip(cache):
    assert cache.put_many("mod", "v1", {A: MODERATION, B: {"language_flag": "en"}}) == 2
    assert cache.get_many("mod", "v1", [A, B, C]) == {A: MODERATION, B: {"language_flag": "en"}}
    assert cache.get_many("mod", "v1", [C]) == {}
    assert cache.get_many("other", "v1", [A]) == {}
    assert cache.get_many("mod", "v1", []) == {}


def test_pairs_and_replacement(cache):
    cache.put_many("d", "v", [(A, {"x": 1}), (B, {"x": 2})])
    cache.put_many("d", "v", [(A, {"x": 3})])
    assert cache.put_many("d", "v", [(C, {"x": 9}), (C, {"x": 4})]) == 1  # the last one wins
    assert cache.get_many("d", "v", [A, B, A, C]) == {A: {"x": 3}, B: {"x": 2}, C: {"x": 4}}


@pytest.mark.parametrize("n", [12_345, 25_000])  # batched IN lookups; range scan
def test_large_lookups(cache, n):
    keys = [h(str(i)) for i in range(n)]
    cache.put_many("d", "v", {k: {"i": i} for i, k in enumerate(keys)})
    cache.put_many("d", "v", {h("not asked"): {"i": -1}})
    cache.put_many("d", "other version", {keys[0]: {"i": -2}})
    got = cache.get_many("d", "v", keys + [C])
    assert len(got) == n
    assert got[keys[0]] == {"i": 0} and got[keys[n - 1]] == {"i": n - 1}
    series = cache.get_series("d", "v", keys)
    assert series.index.is_unique
    assert series[keys[7]] == '{"i":7}'
    # the scan may return more than asked (aligned by the caller), the IN lookups do not
    assert (h("not asked") in series.index) == (n >= 20_000)


def test_version_change_invalidates_only_that_detector(cache):
    cache.put_many("langid", "v1", {A: {"language_flag": "en"}, B: {"language_flag": "fr"}})
    cache.put_many("scrubadub", "v1", {A: {"pii_flag": False}})
    assert cache.get_many("langid", "v2", [A, B]) == {}
    assert cache.get_many("scrubadub", "v1", [A]) == {A: {"pii_flag": False}}
    cache.put_many("langid", "v2", {A: {"language_flag": "de"}})
    assert cache.prune_versions("langid", keep_version="v2") == 2
    assert cache.stats()["entries"] == {("langid", "v2"): 1, ("scrubadub", "v1"): 1}
    assert cache.get_many("langid", "v2", [A, B]) == {A: {"language_flag": "de"}}


def test_delete_hashes_removes_every_detector_entry(cache):
    cache.put_many("langid", "v1", {A: {"language_flag": "en"}, B: {"language_flag": "fr"}})
    cache.put_many("scrubadub", "v1", {A: {"pii_flag": False}, C: {"pii_flag": True}})
    assert cache.delete_hashes([A, A, h("never stored")]) == 2
    assert cache.get_many("langid", "v1", [A, B]) == {B: {"language_flag": "fr"}}
    assert cache.get_many("scrubadub", "v1", [A, C]) == {C: {"pii_flag": True}}
    assert cache.stats()["total"] == 2


def test_put_is_all_or_nothing(cache):
    with pytest.raises(ValueError, match=r"^Out of range float values are not JSON compliant"):
        cache.put_many("d", "v", {A: {"x": 1.0}, B: {"x": float("nan")}})
    assert cache.stats()["total"] == 0
    with pytest.raises(ValueError, match=r"^1 keys are not 64-character sha256 hex digests \(first: 'alpha'\)$"):
        cache.put_many("d", "v", {A: {"x": 1}, "alpha": {"x": 2}})
    assert cache.stats()["total"] == 0


def test_stats_and_integrity(cache):
    cache.put_many("b", "v1", {A: {}, B: {}})
    cache.put_many("a", "v9", {C: {}})
    stats = cache.stats()
    assert stats["entries"] == {("a", "v9"): 1, ("b", "v1"): 2}
    assert stats["total"] == 3
    assert stats["path"] == str(cache.path)
    assert stats["file_bytes"] > 0
    assert cache.integrity_check() == "ok"


def test_wal_mode_and_second_connection_sees_commits(cache):
    journal = sqlite3.connect(cache.path).execute("PRAGMA journal_mode").fetchone()[0]
    assert journal == "wal"
    cache.put_many("d", "v", {A: {"x": 1}})
    with FlagCache(cache.path) as reader:
        assert reader.get_many("d", "v", [A]) == {A: {"x": 1}}


def test_merge_from_shard_files(tmp_path):
    with FlagCache(tmp_path / "shard-0.sqlite") as s0, FlagCache(tmp_path / "shard-1.sqlite") as s1:
        s0.put_many("d", "v", {A: {"x": 0}})
        s1.put_many("d", "v", {B: {"x": 1}, A: {"x": 99}})
    with FlagCache(tmp_path / "main.sqlite") as main:
        assert main.merge_from(tmp_path / "shard-0.sqlite") == 1
        assert main.merge_from(tmp_path / "shard-1.sqlite") == 1  # A already present: kept
        assert main.get_many("d", "v", [A, B]) == {A: {"x": 0}, B: {"x": 1}}
        with pytest.raises(FileNotFoundError, match=r"^no cache file at .*missing\.sqlite$"):
            main.merge_from(tmp_path / "missing.sqlite")


def test_store_holds_hashes_not_texts(tmp_path):
    texts = ["My e-mail is jane.doe@example.com", "Ich wohne in der Hauptstraße 12 in Berlin."]
    with FlagCache(tmp_path) as cache:
        cache.put_many("d", "v", {h(t): {"pii_flag": i == 0} for i, t in enumerate(texts)})
        files = sorted(tmp_path.iterdir())
        data = b"".join(p.read_bytes() for p in files)
    assert [p.name for p in files] == [DEFAULT_FILENAME, DEFAULT_FILENAME + "-shm", DEFAULT_FILENAME + "-wal"]
    assert h(texts[0]).encode() in data  # the check below can fail
    for text in texts:
        for needle in (text, text[:12], text.encode("utf-16-le").decode("latin-1")[:12]):
            assert needle.encode("utf-8") not in data
