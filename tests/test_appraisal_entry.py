"""Appraisal fields (issue 14) where grades are written: `grades set` options, the CSV sheet's columns,
and the `grades load` tables (migration 060)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from flows.curation.journal import append_event, read_events
from flows.curation.sheet import GRADE_COLUMNS, SheetItem, read_sheet, sheet_events, write_sheet
from flows.project.claims import load_project
from flows.project.curators import load_curators
from flows.store.db import connect
from flows.store.grades import load_project_grades, read_final_grades
from tests.cli_helpers import run_cli
from tests.grading_fixtures import build_store, ev, k2_articles, write_project

CLAIM = "k2-calcification"
APPRAISAL = {
    "risk_of_bias": "some_concerns",
    "bias_domain": "missing_data",
    "exposure": "MK-7 180 µg/day",
    "indirectness": "indirect",
    "indirect_reason": "K1, not K2",
    "outcome": "main",
    "outcome_kind": "surrogate",
}


def test_grades_set_records_every_appraisal_field(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tmp_db: Path
) -> None:
    folder = write_project(tmp_path)
    article = k2_articles(1)[0]
    pmid = article.pmid
    build_store(tmp_db, folder.name, {CLAIM: [article]})  # grades set checks the PMID is a result
    options = [x for k, v in APPRAISAL.items() for x in (f"--{k.replace('_', '-')}", v)]
    ok = run_cli(
        capsys,
        "grades",
        "set",
        str(folder),
        CLAIM,
        pmid,
        "--curator",
        "alice",
        "--level",
        "rct",
        "--direction",
        "supports",
        "--population",
        "120",
        *options,
    )
    assert ok.code == 0, ok.err
    [event] = read_events(folder)
    assert {k: getattr(event, k) for k in APPRAISAL} == APPRAISAL
    bad = run_cli(
        capsys,
        "grades",
        "set",
        str(folder),
        CLAIM,
        pmid,
        "--curator",
        "bob",
        "--level",
        "rct",
        "--direction",
        "supports",
        "--indirectness",
        "sideways",
    )
    assert bad.code == 2 and "indirectness" in bad.err and "Traceback" not in bad.err
    assert len(read_events(folder)) == 1  # nothing half-written


def test_sheet_has_the_appraisal_columns_and_reads_them(tmp_path: Path) -> None:
    folder = write_project(tmp_path)
    project = load_project(folder)
    article = k2_articles(1)[0]
    text = write_sheet(project.name, [SheetItem(CLAIM, article.pmid, article)])
    header = next(csv.reader(io.StringIO(text)))
    assert [c for c in APPRAISAL if c not in header] == []
    assert header[-len(GRADE_COLUMNS) :] == list(GRADE_COLUMNS)
    rows = list(csv.DictReader(io.StringIO(text)))
    rows[0].update(relevance="include", level="rct", direction="supports", population="42", **APPRAISAL)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    sheet = tmp_path / "sheet.csv"
    sheet.write_text(out.getvalue(), encoding="utf-8")
    [event] = sheet_events(read_sheet(sheet), sheet, project, load_curators(folder), "alice")
    assert {k: getattr(event, k) for k in APPRAISAL} == APPRAISAL and event.population == 42


def test_a_sheet_exported_before_the_appraisal_columns_still_imports(tmp_path: Path) -> None:
    folder = write_project(tmp_path)
    project = load_project(folder)
    pmid = k2_articles(1)[0].pmid
    old = (
        "project,claim,pmid,relevance,exclude_reason,level,direction,population,risk_of_bias,quote,note\n"
        f"{project.name},{CLAIM},{pmid},include,,rct,supports,80,low,,\n"
    )
    sheet = tmp_path / "old.csv"
    sheet.write_text(old, encoding="utf-8")
    [event] = sheet_events(read_sheet(sheet), sheet, project, load_curators(folder), "alice")
    assert (event.population, event.risk_of_bias, event.indirectness, event.outcome) == (
        80,
        "low",
        None,
        None,
    )


def test_grades_load_keeps_the_appraisal_fields(tmp_path: Path) -> None:
    folder = write_project(tmp_path, reviewers=1)
    project = load_project(folder)
    articles = k2_articles(2)
    db = tmp_path / "store.duckdb"
    build_store(db, project.name, {CLAIM: articles})
    append_event(folder, ev("alice", articles[0].pmid, population=120, **APPRAISAL))
    append_event(folder, ev("alice", articles[1].pmid, minute=1))  # an old-style grade: no appraisal
    with connect(db) as con:
        load_project_grades(con, project)
        got = {f.pmid: f for f in read_final_grades(con, project.name)}
        events = con.execute(
            "SELECT pmid, bias_domain, indirect_reason, outcome_kind FROM grade_events ORDER BY seq"
        ).fetchall()
    assert {k: getattr(got[articles[0].pmid], k) for k in APPRAISAL} == APPRAISAL
    assert got[articles[1].pmid].indirectness is None and got[articles[1].pmid].outcome_kind is None
    assert events == [
        (articles[0].pmid, "missing_data", "K1, not K2", "surrogate"),
        (articles[1].pmid, None, None, None),
    ]
