"""Retraction Watch as a second retraction source: the CSV as Crossref publishes it, ingested into a real
DuckDB store, and the living run's re-check (a real Prefect flow against the E-utilities stand-in)
flagging graded studies matched by DOI only and by PMID only, each flag naming its source."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from flows.evidence.retraction_watch import parse_csv, read_csv
from tests.cli_helpers import run_cli
from tests.db_helpers import rows
from tests.living_fixtures import living_env, standin
from tests.standin import StandIn

__all__ = ["standin"]
SAMPLE = Path(__file__).resolve().parent / "data" / "retraction_watch_sample.csv"
BY_DOI = "34337106"  # 10.1353/bsr.2020.0005 in PubMed; the CSV row has no PMID and the DOI in capitals
BY_PMID = "33856845"  # the CSV row has no DOI


def test_the_sample_parses_as_crossref_publishes_it() -> None:
    notices = read_csv(SAMPLE)
    assert [(n.record_id, n.nature, n.original_pmid, n.original_doi, n.notice_date) for n in notices] == [
        ("900001", "retraction", None, "10.1353/bsr.2020.0005", "2026-03-09"),
        ("900002", "expression_of_concern", "33856845", None, "2026-11-02"),
        ("900003", "correction", "23456789", "10.9999/unrelated.1", "2024-01-15"),
    ]
    assert notices[0].title == "A trial, matched by its DOI only"
    assert notices[0].reason == "Falsification/Fabrication of Data; Investigation by Journal/Publisher"


def test_ingest_twice_changes_nothing(tmp_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = run_cli(capsys, "retractions", "ingest", str(SAMPLE))
    assert first.code == 0, first.err
    assert "3 new, 0 changed, 0 unchanged; 3 in the store" in first.out
    before = rows(tmp_db, "SELECT * FROM retraction_notices ORDER BY record_id")
    again = run_cli(capsys, "retractions", "ingest", str(SAMPLE))
    assert again.code == 0, again.err
    assert "0 new, 0 changed, 3 unchanged; 3 in the store" in again.out
    assert rows(tmp_db, "SELECT * FROM retraction_notices ORDER BY record_id") == before


@pytest.mark.parametrize(
    ("line", "column"),
    [
        ("900009,T,,,,,,,,,31/31/2020 0:00,,0,,10.1000/x,0,Retraction,,No,,", "RetractionDate"),
        ("900009,T,,,,,,,,,1/2/2020 0:00,,0,,10.1000/x,12ab,Retraction,,No,,", "OriginalPaperPubMedID"),
        ("900009,T,,,,,,,,,1/2/2020 0:00,,0,,10.1000/x,0,Withdrawn,,No,,", "RetractionNature"),
        ("x1,T,,,,,,,,,1/2/2020 0:00,,0,,10.1000/x,0,Retraction,,No,,", "Record ID"),
        ("900009,T,,,,,,,,,1/2/2020 0:00,,0,,not-a-doi,0,Retraction,,No,,", "OriginalPaperDOI"),
    ],
)
def test_a_malformed_row_is_refused_with_file_and_line_and_nothing_is_stored(
    tmp_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, column: str
) -> None:
    bad = tmp_path / "rw.csv"
    bad.write_text(SAMPLE.read_text(encoding="utf-8") + line + "\n", encoding="utf-8")
    result = run_cli(capsys, "retractions", "ingest", str(bad))
    assert result.code == 2
    assert result.err.startswith(f"litgrade: {bad}:5: column '{column}'"), result.err
    assert "Traceback" not in result.err
    assert not tmp_db.exists() or rows(tmp_db, "SELECT count(*) FROM retraction_notices") == [(0,)]


def test_a_short_row_and_a_repeated_record_are_refused() -> None:
    text = SAMPLE.read_text(encoding="utf-8")
    with pytest.raises(Exception, match=r"rw\.csv:5: 3 column\(s\) where the header has 20"):
        parse_csv(text + "1,2,3\n", "rw.csv")
    repeat = text.splitlines()[1]
    with pytest.raises(Exception, match=r"rw\.csv:5: Record ID 900001 appears twice \(first on line 2\)"):
        parse_csv(text + repeat + "\n", "rw.csv")
    with pytest.raises(
        Exception, match=r"rw\.csv:1: not a Retraction Watch CSV: missing column\(s\) Record ID"
    ):
        parse_csv("Title,Reason\nx,y\n", "rw.csv")


@pytest.mark.slow
def test_living_run_flags_by_doi_only_and_by_pmid_only_naming_retraction_watch(
    tmp_path: Path,
    standin: StandIn,
    prefect_harness: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from flows.pipeline.living import living_refresh

    env = living_env(tmp_path, standin, None, graded={BY_DOI: "trials", BY_PMID: "reviews"})
    for key in ("LITGRADE_DATA", "LITGRADE_DB", "LITGRADE_EUTILS_URL", "NCBI_EMAIL"):
        monkeypatch.setenv(key, env.env[key])

    def run(when: str) -> str:
        summary = living_refresh(
            project=str(env.project), source="eutils", db_path=env.db,
            run_time=dt.datetime.fromisoformat(when), reports_dir=env.reports,
        )  # fmt: skip
        return summary.digest_path.read_text(encoding="utf-8")

    run("2026-11-24T06:00:00")
    ingested = run_cli(capsys, "retractions", "ingest", str(SAMPLE))
    assert ingested.code == 0, ingested.err
    second = run("2026-12-01T06:00:00").splitlines()
    flagged = [line for line in second if line.startswith("- **") and "Retraction Watch" in line]
    assert flagged == [
        f"- **reviews**: PMID {BY_PMID} {_title(env.db, BY_PMID)} — expression of concern on 2026-11-02 per "
        "Retraction Watch (record 900002): Concerns/Issues About Data — was included: dropped from the "
        "rating until re-reviewed",
        f"- **trials**: PMID {BY_DOI} {_title(env.db, BY_DOI)} — retracted on 2026-03-09 per Retraction "
        "Watch (record 900001): Falsification/Fabrication of Data; Investigation by Journal/Publisher — "
        "was included: dropped from the rating until re-reviewed",
    ]
    assert rows(env.db, "SELECT claim_id, pmid, kinds FROM review_flags ORDER BY claim_id") == [
        ("reviews", BY_PMID, ["expression_of_concern"]),
        ("trials", BY_DOI, ["retracted"]),
    ]
    # the claim reports count a Retraction Watch retraction as PubMed's own: flagged, not counted
    trials = json.loads((env.reports / "trials.json").read_text(encoding="utf-8"))
    assert [(f["pmid"], f["retracted"], f["expression_of_concern"]) for f in trials["flags"]] == [
        (BY_DOI, True, False)
    ]
    assert trials["rating"]["retracted_not_counted"] == [BY_DOI]
    [flag] = trials["flags"]
    assert len(flag["sources"]) == 1 and flag["sources"][0].startswith("Retraction Watch record ")
    assert f"(per {flag['sources'][0]})" in (env.reports / "trials.html").read_text(encoding="utf-8")
    reviews = json.loads((env.reports / "reviews.json").read_text(encoding="utf-8"))
    assert (BY_PMID, False, True) in [
        (f["pmid"], f["retracted"], f["expression_of_concern"]) for f in reviews["flags"]
    ]
    third = run("2026-12-01T18:00:00")
    assert "Nothing new" in third  # a notice is raised once


def _title(db: Path, pmid: str) -> str:
    (title,) = rows(db, f"SELECT title FROM articles WHERE pmid = '{pmid}'")[0]
    return str(title).replace("*", "\\*").replace("_", "\\_").replace("[", "\\[").replace("]", "\\]")


def test_k2_snapshot_takes_retractions_from_publication_types_never_from_prose(tmp_path: Path) -> None:
    from flows.pipeline.k2_snapshot import build_snapshot
    from flows.pubmed.parser import parse_articles

    corpus = tmp_path / "records.jsonl"
    prose = "Small trial. PubMed lists this article as retracted."
    corpus.write_text(
        '{"pmid": "111", "title": "Prose only", "journal": "J", "year": 2001, "publication_types": [],'
        f' "mesh_terms": [], "summary": "{prose}"}}\n'
        '{"pmid": "222", "title": "Typed", "journal": "J", "year": 2002,'
        ' "publication_types": ["Retracted Publication"], "mesh_terms": [], "summary": "A trial."}\n',
        encoding="utf-8",
    )
    out = tmp_path / "snapshot.xml"
    assert build_snapshot(corpus, out) == 2
    assert {a.pmid: a.is_retracted for a in parse_articles(out)} == {"111": False, "222": True}


def test_k2_reports_name_the_source_of_each_retraction() -> None:
    """The demo ingests the Retraction Watch-format file shipped beside the snapshot into its store, as
    `litgrade retractions ingest` would; the committed reports (which `litgrade demo` reproduces, see
    test_demo) name it, and PubMed where PubMed's own publication type says so."""
    reports = Path(__file__).resolve().parent.parent / "reports" / "k2-muscle"
    bone = json.loads((reports / "k2-directs-calcium-into-bone.json").read_text(encoding="utf-8"))
    sources = {f["pmid"]: f["sources"] for f in bone["flags"]}
    # 19499964 carries PubMed's own "Retracted Publication" type: PubMed says so first
    assert sources == {"12110423": ["Retraction Watch record 990001"], "19499964": ["PubMed"]}
    html = (reports / "k2-directs-calcium-into-bone.html").read_text(encoding="utf-8")
    assert "(per Retraction Watch record 990001)" in html
