"""The K2 showcase: snapshot generation, claims vs. the mirror, the committed grades, `litgrade demo`.

The end-to-end test is the issue's "done when": `litgrade demo`, offline, reproduces the committed
reports/k2-muscle/ byte for byte, and a second run changes nothing.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import socket
import subprocess
import sys
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
LITGRADE = Path(sys.executable).parent / "litgrade"


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
        # retracted in the XML only where the corpus saw PubMed's publication type (19499964); the other
        # two retractions come from the shipped Retraction Watch-format file, ingested by the demo
        assert article.is_retracted == ("Retracted Publication" in record.publication_types), pmid
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
    first = [e for e in events if e.timestamp == "2026-11-24T12:00:00Z"]
    assert len(first) == len(graded)  # one grade per study and claim
    assert {e.curator for e in events} == {"k2-team"}
    assert all(e.note for e in events)
    # Issue 14's re-appraisal: every included grade appended once more, with its appraisal filled in.
    included = {(e.claim, e.pmid) for e in first if e.relevance == "include"}
    appraisal = [e for e in events if e.timestamp == "2026-12-02T12:00:00Z"]
    assert {(e.claim, e.pmid) for e in appraisal} == included
    assert len(appraisal) == len(included)
    assert len(events) == len(first) + len(appraisal)
    project = load_project(PROJECT_DIR)
    for e in appraisal:
        assert e.risk_of_bias and e.indirectness and e.exposure, (e.claim, e.pmid)
        assert e.outcome in project.claim(e.claim).outcome_ids(), (e.claim, e.pmid)
        assert e.indirectness == "direct" or e.indirect_reason, (e.claim, e.pmid)
        if e.risk_of_bias != "not_applicable":
            assert e.bias_domain, (e.claim, e.pmid)


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
    for name in ("LITGRADE_DB", "LITGRADE_MIRROR"):  # the store and mirror of that data folder
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LITGRADE_EUTILS_URL", "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/")
    out = tmp_path / "reports"

    first = run_cli(capsys, "demo", "--out", str(out))
    assert first.code == 0, first.err
    lines = first.out.strip().splitlines()
    assert len(lines) == 4
    assert "offline snapshot of 44 PubMed records" in lines[0] and "not a live PubMed search" in lines[0]
    assert lines[1].startswith("Ratings: ") and str(out / "index.html") in lines[2]
    data = (tmp_path / "data").resolve()
    assert f"Store: {data / 'litgrade.duckdb'} (mirror: {data / 'mirror.duckdb'})" in lines[3]
    assert not list(data.glob("*.demo-build*"))  # built beside the target, then moved into place

    committed = _tree(reports_dir())
    produced = _tree(out)
    claims = len(load_project("k2-muscle").claims)
    # html/md/json per claim and for the scorecard, plus per claim the Summary-of-Findings .sof.csv/.sof.md
    # and the PRISMA diagram .prisma.svg/.prisma2020.csv
    assert "index.html" in produced and len(produced) == 3 * (claims + 1) + 4 * claims
    assert produced.keys() == committed.keys()
    differing = [name for name in produced if produced[name] != committed[name]]
    assert not differing, f"regenerate with `litgrade demo` and commit reports/k2-muscle/: {differing}"
    assert b"offline snapshot of 44 PubMed records" in produced["index.md"]

    second = run_cli(capsys, "demo", "--out", str(out))
    assert second.code == 0, second.err
    assert "no file changed" in second.out
    assert _tree(out) == produced
    assert no_internet == []


# -- one data folder ----------------------------------------------------------------------------------
def _clean_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LITGRADE_", "PREFECT_"))}
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    return env


@pytest.mark.slow
def test_status_after_demo_needs_no_environment_variable(tmp_path: Path) -> None:
    """A fresh clone: `litgrade demo`, then `litgrade status k2-muscle` (no LITGRADE_* at all)."""
    clone = tmp_path / "clone"
    shutil.copytree(PROJECT_DIR.parent, clone / "curated")
    env = _clean_env(tmp_path)
    # The demo in Prefect's ephemeral mode: a reused local server would outlive the test by an hour.
    demo = subprocess.run([str(LITGRADE), "demo"], cwd=clone, env={**env, "LITGRADE_PREFECT_SERVER": "ephemeral"},
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert demo.returncode == 0, demo.stderr
    assert (clone / ".data" / "litgrade.duckdb").is_file() and (clone / ".data" / "mirror.duckdb").is_file()

    status = subprocess.run([str(LITGRADE), "status", "k2-muscle"], cwd=clone, env=env, capture_output=True,
                            text=True, timeout=120)  # fmt: skip
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    assert lines[0] == f"k2-muscle: 20 claims · store {(clone / '.data' / 'litgrade.duckdb').resolve()}"
    assert re.fullmatch(
        r"grading progress: \d+ of 86 \(claim, study\) pairs final, \d+ in conflict, \d+ awaiting a second "
        r"review, \d+ ungraded; graded by k2-team 86", lines[1]
    ), lines[1]
    claims = [line for line in lines if line.startswith("- ")]
    assert len(claims) == 20
    cramps = next(line for line in claims if line.startswith("- k2-reduces-muscle-cramps-older-adults:"))
    assert re.search(r": [1-9]\d* records \(\d+ stored\), last run 2026-11-24 00:00 \[mirror\] completed; "
                     r"grading: \d+ final, \d+ in conflict, \d+ awaiting a second review, 0 ungraded", cramps)

    mirror = subprocess.run([str(LITGRADE), "mirror", "info"], cwd=clone, env=env, capture_output=True,
                            text=True, timeout=120)  # fmt: skip
    assert mirror.returncode == 0 and "records: 44" in mirror.stdout


def test_a_command_with_no_store_names_it_and_both_ways_to_make_one(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    shutil.copytree(PROJECT_DIR.parent, clone / "curated", ignore=shutil.ignore_patterns("snapshot"))
    env = _clean_env(tmp_path)
    store = (clone / ".data" / "litgrade.duckdb").resolve()
    for args in (["status", "k2-muscle"], ["grades", "export", "k2-muscle", "--curator", "k2-team"]):
        done = subprocess.run([str(LITGRADE), *args], cwd=clone, env=env, capture_output=True, text=True,
                              timeout=120)  # fmt: skip
        said = done.stdout + done.stderr
        assert f"no store at {store}: make one with `litgrade demo`" in said, said
        assert "`litgrade refresh k2-muscle` (live NCBI)" in said and "Traceback" not in said


def test_demo_never_replaces_a_store_or_mirror_it_did_not_make(tmp_path: Path) -> None:
    from flows.errors import ConfigError
    from flows.pipeline.demo import run_demo
    from tests.conftest import SHARED_DIR
    from tests.grading_fixtures import build_store, k2_articles

    work = tmp_path / "data"
    work.mkdir()
    store = work / "litgrade.duckdb"
    build_store(store, "k2-muscle", {"k2-food-sources": k2_articles(2)})  # a live (eutils) search run
    before = store.read_bytes()
    with pytest.raises(ConfigError) as err:
        run_demo(tmp_path / "reports", work_dir=work)
    assert f"{store} holds data `litgrade demo` did not make (1 search run(s) of 'k2-muscle' from eutils)" in str(
        err.value
    )
    assert "LITGRADE_DATA=.data/demo litgrade demo" in str(err.value)
    assert store.read_bytes() == before and not (tmp_path / "reports").exists()

    store.unlink()
    ingest_files([SHARED_DIR / "ncbi-samples" / "metapub_efetch_23657305.xml"], work / "mirror.duckdb")
    with pytest.raises(ConfigError) as err:
        run_demo(tmp_path / "reports", work_dir=work)
    assert "mirror.duckdb holds data `litgrade demo` did not make (1 ingested file(s) besides the snapshot" in str(
        err.value
    )
