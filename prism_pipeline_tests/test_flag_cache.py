"""Content-hash cache of detector results (SPEC §7.4, §7.7)."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest

from prism_pipeline.core.flags.cache import DEFAULT_FILENAME, FlagCache
from prism_pipeline.core.removal.footprint import compact_sqlite
from prism_pipeline.core.removal.scan import scan_paths


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
    cache.put_many("langid", "v0", {A: {"language_flag": "it"}})  # every version of every detector
    cache.put_many("moderation", "v3", {A: {"flagged": False}})
    assert list(cache.stats()["entries"]) == [("langid", "v0"), ("langid", "v1"), ("moderation", "v3"),
                                              ("scrubadub", "v1")]
    assert cache.delete_hashes([A, A, h("never stored")]) == 4
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
    assert bytes.fromhex(h(texts[0])) in data  # stored as the 32-byte digest; the check below can fail
    for text in texts:
        for needle in (text, text[:12], text.encode("utf-16-le").decode("latin-1")[:12]):
            assert needle.encode("utf-8") not in data


def test_delete_hashes_and_compaction_leave_no_byte_of_them(tmp_path):
    state = tmp_path / "state"
    with FlagCache(state) as cache:
        cache.put_many("langid", "v1", {A: {"language_flag": "xx"}, B: {"language_flag": "en"},
                                        C: {"language_flag": "en"}})
        cache.put_many("scrubadub", "v1", {A: {"pii_flag": False}, B: {"pii_flag": True}})
        assert scan_paths([state], [], {A}) != {}  # the check below can fail
        assert cache.delete_hashes([A]) == 2
        assert cache.get_many("langid", "v1", [A, B, C]) == {B: {"language_flag": "en"}, C: {"language_flag": "en"}}
    compact_sqlite(state / DEFAULT_FILENAME)  # what the erasure asset does next (freed pages)
    assert scan_paths([state], [], {A}) == {}
    assert scan_paths([state], [], {B}) != {}


def test_snapshot_files_an_earlier_version_left_are_deleted_on_open(tmp_path):
    state = tmp_path / "state"
    with FlagCache(state) as cache:
        cache.put_many("langid", "v1", {A: {"language_flag": "en"}})
    for name in (".snap-0123456789abcdef", ".snap-0123456789abcdef.delta", ".snap-fedcba9876543210.tmp-999"):
        (state / f"{DEFAULT_FILENAME}{name}").write_bytes(bytes.fromhex(A))
    with FlagCache(state) as cache:
        assert cache.get_many("langid", "v1", [A]) == {A: {"language_flag": "en"}}
    assert not [p.name for p in state.iterdir() if ".snap-" in p.name]


def test_purge_flag_cache_leaves_no_byte_of_the_deleted_hashes(tmp_path):
    import hashlib

    from prism_pipeline.core.removal.footprint import purge_flag_cache

    path = tmp_path / "state" / DEFAULT_FILENAME
    hashes = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(3000)]
    with FlagCache(path) as cache:
        for detector in ("langid", "scrubadub"):
            cache.put_many(detector, "v1", {h: {"flag": i % 7} for i, h in enumerate(hashes)})
    gone = set(hashes[::97])
    assert scan_paths([path.parent], [], gone) != {}
    assert purge_flag_cache(path, gone) == 2 * len(gone)
    assert scan_paths([path.parent], [], gone) == {}
    assert scan_paths([path.parent], [], {hashes[1]}) != {}
    with FlagCache(path) as cache:
        assert len(cache.get_many("langid", "v1", hashes)) == 3000 - len(gone)
    assert purge_flag_cache(path, set()) == 0
    assert purge_flag_cache(tmp_path / "missing.sqlite", gone) == 0
    assert sorted(p.name for p in path.parent.iterdir()) == [DEFAULT_FILENAME]  # no WAL, no temp file


# ---------------------------------------------------------------------------------------
# Detector versions and results stored once
# ---------------------------------------------------------------------------------------
def test_the_view_shows_every_entry_with_its_detector_version_and_result(cache):
    cache.put_many("langid", "v1", {A: {"language_flag": "en"}, B: {"language_flag": "en"}})
    cache.put_many("langid", "v0", {C: {"language_flag": "de"}})
    tables = {r[0] for r in cache._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == {"flag_detector", "flag_result", "flag_entry"}
    assert cache._conn.execute("SELECT * FROM flag_cache ORDER BY 1, 2, 3").fetchall() == [
        ("langid", "v0", C, '{"language_flag":"de"}'), *sorted([("langid", "v1", A, '{"language_flag":"en"}'),
                                                                ("langid", "v1", B, '{"language_flag":"en"}')])]
    assert [r for (r,) in cache._conn.execute("SELECT result FROM flag_result ORDER BY result")] == [
        '{"language_flag":"de"}', '{"language_flag":"en"}']


def test_results_no_entry_uses_any_more_are_deleted_with_the_entries(cache):
    cache.put_many("moderation", "v1", {A: {"score": 0.8731}, B: {"score": 0.1}, C: {"score": 0.1}})
    cache.put_many("langid", "v1", {A: {"language_flag": "en"}, B: {"language_flag": "en"}})
    assert cache.delete_hashes([A]) == 2
    results = [r for (r,) in cache._conn.execute("SELECT result FROM flag_result ORDER BY result")]
    assert results == ['{"language_flag":"en"}', '{"score":0.1}']  # A's own score is gone
    assert cache.prune_versions("moderation", keep_version="v2") == 2
    assert [r for (r,) in cache._conn.execute("SELECT result FROM flag_result")] == ['{"language_flag":"en"}']
    assert list(cache.stats()["entries"]) == [("langid", "v1")]


def test_keys_must_be_hex(cache):
    with pytest.raises(ValueError, match=r"^1 keys are not 64-character sha256 hex digests \(first: 'zzzz"):
        cache.put_many("d", "v", {"z" * 64: {"x": 1}})
