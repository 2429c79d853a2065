"""Leak scanner over real files (SPEC §7.7): exact counts, id boundaries, hashes in hex and raw."""

from __future__ import annotations

import hashlib
import json
import pickle
import platform
import sqlite3

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prism_pipeline.core.removal import scan
from prism_pipeline.core.removal.scan import ScanInputError, count_in_bytes, scan_paths


@pytest.fixture(autouse=True, params=scan.ENGINES)
def engine(request, monkeypatch):
    """Every test runs with both engines of the file scan (they must agree to the match)."""
    if request.param == "hyperscan" and scan.hyperscan is None:
        assert platform.machine() != "x86_64", "hyperscan is a dependency on x86-64 (pyproject.toml)"
        pytest.skip("no hyperscan wheel for this platform")
    monkeypatch.setattr(scan, "DEFAULT_ENGINE", request.param)
    return request.param


TEXT = "My neighbour's dog ate the sofa."
HEX = hashlib.sha256(TEXT.encode()).hexdigest()
RAW = bytes.fromhex(HEX)
OTHER_HEX = hashlib.sha256(b"someone else").hexdigest()
IDS = ["user3", "c12", "ut40", "int7"]


@pytest.mark.parametrize("data, expected", [
    (b"c12", 1),
    (b'"c12"', 1),
    (b"\x04c12\x94", 1),
    (b"9c12", 0),  # hex strings are full of c + digits: a digit is not a boundary
    (b"c12a", 0),
    (b"_c12-", 1),
    (b",c12\n", 1),
    (b"c120", 0),
    (b"abc12", 0),
    (b"topic12", 0),
    (b"Xc12", 0),
    (b"c012", 0),
    (b"c1", 0),
    (b"C12", 0),
    (b"user3 user30 xuser3 user3", 2),
    (b"ut40 ut4 ut400 int7 int70 nint7 i:int7", 3),
    (b"cut40", 0),  # "ut40" preceded by a letter
    (b"int7c12user3ut40", 0),  # each touches a letter or a digit
    (b"int7 c12|user3\x00ut40", 4),
    (b"c12c12", 0),
    (b"3c12f0a9", 0),
])
def test_id_boundaries(data, expected):
    assert count_in_bytes(data, IDS, []) == expected


def test_hashes_hex_and_raw_only_lowercase():
    data = (HEX.encode() + b"|" + RAW + b"|" + HEX.upper().encode() + b"|" + HEX[:-1].encode() + b"|"
            + OTHER_HEX.encode())
    assert count_in_bytes(data, [], [HEX]) == 2
    assert count_in_bytes(data, [], [OTHER_HEX]) == 1
    assert count_in_bytes(data, ["c12"], [HEX, OTHER_HEX]) == 3


