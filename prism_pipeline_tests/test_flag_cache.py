"""Content-hash cache of detector results (SPEC §7.4, §7.7)."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest

from prism_pipeline.metadata_flags.cache import (
    DEFAULT_FILENAME,
    FlagCache,
    digests_of,
    hex_of,
)
from prism_pipeline.removal.footprint import compact_sqlite
from prism_pipeline.removal.scan import scan_paths


def h(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


A, B, C = h("alpha"), h("beta"), h("gamma")
ZERO_TAIL = "ab" * 30 + "0000"  # numpy drops trailing zero bytes of S32 items read one by one
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


# ---------------------------------------------------------------------------------------
# Snapshots
# ---------------------------------------------------------------------------------------
def snapshot_files(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".snap-" in p.name)


def save_all(cache, detector_id, version, rows: dict[str, str]) -> None:
    """Snapshot of these rows (hash -> stored JSON), saved."""
    snap = cache.snapshot(detector_id, version).merged(digests_of(rows), list(rows.values()))
    assert cache.save_snapshot(snap) is True


def test_snapshot_round_trip_and_lookup(cache):
    assert len(cache.snapshot("d", "v")) == 0
    assert hex_of(digests_of([ZERO_TAIL, A])) == [ZERO_TAIL, A]
    snap = cache.snapshot("d", "v").merged(digests_of([A, B, ZERO_TAIL, A]), ['{"x":1}', '{"x":2}', '{"x":1}', "x"])
    assert snap.results == ('{"x":1}', '{"x":2}', "x")  # a repeated digest keeps its first result
    assert cache.save_snapshot(snap) is True
    assert len(snapshot_files(cache.path.parent)) == 1
    with FlagCache(cache.path) as other:
        loaded = other.snapshot("d", "v")
    assert hex_of(loaded.digests) == sorted([A, B, ZERO_TAIL])
    pos = loaded.find(digests_of([B, C, ZERO_TAIL, A, "ab" * 30 + "0001"]))
    assert (pos >= 0).tolist() == [True, False, True, True, False]
    assert [loaded.results[loaded.codes[p]] for p in pos[pos >= 0]] == ['{"x":2}', '{"x":1}', '{"x":1}']
    grown = loaded.merged(digests_of([C, A]), ['{"x":3}', '{"x":7}'])  # A is kept as it was
    assert hex_of(grown.digests) == sorted([A, B, C, ZERO_TAIL])
    assert [grown.results[c] for c in grown.codes[grown.find(digests_of([A, C]))]] == ['{"x":1}', '{"x":3}']
    assert len(cache.snapshot("d", "v2")) == 0 and len(cache.snapshot("e", "v")) == 0  # per detector version


def test_snapshot_ignored_once_a_row_changes_or_goes(cache):
    cache.put_many("d", "v", {A: {"x": 1}, B: {"x": 2}})
    save_all(cache, "d", "v", {A: '{"x":1}', B: '{"x":2}'})
    token = cache.token()
    cache.put_many("d", "v", {A: {"x": 1}, C: {"x": 3}})  # the same result again, and a new row
    assert cache.token() == token and len(cache.snapshot("d", "v")) == 2
    cache.put_many("d", "v", {A: {"x": 9}})  # a changed result
    assert cache.token() != token and len(cache.snapshot("d", "v")) == 0
    save_all(cache, "d", "v", {A: '{"x":9}'})
    assert len(cache.snapshot("d", "v")) == 1
    conn = sqlite3.connect(cache.path)  # a deletion by hand is noticed too (a trigger)
    conn.execute("DELETE FROM flag_entry WHERE text_sha256 = ?", (bytes.fromhex(C),))
    conn.commit()
    conn.close()
    assert len(cache.snapshot("d", "v")) == 0


def test_snapshot_of_an_emptied_database_is_ignored(tmp_path):
    with FlagCache(tmp_path) as cache:
        save_all(cache, "d", "v", {A: '{"x":1}'})
    for p in tmp_path.iterdir():
        if ".snap-" not in p.name:
            p.unlink()
    with FlagCache(tmp_path) as cache:
        assert len(cache.snapshot("d", "v")) == 0


def test_save_refused_after_a_deletion_since_the_read(cache):
    cache.put_many("d", "v", {A: {"x": 1}, B: {"x": 2}})
    read_before = cache.snapshot("d", "v").merged(digests_of([A, B]), ['{"x":1}', '{"x":2}'])
    with FlagCache(cache.path) as other:
        assert other.delete_hashes([A]) == 1
    assert cache.save_snapshot(read_before) is False  # would put A back
    assert snapshot_files(cache.path.parent) == []


@pytest.mark.parametrize("damage", ["truncated", "byte flipped", "not a snapshot"])
def test_unreadable_snapshot_is_ignored(cache, damage):
    save_all(cache, "d", "v", {A: '{"x":1}', B: '{"x":2}'})
    (path,) = [p for p in cache.path.parent.iterdir() if ".snap-" in p.name]
    data = bytearray(path.read_bytes())
    if damage == "truncated":
        data = data[:-5]
    elif damage == "byte flipped":
        data[-40] ^= 1
    else:
        data = bytearray(b"PRISMSNQ") + data[8:]
    path.write_bytes(bytes(data))
    assert len(cache.snapshot("d", "v")) == 0


def test_delete_hashes_leaves_no_byte_of_them_beside_the_database(tmp_path):
    state = tmp_path / "state"
    with FlagCache(state) as cache:
        cache.put_many("langid", "v1", {A: {"language_flag": "xx"}, B: {"language_flag": "en"},
                                        C: {"language_flag": "en"}})
        cache.put_many("scrubadub", "v1", {A: {"pii_flag": False}, B: {"pii_flag": True}})
        save_all(cache, "langid", "v1", {B: '{"language_flag":"en"}', C: '{"language_flag":"en"}'})
        assert cache.extend_snapshot(cache.snapshot("langid", "v1"), digests_of([A]), ['{"language_flag":"xx"}'])
        save_all(cache, "scrubadub", "v1", {A: '{"pii_flag":false}', B: '{"pii_flag":true}'})
        kept = [name for name in snapshot_files(state) if not name.endswith(".delta")]  # langid's delta had only A
        assert len(kept) == 2 and len(snapshot_files(state)) == 3
        # a crashed writer's temp file, and a snapshot nobody can read
        (state / f"{DEFAULT_FILENAME}.snap-0123456789abcdef.tmp-999").write_bytes(digests_of([A]).tobytes())
        (state / f"{DEFAULT_FILENAME}.snap-fedcba9876543210").write_bytes(b"PRISMSNP" + digests_of([A]).tobytes())
        assert scan_paths([state], [], {A}) != {}  # the check below can fail

        assert cache.delete_hashes([A]) == 2
        assert snapshot_files(state) == kept
        langid, scrub = cache.snapshot("langid", "v1"), cache.snapshot("scrubadub", "v1")  # still valid
        assert hex_of(langid.digests) == sorted([B, C]) and langid.results == ('{"language_flag":"en"}',)
        assert hex_of(scrub.digests) == [B] and scrub.results == ('{"pii_flag":true}',)
    compact_sqlite(state / DEFAULT_FILENAME)  # what the erasure asset does next (freed pages)
    assert scan_paths([state], [], {A}) == {}
    assert scan_paths([state], [], {B}) != {}


def test_prune_versions_drops_their_snapshots_and_keeps_the_rest(cache):
    for version in ("v1", "v2"):
        cache.put_many("langid", version, {A: {"language_flag": version}})
        save_all(cache, "langid", version, {A: f'{{"language_flag":"{version}"}}'})
    cache.put_many("scrubadub", "v1", {A: {"pii_flag": False}})
    save_all(cache, "scrubadub", "v1", {A: '{"pii_flag":false}'})
    assert len(snapshot_files(cache.path.parent)) == 3
    assert cache.prune_versions("langid", keep_version="v2") == 1
    assert len(snapshot_files(cache.path.parent)) == 2
    assert len(cache.snapshot("langid", "v1")) == 0
    assert cache.snapshot("langid", "v2").results == ('{"language_flag":"v2"}',)
    assert len(cache.snapshot("scrubadub", "v1")) == 1


def test_save_removes_a_crashed_writers_temp_file(cache):
    save_all(cache, "d", "v", {A: '{"x":1}'})
    (path,) = [p for p in cache.path.parent.iterdir() if ".snap-" in p.name]
    left = path.with_name(path.name + ".tmp-4242")
    left.write_bytes(b"half a file")
    assert cache.snapshot("d", "v").results == ('{"x":1}',)  # the temp file is not read
    save_all(cache, "d", "v", {B: '{"x":2}'})
    assert not left.exists()
    assert hex_of(cache.snapshot("d", "v").digests) == sorted([A, B])


def test_small_additions_go_to_the_delta_file(cache):
    rows = {h(str(i)): f'{{"i":{i % 3}}}' for i in range(40_000)}
    save_all(cache, "d", "v", rows)
    (base,) = [p for p in cache.path.parent.iterdir() if ".snap-" in p.name]
    before = base.read_bytes()
    assert cache.extend_snapshot(cache.snapshot("d", "v"), digests_of([A, B]), ['{"i":7}', '{"i":0}']) is True
    assert base.read_bytes() == before  # the big file is not rewritten
    assert snapshot_files(cache.path.parent) == [base.name, base.name + ".delta"]
    snap = cache.snapshot("d", "v")
    assert len(snap) == 40_002
    assert [snap.results[c] for c in snap.codes[snap.find(digests_of([A, B, h("7")]))]] == [
        '{"i":7}', '{"i":0}', '{"i":1}']
    # past max(4,096 rows, 1/8 of the snapshot), everything is one file again
    more = [h(f"more {i}") for i in range(5_000)]
    assert cache.extend_snapshot(snap, digests_of(more), ['{"i":1}'] * 5_000) is True
    assert snapshot_files(cache.path.parent) == [base.name]
    snap = cache.snapshot("d", "v")
    assert len(snap) == 45_002 and (snap.find(digests_of([A, more[-1]])) >= 0).all()
    with FlagCache(cache.path) as other:
        other.put_many("d", "v", {A: {"i": 7}})
        other.put_many("d", "v", {A: {"i": 8}})  # a changed result: no extension on the old token
    assert cache.extend_snapshot(snap, digests_of([C]), ['{"i":2}']) is False
    assert snapshot_files(cache.path.parent) == [base.name]


def test_digests_sharing_their_first_8_bytes(cache):
    x1, x2, x3 = "11" * 8 + "aa" * 24, "11" * 8 + "bb" * 24, "22" * 32
    snap = cache.snapshot("d", "v").merged(digests_of([x1, x2, x3]), ["1", "2", "3"])
    # binary search finds the first of the two; the second looks absent (the runner then reads
    # it from SQLite) and adding it again does not duplicate it
    assert snap.find(digests_of([x1, x2, x3, "11" * 8 + "cc" * 24])).tolist() == [0, -1, 2, -1]
    assert len(snap.merged(digests_of([x2]), ["2"])) == 3


def test_purge_flag_cache_leaves_no_byte_of_the_deleted_hashes(tmp_path):
    import hashlib

    from prism_pipeline.removal.footprint import purge_flag_cache

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
# Schema 2: detector versions and results stored once; schema-1 files migrated on open
# ---------------------------------------------------------------------------------------
SCHEMA_1 = """
CREATE TABLE flag_cache (detector_id TEXT NOT NULL, version TEXT NOT NULL, text_sha256 TEXT NOT NULL,
    result TEXT NOT NULL, PRIMARY KEY (detector_id, version, text_sha256)) WITHOUT ROWID;
