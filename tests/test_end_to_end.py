"""The skeleton end to end: `litgrade refresh` over real HTTP to the E-utilities stand-in, rows in a real
DuckDB file, a second run that stores nothing twice and fetches nothing already stored, then the report."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli
from tests.db_helpers import rows
from tests.standin import load_corpus, split_efetch, start_standin

ERRATA = ["38833988", "35649368", "38147649"]
REVIEWS = ["35830032", "33856845"]
UNKNOWN = "99999999"

CLAIMS = """\
article:
  title: "A test article"
  date_read: 2026-11-24
claims:
  - id: errata
    text: "Errata are published"
    query: 'erratum[pt]'
  - id: reviews
    text: "Reviews exist"
    query: 'review[pt] AND fleegle[mh]'
"""


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "e2e"
    folder.mkdir()
    (folder / "claims.yaml").write_text(CLAIMS, encoding="utf-8")
    return folder


@pytest.fixture()
def standin(samples_dir: Path):  # type: ignore[no-untyped-def]
    corpus = load_corpus(sorted(samples_dir.glob("metapub_efetch_*.xml")))
    corpus.add_query("erratum[pt]", ERRATA, translation='"erratum"[Publication Type]')
    corpus.add_query(
        "review[pt] AND fleegle[mh]",
        [*REVIEWS, UNKNOWN],
        translation='"review"[Publication Type]',
        errors={"PhraseNotFound": ["fleegle[mh]"]},
    )
    with start_standin(corpus, today=dt.date(2026, 11, 24)) as server:
        yield server



def efetch_ids(standin) -> list[str]:  # type: ignore[no-untyped-def]
    ids: list[str] = []
    for entry in standin.entries(tool="efetch"):
        ids.extend(i for i in str(entry.params.get("id", "")).split(",") if i)
    return ids


@pytest.mark.slow
def test_refresh_twice_then_report(
    project: Path,
    standin,  # type: ignore[no-untyped-def]
    tmp_db: Path,
    tmp_path: Path,
    samples_dir: Path,
    prefect_harness: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("LITGRADE_EUTILS_URL", standin.base_url)

    first = run_cli(capsys, "refresh", str(project), "--run-time", "2026-11-24T06:00:00")
    assert first.code == 0, first.err
    assert "errata: 3 found (full), 3 new, 3 fetched" in first.err
    assert "reviews: 3 found (full), 3 new, 2 fetched, 1 not returned" in first.err
    assert "PhraseNotFound: fleegle[mh]" in first.err
    assert sorted(p for (p,) in rows(tmp_db, "SELECT pmid FROM articles")) == sorted(ERRATA + REVIEWS)
    assert rows(tmp_db, "SELECT count(*) FROM claim_hits") == [(6,)]
    runs = rows(
        tmp_db,
        "SELECT claim_id, status, incremental, query_translation, errors::VARCHAR, missing_pmids "
        "FROM search_runs ORDER BY claim_id",
    )
    assert runs[0][:4] == ("errata", "completed", False, '"erratum"[Publication Type]')
    assert runs[1][1] == "completed" and '"PhraseNotFound": ["fleegle[mh]"]' in str(runs[1][4])
    assert runs[1][5] == [UNKNOWN]
    assert sorted(efetch_ids(standin)) == sorted(ERRATA + REVIEWS + [UNKNOWN])

    # A new study appears in PubMed between the runs.
    new_pmid, xml, _ = split_efetch(samples_dir / "metapub_efetch_36156117.xml")[0]
    standin.corpus.add_record(new_pmid, xml, dt.date(2026, 11, 28))
    standin.corpus.queries["erratum[pt]"].pmids.insert(0, new_pmid)
    standin.clear_log()

    second = run_cli(capsys, "refresh", str(project), "--run-time", "2026-12-01T06:00:00")
    assert second.code == 0, second.err
    assert "errata: 1 found (incremental), 1 new, 1 fetched" in second.err
    # An unchanged claim costs one search. (Under heavy load the stand-in's strict 1-second window can
    # see a paced request arrive early and answer 429; the client's retry is then a second request.)
    searches_sent = standin.entries(tool="esearch", status=200)
    assert len(searches_sent) == 2
    assert all(e.params.get("mindate") == "2026/11/17" for e in searches_sent)
    assert sorted(efetch_ids(standin)) == sorted([new_pmid, UNKNOWN])  # nothing stored is re-fetched
    assert rows(tmp_db, "SELECT count(*), count(DISTINCT pmid) FROM articles") == [(6, 6)]
    assert rows(tmp_db, "SELECT count(*), count(DISTINCT (claim_id, pmid)) FROM claim_hits") == [(7, 7)]
    assert rows(tmp_db, "SELECT count(*) FROM search_runs WHERE incremental") == [(2,)]

    status = run_cli(capsys, "status", str(project))
    assert status.code == 0, status.err
    assert "errata: 4 records (4 stored)" in status.out
    assert "NCBI PhraseNotFound: fleegle[mh]" in status.out

    out = tmp_path / "reports"
    report = run_cli(capsys, "report", str(project), "--out", str(out))
    assert report.code == 0, report.err
    for name in ("index.md", "index.html", "index.json", "errata.md", "errata.html", "reviews.json"):
        assert (out / name).is_file(), name
    errata_md = (out / "errata.md").read_text(encoding="utf-8")
    assert "erratum[pt]" in errata_md and '"erratum"[Publication Type]' in errata_md