def test_real_files_exact_counts(tmp_path):
    # JSONL: the id as a JSON string value, plus near misses.
    rows = [{"conversation_id": "c12", "user_id": "user3", "note": "see c120, topic12 and abc12"},
            {"conversation_id": "c120", "user_id": "user30", "utterance_id": "ut40"}]
    (tmp_path / "utterances.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    # A pickled pandas frame with the id in a str column (pandas 3, no pyarrow: Python objects).
    frame = pd.DataFrame({"conversation_id": pd.Series(["c7", "c12", "c120"], dtype="str"), "turn": [0, 1, 2]})
    frame.to_pickle(tmp_path / "frame.pkl")
    assert b"c12\x94" in (tmp_path / "frame.pkl").read_bytes()
    # SQLite: the text hash as TEXT.
    conn = sqlite3.connect(tmp_path / "cache.sqlite")
    conn.execute("CREATE TABLE t (text_sha256 TEXT, result TEXT)")
    conn.executemany("INSERT INTO t VALUES (?, ?)", [(HEX, "{}"), (OTHER_HEX, "{}")])
    conn.commit()
    conn.close()
    # The raw digest inside binary data.
    (tmp_path / "digests.bin").write_bytes(b"\x00\x01" + RAW + b"\xff" * 10 + hashlib.sha256(b"x").digest())
    # Only near misses.
    (tmp_path / "near.csv").write_text("id,x\nc120,abc12\ntopic12,c1\nuser31,ut400\nint70,C12\n" + HEX[:63] + "\n")

    found = scan_paths([tmp_path], IDS, [HEX], root=tmp_path)
    assert found == {"utterances.jsonl": 3, "frame.pkl": 1, "cache.sqlite": 1, "digests.bin": 1}


def test_sqlite_wal_file(tmp_path):
    conn = sqlite3.connect(tmp_path / "db.sqlite")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute("CREATE TABLE t (conversation_id TEXT)")
    conn.commit()
    conn.execute("INSERT INTO t VALUES ('c12')")
    conn.commit()
    try:  # connection still open: the row is only in the -wal file
        assert scan_paths([tmp_path], ["c12"], [], root=tmp_path) == {"db.sqlite-wal": 1}
    finally:
        conn.close()


def test_png_and_pickled_dict(tmp_path):
    # A PNG text chunk is raw bytes; pickles of plain objects too.
    png = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x0ftEXtComment\x00ut40" + b"\x00" * 16
    (tmp_path / "plot.png").write_bytes(png)
    (tmp_path / "obj.pkl").write_bytes(pickle.dumps({"ids": ["int7", "int70"], "h": RAW}))
    assert scan_paths([tmp_path / "plot.png", tmp_path / "obj.pkl"], IDS, [HEX], root=tmp_path) == {
        "plot.png": 1, "obj.pkl": 2}


@pytest.mark.parametrize("window", [1, 2, 3, 5, 8, 13, 64, 1 << 22])
def test_window_boundaries_count_each_match_once(tmp_path, window):
    pieces, expected = [], 0
    for k in range(40):
        filler = b"|" + b"- ."[: k % 3] + b"=" * (k % 7)  # varying length, non-alphanumeric
        pieces += [filler, b"c12", b" x ", b"user3" if k % 2 else b"c120", b"|", RAW if k % 3 else HEX.encode(),
                   b"|ut40"]
        expected += 1 + (k % 2) + 1 + 1
    path = tmp_path / "big.bin"
    path.write_bytes(b"".join(pieces))
    assert count_in_bytes(path.read_bytes(), IDS, [HEX]) == expected
    assert scan_paths([path], IDS, [HEX], root=tmp_path, window_bytes=window) == {"big.bin": expected}


def test_matches_at_file_start_and_end(tmp_path):
    (tmp_path / "a").write_bytes(b"c12")
    (tmp_path / "b").write_bytes(RAW)
    (tmp_path / "c").write_bytes(b"")
    (tmp_path / "d").write_bytes(HEX.encode()[:-1])
    assert scan_paths([tmp_path], ["c12"], [HEX], root=tmp_path, window_bytes=2) == {"a": 1, "b": 1}


def test_keys_directories_and_duplicates(tmp_path):
    (tmp_path / "out" / "sub").mkdir(parents=True)
    (tmp_path / "out" / "sub" / "x.jsonl").write_text('"c12"')
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "y.csv").write_text("c12,c12\n")
    paths = [tmp_path / "out", tmp_path / "state", tmp_path / "state" / "y.csv"]
    assert scan_paths(paths, ["c12"], [], root=tmp_path) == {"out/sub/x.jsonl": 1, "state/y.csv": 2}
    outside = scan_paths([tmp_path / "state"], ["c12"], [], root=tmp_path / "out")
    assert outside == {str(tmp_path / "state" / "y.csv"): 2}
    assert scan_paths([tmp_path / "missing.txt"], ["c12"], []) == {}
    assert scan_paths([tmp_path], [], []) == {}


def test_bad_identifiers_are_not_echoed():
    with pytest.raises(ScanInputError, match=r"^ids item 1: not an id \(ASCII letters, digits and underscores, "
                                             r"starting with a letter and holding a digit\)$"):
        count_in_bytes(b"", ["c12", "Alice Smith"], [])
    with pytest.raises(ScanInputError, match=r"^ids item 0: not an id"):
        count_in_bytes(b"", ["alice"], [])


def test_ids_with_underscores_and_the_ids_inside_them():
    """ThoughtTrace's conversation ids hold the user id: a removed user is found in them too."""
    data = b'{"id": "user12_task1_conversation2", "user_id": "user12"}\n{"id": "user120_task1_conversation1"}\n'
    assert count_in_bytes(data, ["user12"], []) == 2
    assert count_in_bytes(data, ["user12_task1_conversation2"], []) == 1
    assert count_in_bytes(data, ["user1"], []) == 0
    assert count_in_bytes(data, ["user12_task1_conversation1"], []) == 0
    with pytest.raises(ScanInputError, match=r"^text_hashes item 0: not 64 lowercase hex characters$"):
        count_in_bytes(b"", [], [HEX.upper()])


TOKENS = [b"c12", b"c120", b"user3", b"ut40", b"int7", b"a", b"Z", b"9", b"0", b" ", b"\x94", b"\x00", HEX.encode(),
          RAW, HEX.encode()[:40], RAW[:20]]


def _reference_count(data: bytes) -> int:
    import re

    ids = re.compile(rb"(?<![A-Za-z0-9])(?:user3|c12|ut40|int7)(?![A-Za-z0-9])")
    return len(ids.findall(data)) + data.count(HEX.encode()) + data.count(RAW)


@given(parts=st.lists(st.sampled_from(TOKENS), max_size=60), window=st.integers(1, 70))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_agrees_with_a_regex_reference(tmp_path, parts, window):
    data = b"".join(parts)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    expected = _reference_count(data)
    assert count_in_bytes(data, IDS, [HEX]) == expected
    assert scan_paths([path], IDS, [HEX], window_bytes=window) == ({str(path): expected} if expected else {})


