"""Leak scanner over real files (SPEC §7.7): exact counts, id boundaries, hashes in hex and raw."""

from __future__ import annotations

import hashlib
import json
import pickle
import sqlite3

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prism_pipeline.removal.scan import ScanInputError, count_in_bytes, scan_paths

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
    data = HEX.encode() + b"|" + RAW + b"|" + HEX.upper().encode() + b"|" + HEX[:-1].encode() + b"|" + OTHER_HEX.encode()
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
        pieces += [filler, b"c12", b" x ", b"user3" if k % 2 else b"c120", b"|", RAW if k % 3 else HEX.encode(), b"|ut40"]
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
    with pytest.raises(ScanInputError, match=r"^ids item 1: not user, c, ut or int followed by 1-14 digits$"):
        count_in_bytes(b"", ["c12", "Alice Smith"], [])
    with pytest.raises(ScanInputError, match=r"^text_hashes item 0: not 64 lowercase hex characters$"):
        count_in_bytes(b"", [], [HEX.upper()])


TOKENS = [b"c12", b"c120", b"user3", b"ut40", b"int7", b"a", b"Z", b"9", b"0", b" ", b"\x94", b"\x00", HEX.encode(), RAW,
          HEX.encode()[:40], RAW[:20]]


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
