"""`litgrade export`: RIS, BibTeX and CSV of a real store (real NCBI sample records, a hostile one, a
Retraction Watch notice), read back by the parsers reference managers and spreadsheets stand in for:
rispy, bibtexparser v2 and pandas."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import bibtexparser
import pandas as pd
import pytest
import rispy
from bibtexparser import middlewares

from flows.curation.events import FinalGrade
from flows.curation.journal import append_events
from flows.exports.study import author_name
from flows.pubmed.parser import parse_articles
from flows.pubmed.records import Article, Author, Journal, PubDate
from tests.cli_helpers import run_cli
from tests.grading_fixtures import build_store, ev, write_project

SAMPLES = Path(__file__).resolve().parent.parent.parent / "shared" / "ncbi-samples"
RW_SAMPLE = Path(__file__).resolve().parent / "data" / "retraction_watch_sample.csv"
HOSTILE = "9999001"
HOSTILE_TITLE = '=HYPERLINK("http://evil.example") {unbalanced $5 & 100% Zoë\'s #1 \\relax'
INCLUDED = [HOSTILE, "23657305", "25364329", "33856845", "34337106", "34529508", "34843274"]  # PMID order
EXCLUDED = "35649368"
UNGRADED = "38147649"


def _samples() -> dict[str, Article]:
    return {a.pmid: a for p in sorted(SAMPLES.glob("metapub_efetch_*.xml")) for a in parse_articles(p)}


@pytest.fixture()
def store(
    tmp_path: Path, tmp_db: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[Path, dict[str, Article]]:
    project = write_project(tmp_path / "curated", reviewers=1)
    samples = _samples()
    hostile = Article(
        pmid=HOSTILE,
        title=HOSTILE_TITLE,
        authors=(Author(last_name="O'Brien", fore_name="Zoë"), Author(collective_name="K2 {Study} Group")),
        journal=Journal(title="J {Test}", volume="1", issue="2", pages="5-9"),
        pub_date=PubDate(raw="2020", sort_date="2020-01-01", precision="year"),
        doi="10.1000/x{1}",  # a brace: not a DOI biblatex could read verbatim
    )
    articles = {**{p: samples[p] for p in INCLUDED if p != HOSTILE}, HOSTILE: hostile}
    articles[EXCLUDED], articles[UNGRADED] = samples[EXCLUDED], samples[UNGRADED]
    build_store(
        tmp_db, "k2-demo", {"k2-calcification": list(articles.values()), "k2-bone": [samples["23657305"]]}
    )
    events = [
        ev("alice", p, level="rct", direction="supports", population=40, note="+1 =cmd") for p in INCLUDED
    ]
    events.append(ev("alice", EXCLUDED, "exclude", exclude_reason="wrong_population"))
    events.append(ev("bob", "23657305", level="animal", direction="contradicts", claim="k2-bone"))
    append_events(project, events)
    assert run_cli(capsys, "retractions", "ingest", str(RW_SAMPLE)).code == 0
    return project, articles


def _export(capsys: pytest.CaptureFixture[str], project: Path, *args: str) -> str:
    result = run_cli(capsys, "export", str(project), *args)
    assert result.code == 0, result.err
    return result.out


def test_ris_reads_back_with_the_same_studies_and_fields(
    store: tuple[Path, dict[str, Article]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project, articles = store
    out = tmp_path / "out" / "k2.ris"
    said = _export(capsys, project, "--claim", "k2-calcification", "--format", "ris", "--out", str(out))
    assert said.strip() == f"wrote {len(INCLUDED)} ris record(s) of k2-demo to {out}"
    entries = rispy.loads(out.read_text(encoding="utf-8"))
    assert [e["accession_number"] for e in entries] == INCLUDED
    for entry in entries:
        article = articles[entry["accession_number"]]
        assert entry["type_of_reference"] == "JOUR"
        assert entry["title"] == article.title
        assert entry["authors"] == [author_name(a) for a in article.authors]
        assert entry["secondary_title"] == article.journal.title
        assert entry["year"] == str(article.pub_date.year)
        assert entry.get("volume") == article.journal.volume
        assert entry.get("number") == article.journal.issue
        assert entry.get("doi") == article.doi
        assert entry.get("custom2") == article.pmc
        assert entry["urls"] == [f"https://pubmed.ncbi.nlm.nih.gov/{article.pmid}/"]
        assert "litgrade level: rct" in entry["notes"] and "litgrade:direction=supports" in entry["keywords"]
        assert "litgrade population: 40" in entry["notes"]
    by_pmid = {e["accession_number"]: e for e in entries}
    assert by_pmid["23657305"]["start_page"] == "35" and by_pmid["23657305"]["end_page"] == "41"
    assert by_pmid["34843274"]["authors"] == [author_name(a) for a in articles["34843274"].authors]
    retracted = by_pmid["34337106"]
    assert "litgrade:retracted=yes" in retracted["keywords"]
    assert any(
        "retracted on 2026-03-09 per Retraction Watch (record 900001)" in n for n in retracted["notes"]
    )
    assert "litgrade:retracted=no" in by_pmid["23657305"]["keywords"]


def test_bibtex_reads_back_with_the_same_studies_and_fields(
    store: tuple[Path, dict[str, Article]], capsys: pytest.CaptureFixture[str]
) -> None:
    project, articles = store
    text = _export(capsys, project, "--format", "bibtex")  # every claim, to standard output
    library = bibtexparser.parse_string(text, append_middleware=[middlewares.LatexDecodingMiddleware()])
    assert library.failed_blocks == []
    keys = [e.key for e in library.entries]
    assert keys == [f"pmid{p}-k2-calcification" for p in INCLUDED] + ["pmid23657305-k2-bone"]
    for entry in library.entries:
        fields = {k: f.value for k, f in entry.fields_dict.items()}
        article = articles[fields["pmid"]]
        assert fields["title"] == article.title
        assert fields["author"] == " and ".join(author_name(a) for a in article.authors)
        assert fields["journal"] == article.journal.title
        assert fields["year"] == str(article.pub_date.year)
        assert fields.get("pmcid") == article.pmc
        assert fields["url"] == f"https://pubmed.ncbi.nlm.nih.gov/{article.pmid}/"
        if article.pmid != HOSTILE:
            assert fields["doi"] == article.doi
    hostile = library.entries[keys.index(f"pmid{HOSTILE}-k2-calcification")].fields_dict
    assert hostile["title"].value == HOSTILE_TITLE  # braces, $, &, %, #, backslash survive the trip
    assert "doi" not in hostile  # a DOI with a brace is left out rather than break the file
    bone = library.entries[-1].fields_dict
    assert (
        "litgrade level: animal" in bone["note"].value
        and "litgrade:direction=contradicts" in bone["keywords"].value
    )
    assert (
        "expression of concern on 2026-11-02 per Retraction Watch"
        in library.entries[3].fields_dict["note"].value
    )


def test_csv_opens_in_pandas_with_every_grade_field_and_no_formula(
    store: tuple[Path, dict[str, Article]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project, _ = store
    out = tmp_path / "all.csv"
    _export(
        capsys, project, "--claim", "k2-calcification", "--format", "csv", "--what", "all", "--out", str(out)
    )
    frame = pd.read_csv(out, dtype=str, keep_default_na=False)
    grade_fields = [
        f.name for f in dataclasses.fields(FinalGrade) if f.name not in ("claim", "pmid", "relevance")
    ]
    assert set(grade_fields) <= set(frame.columns)  # a field added to the grade is exported as it is
    decisions = dict(zip(frame["pmid"], frame["decision"], strict=True))
    assert decisions == {**dict.fromkeys(INCLUDED, "include"), EXCLUDED: "exclude", UNGRADED: "ungraded"}
    row = frame[frame["pmid"] == HOSTILE].iloc[0]
    assert row["title"] == "'" + HOSTILE_TITLE  # shown as text, never run as a formula
    assert row["note"] == "alice: +1 =cmd"  # the final grade's note names its curator
    assert frame[frame["pmid"] == EXCLUDED].iloc[0]["exclude_reason"] == "wrong_population"
    assert (
        frame[frame["pmid"] == "34337106"].iloc[0]["retraction_status"].startswith("retracted on 2026-03-09")
    )
    assert frame[frame["pmid"] == "25364329"].iloc[0]["pmcid"] == "PMC4212699"


def test_bad_options_are_one_line_and_write_nothing(
    store: tuple[Path, dict[str, Article]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project, _ = store
    out = tmp_path / "x.ris"
    for args, message in [
        (("--claim", "nope", "--format", "ris"), "no claim 'nope' (claims: k2-calcification, k2-bone)"),
        (("--format", "endnote"), "--format must be one of ris, bibtex, csv, got 'endnote'"),
        (("--format", "ris", "--what", "some"), "--what must be one of included, all, got 'some'"),
    ]:
        result = run_cli(capsys, "export", str(project), *args, "--out", str(out))
        assert result.code == 2 and message in result.err and result.err.count("\n") == 1, result.err
    assert not out.exists()