def _tree(tmp_path):
    """Files of varied sizes and counts in nested directories, plus empty and match-free files."""
    expected = {}
    for d in range(3):
        sub = tmp_path / f"d{d}" / "inner"
        sub.mkdir(parents=True)
        for k in range(5):
            n = d * 5 + k
            body = (b"|c12|" * n + b"x" * (37 * n) + RAW * (n % 3) + b",user3\n" * (k % 2) + b"c120 abc12 ")
            (sub / f"f{k}.bin").write_bytes(body)
            count = n + n % 3 + k % 2
            if count:
                expected[f"d{d}/inner/f{k}.bin"] = count
    (tmp_path / "empty").write_bytes(b"")
    (tmp_path / "none.txt").write_text("nothing here: c120 topic12 " + HEX[:63])
    return expected


@pytest.mark.parametrize("window", [3, 64, 1 << 22])
def test_workers_do_not_change_the_result(tmp_path, window):
    expected = _tree(tmp_path)
    one = scan_paths([tmp_path], IDS, [HEX], root=tmp_path, window_bytes=window, workers=1)
    assert one == expected
    for workers in (2, 3, 16):
        many = scan_paths([tmp_path], IDS, [HEX], root=tmp_path, window_bytes=window, workers=workers)
        assert many == one
        assert list(many) == list(one) == sorted(one)  # sorted file order, whatever the thread timing


def test_workers_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="workers"):
        scan_paths([tmp_path], IDS, [], workers=0)


@pytest.mark.parametrize("window", [1, 2, 3, 4, 5, 7, 16, 31, 33])
@pytest.mark.parametrize("hashes", [[HEX], []])  # without hashes the longest pattern is an id
def test_match_straddling_a_window_boundary_counts_once(tmp_path, window, hashes):
    path = tmp_path / "f"
    for needle in (b"c12", b"user3", RAW, HEX.encode()):
        found = {str(path): 1} if hashes or needle in (b"c12", b"user3") else {}
        for shift in range(window + 1):  # the needle starts at every offset around the first boundaries
            path.write_bytes(b"|" * shift + needle + b"|")
            assert scan_paths([path], IDS, hashes, window_bytes=window) == found, (needle, shift)
            # The boundary byte that rejects an id lies in the neighbouring window.
            path.write_bytes(b"|" * shift + b"a" + needle + b"|")
            rejected = scan_paths([path], IDS, hashes, window_bytes=window)
            assert rejected == ({} if needle in (b"c12", b"user3") else found), (needle, shift)
            path.write_bytes(b"|" * shift + needle + b"7")
            rejected = scan_paths([path], IDS, hashes, window_bytes=window)
            assert rejected == ({} if needle in (b"c12", b"user3") else found), (needle, shift)


@pytest.mark.parametrize("window", [1, 2, 3, 4, 6, 1 << 22])
@pytest.mark.parametrize("data, expected", [
    (b"c12", 1), (b"|c12", 1), (b"c12|", 1), (b"c12\x00", 1), (b"\xffc12", 1),
    (b"ac12", 0), (b"9c12", 0), (b"c12a", 0), (b"c120", 0),
    (b"user3|c12", 2), (b"user3c12", 0), (b"ut40", 1), (b"xut40", 0), (b"ut40Z", 0),
    (RAW, 1), (b"a" + RAW + b"7", 1), (HEX.encode(), 1), (b"f" + HEX.encode() + b"0", 1),
])
def test_boundaries_at_file_start_and_end(tmp_path, window, data, expected):
    path = tmp_path / "f"
    path.write_bytes(data)
    assert count_in_bytes(data, IDS, [HEX]) == expected
    assert scan_paths([path], IDS, [HEX], window_bytes=window) == ({str(path): expected} if expected else {})


def test_symlinked_directories_not_followed_and_dangling_links_skipped(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "a.txt").write_bytes(b"c12")
    (tmp_path / "scan").mkdir()
    (tmp_path / "scan" / "link").symlink_to(tmp_path / "real", target_is_directory=True)
    (tmp_path / "scan" / "gone").symlink_to(tmp_path / "missing.txt")  # like a file deleted mid-scan
    (tmp_path / "scan" / "b.txt").write_bytes(b"c12 c12")
    for workers in (1, 2):
        assert scan_paths([tmp_path / "scan"], IDS, [], root=tmp_path, workers=workers) == {"scan/b.txt": 2}


def test_many_patterns_and_large_byte_strings(tmp_path):
    # Past the DFA size limit the automaton is built differently: same answers.
    many = IDS + [f"c{i}" for i in range(1000, 2200)]
    hashes = [HEX] + [hashlib.sha256(str(i).encode()).hexdigest() for i in range(50)]
    data = b"c1000 c1999x c2199|" + RAW + b"|c12|" + hashlib.sha256(b"7").digest() + b"c2200"
    assert count_in_bytes(data, many, hashes) == 5
    (tmp_path / "f").write_bytes(data)
    assert scan_paths([tmp_path], many, hashes, root=tmp_path, window_bytes=5) == {"f": 5}
    # A large byte string (past the DFA threshold of count_in_bytes).
    big = b"c12|" + b"\x00" * (17 << 20) + b"|" + RAW
    assert count_in_bytes(big, IDS, [HEX]) == 2