CREATE TABLE flag_cache_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TRIGGER flag_cache_row_deleted AFTER DELETE ON flag_cache BEGIN
    UPDATE flag_cache_meta SET value = lower(hex(randomblob(16))) WHERE name = 'token';
END;
INSERT INTO flag_cache_meta VALUES ('token', 'abc123');
"""


def test_a_schema_1_cache_is_migrated_on_open_and_keeps_its_entries_and_token(tmp_path):
    path = tmp_path / DEFAULT_FILENAME
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA_1)
    conn.executemany("INSERT INTO flag_cache VALUES (?, ?, ?, ?)", [
        ("langid", "v1", A, '{"language_flag":"en"}'), ("langid", "v1", B, '{"language_flag":"en"}'),
        ("scrubadub", "v1", A, '{"pii_flag":false}'), ("langid", "v0", C, '{"language_flag":"de"}')])
    conn.commit()
    conn.close()
    with FlagCache(path) as cache:
        assert cache.token() == "abc123"  # snapshots written under schema 1 stay valid
        assert cache.get_many("langid", "v1", [A, B, C]) == {A: {"language_flag": "en"}, B: {"language_flag": "en"}}
        assert cache.stats()["entries"] == {("langid", "v0"): 1, ("langid", "v1"): 2, ("scrubadub", "v1"): 1}
        assert cache.delete_hashes([A]) == 2 and cache.token() != "abc123"  # the new triggers fire
        tables = {r[0] for r in cache._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert tables == {"flag_detector", "flag_result", "flag_entry", "flag_cache_meta"}
        # the schema-1 view of the same entries, for inspection
        assert cache._conn.execute("SELECT * FROM flag_cache ORDER BY 1, 2, 3").fetchall() == [
            ("langid", "v0", C, '{"language_flag":"de"}'), ("langid", "v1", B, '{"language_flag":"en"}')]
    data = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert A.encode() not in data and B.encode() not in data  # the rebuilt file has no hex copy left
    with FlagCache(path) as cache:  # opening again: nothing to migrate
        assert cache.stats()["total"] == 2


def test_results_no_entry_uses_any_more_are_deleted_with_the_entries(cache):
    cache.put_many("moderation", "v1", {A: {"score": 0.8731}, B: {"score": 0.1}, C: {"score": 0.1}})
    cache.put_many("langid", "v1", {A: {"language_flag": "en"}, B: {"language_flag": "en"}})
    assert cache.delete_hashes([A]) == 2
    results = [r for (r,) in cache._conn.execute("SELECT result FROM flag_result ORDER BY result")]
    assert results == ['{"language_flag":"en"}', '{"score":0.1}']  # A's own score is gone
    assert cache.prune_versions("moderation", keep_version="v2") == 2
    assert [r for (r,) in cache._conn.execute("SELECT result FROM flag_result")] == ['{"language_flag":"en"}']
    assert list(cache.stats()["entries"]) == [("langid", "v1")]


def test_a_schema_1_cache_with_a_key_that_is_not_hex_is_refused_by_name_and_left_as_it_was(tmp_path):
    path = tmp_path / DEFAULT_FILENAME
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA_1)
    conn.executemany("INSERT INTO flag_cache VALUES (?, ?, ?, ?)", [
        ("langid", "v1", A, '{"language_flag":"en"}'), ("langid", "v1", "z" * 64, '{"language_flag":"en"}')])
    conn.commit()
    conn.close()
    for _ in range(2):  # every open says so, until the row or the file is deleted
        with pytest.raises(ValueError, match=r"flag_cache\.sqlite: 1 rows of the schema-1 table flag_cache_v1 "
                                             r"have a text_sha256 that is not 64 hex characters"):
            FlagCache(path)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT COUNT(*) FROM flag_cache_v1").fetchone()[0] == 2
    conn.execute("DELETE FROM flag_cache_v1 WHERE text_sha256 = ?", ("z" * 64,))
    conn.commit()
    conn.close()
    with FlagCache(path) as cache:
        assert cache.get_many("langid", "v1", [A]) == {A: {"language_flag": "en"}}


def test_keys_must_be_hex(cache):
    with pytest.raises(ValueError, match=r"^1 keys are not 64-character sha256 hex digests \(first: 'zzzz"):
        cache.put_many("d", "v", {"z" * 64: {"x": 1}})
