"""The setup mistakes a new user makes give one line naming the file and what to do: before a
run from the CLI (exit 2, no traceback), and as the step's failure inside Dagster."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from prism_pipeline.core.jsonl import check_raw_dir
from prism_pipeline.prism.dataset import DATASET
from prism_pipeline.prism.inputs import parse
from prism_pipeline_tests.pipeline import failure_messages, make_defs, run_job, tiny_raw_dir
from prism_pipeline_tests.records import survey_record

BIN = Path(sys.executable).parent
TRUNCATED = ("the last line is incomplete (the file ends inside a record): the file looks truncated; copy or "
             "download it again")


def _bom(path: Path) -> None:
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())


def _latin1_on_line_3(path: Path) -> None:
    lines = path.read_bytes().split(b"\n")
    lines[2] = lines[2].replace(b"hiking", b"h\xe9king")  # é in Latin-1: not UTF-8
    path.write_bytes(b"\n".join(lines))


# 1-based byte of the é on line 3 (user2's record): just after the "h" of "hiking".
_E_ACUTE_AT = json.dumps(survey_record(2, 4), ensure_ascii=False).encode().index(b"hiking") + 2


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 40])


def _unreadable(path: Path) -> None:
    # Reading /proc/self/mem at offset 0 fails with EIO for every user, root included
    # (a chmod 000 file stays readable by root, as CI runs).
    path.unlink()
    path.symlink_to("/proc/self/mem")


def _folder(path: Path) -> None:
    path.unlink()
    path.mkdir()


# case -> (file, edit, expected message after "<file>")
CASES = {
    "empty": ("survey.jsonl", lambda p: p.write_bytes(b""),
              "survey.jsonl: the file is empty: expected one JSON object per line; export or download it again"),
    "blank_lines_only": ("conversations.jsonl", lambda p: p.write_text("\n \n"),
                         "conversations.jsonl: the file holds only blank lines: expected one JSON object per line"),
    "bom": ("survey.jsonl", _bom,
            "survey.jsonl line 1: the file starts with a UTF-8 byte-order mark (BOM): save it as UTF-8 without a "
            "BOM"),
    "not_utf8": ("survey.jsonl", _latin1_on_line_3,
                 f"survey.jsonl line 3: not valid UTF-8 (byte 0xe9 at byte {_E_ACUTE_AT} of the line): "
                 "the file must be UTF-8; convert it, e.g. with iconv -t UTF-8"),
    "truncated": ("conversations.jsonl", _truncate, f"conversations.jsonl line 17: {TRUNCATED}"),
    "unreadable": ("survey.jsonl", _unreadable,
                   "survey.jsonl: cannot be read (Input/output error): check the file and its disk"),
    "folder": ("conversations.jsonl", _folder,
               "conversations.jsonl: is a folder, not a file: point the raw dir at the folder holding the published "
               "JSONL files"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_check_raw_dir_names_file_and_remedy(tmp_path, case):
    name, edit, expected = CASES[case]
    raw = tiny_raw_dir(tmp_path / "raw")
    edit(raw / name)
    assert check_raw_dir(raw, DATASET) == [expected]


@pytest.mark.slow
@pytest.mark.parametrize("case", ["bom", "not_utf8", "truncated", "empty"])
def test_same_line_when_the_asset_reads_the_file(tmp_path, case):
    name, edit, expected = CASES[case]
    raw = tiny_raw_dir(tmp_path / "raw")
    edit(raw / name)
    result = run_job(make_defs(raw, tmp_path / "release", tmp_path / "state"))
    assert not result.success
    assert failure_messages(result) == [expected]
    assert not (tmp_path / "release").exists()


def test_a_complete_last_line_without_newline_is_fine(tmp_path):
    raw = tiny_raw_dir(tmp_path / "raw")
    path = raw / "survey.jsonl"
    path.write_bytes(path.read_bytes().rstrip(b"\n"))
    assert check_raw_dir(raw, DATASET) == []
    assert len(parse.read_survey(path)) == 6


def test_missing_raw_folder_and_files(tmp_path):
    where = "pass --raw DIR or set PRISM_RAW_DIR to the folder holding the published PRISM files"
    assert check_raw_dir(tmp_path / "nope", DATASET) == [f"the raw folder {tmp_path / 'nope'} does not exist: {where}"]
    assert check_raw_dir(tmp_path, DATASET) == [
        f"the raw folder {tmp_path} has no survey.jsonl and no conversations.jsonl: {where}"]
    (tmp_path / "survey.jsonl").write_text("{}\n")
    assert check_raw_dir(tmp_path, DATASET) == [f"the raw folder {tmp_path} has no conversations.jsonl: {where}"]


def _cli(tmp_path, raw, home: Path):
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    return subprocess.run([str(BIN / "prism-pipeline"), "run", "--raw", str(raw), "--out", str(tmp_path / "out"),
                           "--state", str(tmp_path / "state")], env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_cli_setup_mistake_is_one_line_without_traceback(tmp_path):
    raw = tiny_raw_dir(tmp_path / "raw")
    _bom(raw / "survey.jsonl")
    (raw / "conversations.jsonl").unlink()
    proc = _cli(tmp_path, raw, tmp_path / "home")
    assert proc.returncode == 2
    assert proc.stderr == (f"prism-pipeline: the raw folder {raw} has no conversations.jsonl: pass --raw DIR or set "
                           "PRISM_RAW_DIR to the folder holding the published PRISM files\n")
    tiny_raw_dir(raw)  # both files back; the BOM now is the only mistake
    _bom(raw / "survey.jsonl")
    proc = _cli(tmp_path, raw, tmp_path / "home")
    assert (proc.returncode, proc.stderr) == (2, f"prism-pipeline: {CASES['bom'][2]}\n")
    assert not (tmp_path / "out").exists()


def test_a_missing_dagster_home_is_created(tmp_path, monkeypatch, capsys):
    from prism_pipeline.core.cli import _dagster_home_problem

    home = tmp_path / "not" / "yet" / "home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    assert _dagster_home_problem() is None
    assert capsys.readouterr().out == (f"created the DAGSTER_HOME folder {home} (a new Dagster instance, SQLite "
                                       "storage in that folder)\n")
    assert home.is_dir()
    # Dagster now opens an instance there (SQLite storage in the new folder).
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        assert instance.get_runs() == []
    assert (home / "history" / "runs.db").exists()


@pytest.mark.slow
def test_cli_refuses_a_dagster_home_that_is_a_file(tmp_path):
    raw = tiny_raw_dir(tmp_path / "raw")
    (tmp_path / "file_home").write_text("")
    proc = _cli(tmp_path, raw, tmp_path / "file_home")
    assert (proc.returncode, proc.stderr) == (2, f"prism-pipeline: DAGSTER_HOME={tmp_path / 'file_home'} is not a "
                                                 "folder: set DAGSTER_HOME to a folder (created if missing)\n")
