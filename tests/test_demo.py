"""The K2 showcase: snapshot generation, claims vs. the mirror, the committed grades, `litgrade demo`.

The end-to-end test is the issue's "done when": `litgrade demo`, offline, reproduces the committed
reports/k2-muscle/ byte for byte, and a second run changes nothing.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from pathlib import Path
from typing import Any

import pytest

from flows.curation.journal import read_events
from flows.errors import InputError
from flows.pipeline.demo import reports_dir, snapshot_file, sync_reports
from flows.pipeline.k2_snapshot import SUMMARY_LABEL, build_snapshot, corpus_file, read_corpus
from flows.pipeline.mirror_ingest import ingest_files
from flows.project.claims import load_project
from flows.pubmed.parser import parse_articles
from flows.pubmed.query import parse_query
from flows.sources.mirror.source import MirrorSource
from flows.store.mirror import MirrorIndex
from tests.cli_helpers import run_cli

PROJECT_DIR = snapshot_file().parent.parent
RETRACTED = {"12110423", "19499964", "23637537"}


@pytest.fixture(scope="module")
def k2_mirror(tmp_path_factory: pytest.TempPathFactory) -> MirrorSource:
    path = tmp_path_factory.mktemp("k2-mirror") / "mirror.duckdb"
    ingest_files([snapshot_file()], path)
    return MirrorSource(MirrorIndex(path))


@pytest.fixture(scope="module")
def claim_hits(k2_mirror: MirrorSource) -> dict[str, set[str]]:
    project = load_project("k2-muscle")
    return {c.id: set(k2_mirror.search(c.query).pmids) for c in project.claims}


@pytest.fixture()
def no_internet(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Refuse every socket connection that leaves the machine; records the attempts."""
    attempts: list[Any] = []
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0]
            try:
                local = ipaddress.ip_address(host).is_loopback
            except ValueError:
                local = host == "localhost"
            if not local:
                attempts.append(address)
                raise OSError(f"test is offline: connection to {address} refused")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    return attempts


# -- the snapshot ---------------------------------------------------------------------------------
def test_snapshot_is_regenerated_byte_for_byte(tmp_path: Path) -> None:
    out = tmp_path / "k2-snapshot.xml"
    assert build_snapshot(corpus_file(), out) == 44
    assert out.read_bytes() == snapshot_file().read_bytes()


def test_snapshot_records_carry_labelled_summaries_and_only_corpus_facts() -> None:
    articles = {a.pmid: a for a in parse_articles(snapshot_file())}
    corpus = {r.pmid: r for r in read_corpus(corpus_file())}
    assert articles.keys() == corpus.keys()
    for pmid, article in articles.items():
        record = corpus[pmid]
        assert article.title == record.title
        assert article.pub_date.year == record.year
        assert article.journal.iso_abbreviation == record.journal
        assert [s.label for s in article.abstract] == [SUMMARY_LABEL]
        assert article.abstract[0].text == record.summary
        assert article.authors == () and article.doi is None  # nothing invented
        assert article.is_retracted == (pmid in RETRACTED), pmid
    rat = articles["16636460"]
    heading = {m.descriptor: m for m in rat.mesh}["Lipopolysaccharides"]
    assert not heading.major and [(q.name, q.major) for q in heading.qualifiers] == [
        ("administration & dosage", False),
        ("pharmacology", True),
    ]
    assert "Research Support, Non-U.S. Gov't" in rat.publication_type_names


def test_snapshot_escapes_markup_in_corpus_text(tmp_path: Path) -> None:
    corpus = tmp_path / "records.jsonl"
    hostile = '<script>alert("x")</script> & <b>bold</b>'
    corpus.write_text(
        json.dumps({"pmid": "123", "title": hostile, "journal": "J <Test>", "year": 2020, "summary": hostile})
        + "\n",
        encoding="utf-8",
    )
    out = tmp_path / "snap.xml"
    build_snapshot(corpus, out)
    assert b"<script>" not in out.read_bytes()
    (article,) = parse_articles(out)
    assert article.title == hostile and article.abstract[0].text == hostile


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"pmid": "12a", "title": "t", "journal": "j", "year": 2000, "summary": "s"}', "field 'pmid'"),
        ('{"pmid": "1", "title": "", "journal": "j", "year": 2000, "summary": "s"}', "field 'title'"),
        ('{"pmid": "1", "title": "t", "journal": "j", "year": "2000", "summary": "s"}', "field 'year'"),
        ('{"pmid": "1", "title": "t", "journal": "j", "year": 2000, "summary": "s", "mesh_terms": "x"}',
         "field 'mesh_terms'"),
        ("{not json", "not valid JSON"),
    ],
)
def test_bad_corpus_line_names_file_line_and_field(tmp_path: Path, line: str, message: str) -> None:
    corpus = tmp_path / "records.jsonl"
    good = '{"pmid": "7", "title": "t", "journal": "j", "year": 2000, "summary": "s"}'
    corpus.write_text(f"{good}\n{line}\n", encoding="utf-8")
    out = tmp_path / "snap.xml"
    with pytest.raises(InputError) as err:
        build_snapshot(corpus, out)
    assert f"{corpus}:2" in str(err.value) and message in str(err.value)
    assert not out.exists()  # nothing half-written


