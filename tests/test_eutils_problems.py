"""One unreadable record in an EFetch batch (issue 16, finding 4): the healthy records of that batch are
stored, the broken one is recorded with its PMID and reason, and an answer cut short is still retried."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from flows.pubmed.parser import parse_each_record
from flows.pubmed.records import Article, ParseProblem
from tests.cli_helpers import run_cli
from tests.db_helpers import rows
from tests.eutils_fixtures import fast_client
from tests.standin import Corpus, start_standin
from tests.standin.corpus import synthetic_record

DAY = dt.date(2024, 5, 1)
# Ways one record breaks the whole document for libxml2; each arrives inside a complete answer.
HOSTILE = {
    "tag mismatch": lambda xml: xml.replace("<ArticleTitle>", "<ArticleTitle><i>"),
    "NUL character reference": lambda xml: xml.replace("Synthetic", "Syn&#0;thetic"),
    "raw control character": lambda xml: xml.replace("Synthetic", "Syn\x01thetic"),
    "nesting past libxml2's depth limit": lambda xml: xml.replace(
        "<ArticleTitle>", "<ArticleTitle>" + "<b>" * 300
    ).replace("</ArticleTitle>", "</b>" * 300 + "</ArticleTitle>"),
}


def _corpus(broken: str, hostile: str, healthy: list[str]) -> Corpus:
    corpus = Corpus()
    for pmid in healthy:
        corpus.add_record(pmid, synthetic_record(pmid, "problem", DAY), DAY)
    corpus.add_record(broken, HOSTILE[hostile](synthetic_record(broken, "problem", DAY)), DAY)
    corpus.add_query("problem query", [*healthy[:3], broken, *healthy[3:]])
    return corpus


@pytest.mark.parametrize("hostile", sorted(HOSTILE))
def test_the_healthy_records_of_a_batch_survive_one_broken_record(hostile: str) -> None:
    healthy = [str(70_000_000 + i) for i in range(6)]
    corpus = _corpus("70000099", hostile, healthy)
    with start_standin(corpus, rate_limit=False) as server:
        client = fast_client(server, batch_size=200)
        batches = list(client.fetch(client.search("problem query").pmids))
        efetches = server.entries("efetch")
    assert len(batches) == 1 and not batches[0].failed
    assert sorted(a.pmid for a in batches[0].articles) == healthy
    assert batches[0].missing == ("70000099",)
    [problem] = batches[0].problems
    assert problem.pmid == "70000099" and "not well-formed XML" in problem.reason
    assert len(efetches) == 1  # a complete answer is not asked for again: it would break the same way


def test_an_answer_cut_short_is_retried_not_salvaged() -> None:
    body = ("<PubmedArticleSet>" + synthetic_record("1", "x", DAY) + synthetic_record("2", "x", DAY)).encode()
    assert parse_each_record(body[: len(body) // 2]) is None
    assert parse_each_record(body) is None  # no closing tag: the answer did not arrive whole


def test_a_record_without_a_readable_pmid_is_reported_by_position() -> None:
    bad = "<PubmedArticle><MedlineCitation><PMID>abc</PMID><Article><i></Article></MedlineCitation></PubmedArticle>"
    body = (
        f'<?xml version="1.0"?>\n<PubmedArticleSet>{synthetic_record("5", "x", DAY)}{bad}</PubmedArticleSet>'
    )
    events = parse_each_record(body.encode())
    assert events is not None and isinstance(events[0], Article)
    assert isinstance(events[1], ParseProblem) and events[1].pmid is None
    assert events[1].reason.startswith("record 2 (no readable PMID) is not well-formed XML")


@pytest.mark.slow
def test_refresh_stores_the_healthy_records_and_records_the_broken_pmid(
    tmp_path: Path,
    tmp_db: Path,
    prefect_harness: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    project = tmp_path / "problems"
    project.mkdir()
    (project / "claims.yaml").write_text(
        'article:\n  title: "Problems"\n  date_read: 2026-11-24\n'
        'claims:\n  - id: broken\n    text: "A batch with a broken record"\n    query: "problem query"\n',
        encoding="utf-8",
    )
    healthy = [str(71_000_000 + i) for i in range(199)]  # with the broken one: 200 records, one batch
    with start_standin(_corpus("71000999", "tag mismatch", healthy)) as server:
        monkeypatch.setenv("LITGRADE_EUTILS_URL", server.base_url)
        first = run_cli(capsys, "refresh", str(project), "--run-time", "2026-11-24T06:00:00")
        second = run_cli(capsys, "refresh", str(project), "--run-time", "2026-11-25T06:00:00")
    assert first.code == 0, first.err
    assert "broken: 200 found (full), 200 new, 199 fetched, 1 not returned" in first.err
    assert "skipped a record the parser could not read: 71000999: PMID 71000999 is not well-formed XML" in (
        first.err
    )
    assert sorted(p for (p,) in rows(tmp_db, "SELECT pmid FROM articles")) == healthy
    assert rows(tmp_db, "SELECT count(*) FROM suggestions") == [(199,)]
    [(pmid, reason, source, times)] = rows(
        tmp_db, "SELECT pmid, reason, source, times_seen FROM fetch_problems"
    )
    assert (pmid, source) == ("71000999", "eutils") and "Opening and ending tag mismatch" in reason
    assert second.code == 0, second.err
    assert times == 2  # the second refresh asked for the record again and counted it once more
