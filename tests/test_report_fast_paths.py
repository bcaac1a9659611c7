"""The report layer's fast paths give what the plain ones gave: orjson's JSON and fingerprints are
json.dumps's bytes, many staged files are flushed with syncfs and committed whole (or discarded), and
an unchanged scorecard is not written again."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from flows import atomic
from flows.project.claims import Project
from flows.reports.model import fingerprint
from flows.reports.render import render_json
from flows.reports.write import write_project_reports
from tests.test_report_fixtures import report_setup  # noqa: F401

Setup = tuple[Project, Path, Path]
AWKWARD = {
    "z": [1, {"b": None, "a": True}, [], {}],
    "é": 'ü\u2028\x01\x1f"\\\n\t/<&>',
    "emoji": "\U0001f600",
    "n": -(2**40),
}


def test_json_and_fingerprint_match_json_dumps(report_setup: Setup) -> None:  # noqa: F811
    project, db, out = report_setup
    write_project_reports(project, db, out)
    for data in [AWKWARD, *(json.loads(p.read_text(encoding="utf-8")) for p in sorted(out.glob("*.json")))]:
        assert render_json(data) == json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
        compact = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        assert fingerprint(data) == hashlib.sha256(compact.encode("utf-8")).hexdigest()
    for refused in ({"n": 2**80}, {"m": {2: "b", 1: "a"}}):  # orjson refuses these: json.dumps writes them
        assert (
            render_json(refused) == json.dumps(refused, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
        )


def test_many_staged_files_are_committed_whole(tmp_path: Path) -> None:
    files = {tmp_path / f"f{i}.txt": f"text {i}\n" for i in range(atomic.SYNCFS_MIN_FILES + 6)}
    staged = atomic.stage_files(files)
    assert not any(path.exists() for path in files)  # staged, nothing replaced yet
    atomic.commit_staged(staged)
    assert {p: p.read_text(encoding="utf-8") for p in files} == files
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in files)  # no temp files


def test_a_failed_staging_leaves_no_temp_files(tmp_path: Path) -> None:
    files: dict[Path, str] = {tmp_path / f"f{i}.txt": "x" for i in range(atomic.SYNCFS_MIN_FILES)}
    files[tmp_path / "bad.txt"] = "\ud800"  # a lone surrogate cannot be written as UTF-8
    with pytest.raises(UnicodeEncodeError):
        atomic.stage_files(files)
    assert list(tmp_path.iterdir()) == []


def test_an_unchanged_scorecard_is_not_written_again(report_setup: Setup) -> None:  # noqa: F811
    project, db, out = report_setup
    write_project_reports(project, db, out)
    before = {p.name: p.stat().st_ino for p in out.glob("index.*")}
    again = write_project_reports(project, db, out)
    assert not [p for p in again.files if p.name.startswith("index.")]
    assert {p.name: p.stat().st_ino for p in out.glob("index.*")} == before
    (out / "index.md").unlink()  # a missing one: all three rendered again
    third = write_project_reports(project, db, out)
    assert sorted(p.name for p in third.files if p.name.startswith("index.")) == [
        "index.html",
        "index.json",
        "index.md",
    ]