# -- claims and grades against the mirror ----------------------------------------------------------
def test_every_claim_query_is_fully_tagged() -> None:
    from flows.pubmed.query import Term, iter_nodes

    for claim in load_project("k2-muscle").claims:
        terms = [n for n in iter_nodes(parse_query(claim.query)) if isinstance(n, Term)]
        assert terms and all(t.field is not None for t in terms), claim.id


def test_queries_find_the_studies_they_are_about(claim_hits: dict[str, set[str]]) -> None:
    expected = {
        "k2-reduces-muscle-cramps-older-adults": {"39466236"},
        "k2-inhibits-nfkb-inflammation": {"20149620", "27200471"},
        "k2-mitochondrial-electron-carrier-atp": {"22582012"},
        "vitamin-k-interferes-with-warfarin": {"15231565", "17110451", "15886802", "26962786"},
        "k2-activates-mgp-prevents-arterial-calcification": {"9052783", "31387121", "30514729"},
        "k2-with-d3-directs-calcium-to-bone": {"11886767", "35465686"},
        "mk7-longer-half-life-than-k1": {"23140417"},
        "k2-improves-physical-performance-endurance": {"31211416", "36651485"},
    }
    for claim, pmids in expected.items():
        assert pmids <= claim_hits[claim], claim
    assert claim_hits["k2-reduces-muscle-cramps-dialysis"] == set()  # no such study in the snapshot
    assert "39466236" not in claim_hits["k2-mitochondrial-electron-carrier-atp"]
    every = set().union(*claim_hits.values())
    assert every == set(read_corpus_pmids()), "each snapshot record is found by some claim"


def read_corpus_pmids() -> list[str]:
    return [r.pmid for r in read_corpus(corpus_file())]


def test_grades_cover_exactly_what_the_searches_find(claim_hits: dict[str, set[str]]) -> None:
    events = read_events(PROJECT_DIR)  # schema, curator and file checks
    graded = {(e.claim, e.pmid) for e in events}
    found = {(claim, pmid) for claim, pmids in claim_hits.items() for pmid in pmids}
    assert graded == found
    assert len(events) == len(graded)  # one grade per study and claim
    assert {e.curator for e in events} == {"k2-team"}
    assert all(e.timestamp == "2026-11-24T12:00:00Z" and e.note for e in events)


# -- reports sync ---------------------------------------------------------------------------------
def test_sync_reports_rewrites_only_changed_files_and_drops_stale_reports(tmp_path: Path) -> None:
    staging, out = tmp_path / "staging", tmp_path / "out"
    staging.mkdir()
    out.mkdir()
    (staging / "a.md").write_text("same", encoding="utf-8")
    (staging / "b.json").write_text("new", encoding="utf-8")
    (out / "a.md").write_text("same", encoding="utf-8")
    (out / "b.json").write_text("old", encoding="utf-8")
    (out / "gone.html").write_text("stale", encoding="utf-8")
    (out / "notes.txt").write_text("a person's file", encoding="utf-8")
    before = (out / "a.md").stat().st_mtime_ns
    written, removed = sync_reports(staging, out)
    assert written == (out / "b.json",) and removed == (out / "gone.html",)
    assert (out / "b.json").read_text(encoding="utf-8") == "new"
    assert (out / "a.md").stat().st_mtime_ns == before
    assert (out / "notes.txt").exists()


# -- litgrade demo, end to end ---------------------------------------------------------------------
def _tree(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.mark.slow
def test_demo_reproduces_the_committed_reports_offline(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    prefect_harness: None,
    no_internet: list[Any],
) -> None:
    monkeypatch.setenv("LITGRADE_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("LITGRADE_EUTILS_URL", "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/")
    out = tmp_path / "reports"

    first = run_cli(capsys, "demo", "--out", str(out))
    assert first.code == 0, first.err
    lines = first.out.strip().splitlines()
    assert len(lines) == 3
    assert "offline snapshot of 44 PubMed records" in lines[0] and "not a live PubMed search" in lines[0]
    assert lines[1].startswith("Ratings: ") and str(out / "index.html") in lines[2]

    committed = _tree(reports_dir())
    produced = _tree(out)
    assert "index.html" in produced and len(produced) == 5 * len(load_project("k2-muscle").claims) + 3
    assert produced.keys() == committed.keys()
    differing = [name for name in produced if produced[name] != committed[name]]
    assert not differing, f"regenerate with `litgrade demo` and commit reports/k2-muscle/: {differing}"
    assert b"offline snapshot of 44 PubMed records" in produced["index.md"]

    second = run_cli(capsys, "demo", "--out", str(out))
    assert second.code == 0, second.err
    assert "no file changed" in second.out
    assert _tree(out) == produced
    assert no_internet == []
