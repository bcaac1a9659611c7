"""The E-utilities client against the stand-in over real HTTP: completeness, faults, what NCBI said."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Generator
from pathlib import Path

import pytest

from flows.config import eutils_settings
from flows.errors import ConfigError, FetchError
from flows.sources.eutils.client import EutilsClient
from flows.sources.eutils.esearch import parse_esearch
from flows.sources.eutils.http import RetryPolicy
from flows.sources.eutils.ratelimit import RateLimiter
from flows.sources.protocol import FetchBatch
from flows.sources.spec import NCBI_EUTILS_URL, EutilsSpec
from tests.eutils_fixtures import fast_client, sample_corpus, settings_for, standin  # noqa: F401
from tests.standin import Corpus, Latency, StandIn, start_standin


def _articles(batches: list[FetchBatch]) -> list[str]:
    return [a.pmid for b in batches for a in b.articles]


def test_25000_hit_query_every_pmid_fetched_exactly_once() -> None:
    corpus = Corpus()
    expected = corpus.add_synthetic_query("heart", 25_000)
    with start_standin(corpus, rate_limit=False) as server:
        client = fast_client(server, batch_size=1_000)
        result = client.search("heart")
        assert result.count == 25_000
        assert sorted(result.pmids) == sorted(expected)  # past the 9,999 cap, no duplicates
        assert result.requests == len(server.entries("esearch")) > 1
        assert all(int(e.params.get("retstart", 0)) <= 9_998 for e in server.entries("esearch"))
        assert all(e.params.get("datetype") == "edat" for e in server.entries("esearch")[1:])
        fetched = _articles(list(client.fetch(result.pmids)))
    asked = Counter(p for e in server.entries("efetch") for p in e.params["id"].split(","))
    assert sorted(fetched) == sorted(expected)
    assert set(asked.values()) == {1} and len(asked) == 25_000
    assert sum(e.records for e in server.entries("efetch")) == 25_000


def test_a_one_day_slice_over_the_cap_is_reported_not_hidden() -> None:
    corpus = Corpus()
    day = dt.date(2020, 6, 1)
    corpus.add_synthetic_query("flood", 10_500, start=day, end=day)
    with start_standin(corpus, rate_limit=False) as server:
        result = fast_client(server).search("flood", mindate="2020/01/01", maxdate="2020/12/31")
    assert result.count == 10_500 and len(result.pmids) == 9_999
    notes = " ".join(result.warnings["litgrade"])
    assert "2020/06/01" in notes and "501 could not be retrieved" in notes


def test_date_window_is_sent_as_entry_dates(standin: StandIn) -> None:  # noqa: F811
    standin.corpus.add_synthetic_query("window", 100, start=dt.date(2020, 1, 1), end=dt.date(2020, 12, 31))
    result = fast_client(standin).search("window", mindate="2020/07/01", maxdate="2020/12/31")
    expected = {
        p
        for p, d in standin.corpus.edat.items()
        if p in standin.corpus.synthetic and d >= dt.date(2020, 7, 1)
    }
    assert set(result.pmids) == expected and 40 < len(expected) < 60
    params = standin.entries("esearch")[-1].params
    assert (params["datetype"], params["mindate"], params["maxdate"]) == ("edat", "2020/07/01", "2020/12/31")
    assert result.query_translation and result.query_translation.endswith("[Date - Entry]")


def test_error_list_with_hits_is_kept_and_results_still_returned(standin: StandIn) -> None:  # noqa: F811
    term = "obstetrics[MeSH Terms] OR fleegle[MeSH Terms]"
    standin.corpus.add_query(
        term,
        ["12091962", "9997"],
        translation='"obstetrics"[MeSH Terms]',
        errors={"PhraseNotFound": ["fleegle[MeSH Terms]"]},
    )
    result = fast_client(standin).search(term)
    assert result.pmids == ("12091962", "9997") and result.count == 2
    assert result.errors == {"PhraseNotFound": ["fleegle[MeSH Terms]"]}
    assert result.query_translation == '"obstetrics"[MeSH Terms]'


def test_no_hits_keeps_ncbis_messages(standin: StandIn) -> None:  # noqa: F811
    result = fast_client(standin).search("abcXYZ")
    assert result.pmids == () and result.count == 0
    assert result.errors == {"PhraseNotFound": ["abcXYZ"]}
    assert result.warnings == {"OutputMessage": ["No items found."]}


def test_unknown_pmids_are_reported_missing(standin: StandIn) -> None:  # noqa: F811
    batches = list(fast_client(standin, batch_size=2).fetch(["12091962", "1", "9997", "2", "not-a-pmid"]))
    assert sorted(_articles(batches)) == ["12091962", "9997"]
    assert sorted(p for b in batches for p in b.missing) == ["1", "2", "not-a-pmid"]
    assert not any(b.failed for b in batches)
    assert any("not a PMID" in p.reason for b in batches for p in b.problems)
    assert all("not-a-pmid" not in e.params["id"] for e in standin.entries("efetch"))  # never sent


def test_all_unknown_is_an_empty_batch_not_a_failure(standin: StandIn) -> None:  # noqa: F811
    (batch,) = list(fast_client(standin).fetch(["1", "2"]))
    assert batch.articles == () and batch.missing == ("1", "2") and not batch.failed


def test_injected_faults_are_retried_to_completion_with_nothing_lost_or_duplicated() -> None:
    corpus = Corpus()
    expected = corpus.add_synthetic_query("faulty", 1_000)
    with start_standin(corpus, rate_limit=False) as server:
        for kind in ("500", "502", "truncated", "cut", "html"):
            server.add_fault(kind, times=2, tools=("efetch",))
        server.add_fault("slow", times=1, tools=("efetch",), seconds=1.0)
        server.add_fault("500", times=1, tools=("esearch",))
        server.add_fault("truncated", times=1, tools=("esearch",))
        client = fast_client(server, batch_size=50, timeout=0.5, retry=RetryPolicy(8, 0.01, 0.05, 0.05))
        result = client.search("faulty")
        batches = list(client.fetch(result.pmids))
    fired = Counter(e.fault for e in server.entries() if e.fault)
    assert sorted(result.pmids) == sorted(expected)
    assert not any(b.failed or b.missing for b in batches)
    fetched = _articles(batches)
    assert len(fetched) == len(set(fetched)) == 1_000
    assert fired == {"500": 3, "502": 2, "truncated": 3, "cut": 2, "html": 2, "slow": 1}
    assert client.stats.as_dict()["retries"] == 13


def test_429_is_retried_after_a_pause() -> None:
    corpus = Corpus()
    corpus.add_synthetic_query("q", 10)
    with start_standin(corpus, limit_without_key=2) as server:
        # Paces far faster than the server allows: some 429s, each retried after a pause.
        client = fast_client(server, batch_size=4, retry=RetryPolicy(8, 0.2, 1.0, 0.5))
        result = client.search("q")
        batches = list(client.fetch(result.pmids))
    assert len(_articles(batches)) == 10 and not any(b.failed for b in batches)
    assert server.entries(status=429)
    assert client.stats.as_dict()["throttled"] == len(server.entries(status=429))


def test_a_batch_that_keeps_failing_is_yielded_failed_with_everything_missing() -> None:
    corpus = Corpus()
    pmids = corpus.add_synthetic_query("down", 30)
    with start_standin(corpus, rate_limit=False) as server:
        server.add_fault("502", times=None, probability=1.0, tools=("efetch",))
        client = fast_client(server, batch_size=20, retry=RetryPolicy(3, 0.01, 0.02, 0.02))
        batches = list(client.fetch(pmids))
    assert [len(b.requested) for b in batches] == [20, 10]
    assert all(b.failed and b.missing == b.requested and not b.articles for b in batches)
    assert batches[0].error and "HTTP 502" in batches[0].error and "3 times" in batches[0].error
    assert client.stats.as_dict()["failures"] == 2


def test_long_id_lists_go_by_post_and_every_request_names_tool_and_email(standin: StandIn) -> None:  # noqa: F811
    standin.corpus.add_synthetic_query("many", 450)
    client = fast_client(standin, batch_size=400)  # 400 ids go by POST, the last 50 fit a GET
    assert len(_articles(list(client.fetch(client.search("many").pmids)))) == 450
    efetch = standin.entries("efetch")
    assert sorted((len(e.params["id"].split(",")), e.method) for e in efetch) == [(50, "GET"), (400, "POST")]
    assert all(e.params["tool"] == "litgrade" and e.params["email"] for e in standin.entries())
    stats = client.stats.as_dict()
    assert stats["requests"] == len(standin.entries()) and stats["bytes"] > 0


def test_api_key_is_sent_when_configured(standin: StandIn) -> None:  # noqa: F811
    client = EutilsClient(settings_for(standin, api_key="secret-key"), RateLimiter(100))
    client.search("biopython_efetch_pubmed1")
    assert standin.entries()[-1].params["api_key"] == "secret-key"


def test_top_level_error_is_a_fetch_error_with_ncbis_text(samples_dir: Path) -> None:
    body = (samples_dir / "klortho_esearch_baderror_invalid_db.xml").read_bytes()
    with pytest.raises(FetchError, match="Invalid db name specified: fleegle"):
        parse_esearch(body, "q")


@pytest.mark.parametrize(
    ("name", "count", "errors", "warnings"),
    [
        ("biopython_esearch8.xml", 0, {"PhraseNotFound": ["abcXYZ"]}, {"OutputMessage": ["No items found."]}),
        ("klortho_esearch_error_phrasenotfound.xml", 5163, {"PhraseNotFound": ["fleegle[MeSH Terms]"]}, {}),
    ],
)
def test_real_esearch_answers_parse(
    samples_dir: Path, name: str, count: int, errors: dict[str, list[str]], warnings: dict[str, list[str]]
) -> None:
    page = parse_esearch((samples_dir / name).read_bytes(), "q")
    assert (page.count, page.errors, page.warnings) == (count, errors, warnings)


def test_real_esearch_translation_set(samples_dir: Path) -> None:
    page = parse_esearch((samples_dir / "biopython_esearch3.xml").read_bytes(), "q")
    assert page.count == 2651 and len(page.ids) == 6 and page.retstart == 6
    assert page.translations == (("PNAS[ta]", '"Proc Natl Acad Sci U S A"[Journal:__jid7505876]'),)


def test_missing_email_against_live_ncbi_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LITGRADE_EUTILS_URL", NCBI_EUTILS_URL)
    monkeypatch.setenv("NCBI_EMAIL", "")
    with pytest.raises(ConfigError, match="NCBI_EMAIL"):
        eutils_settings()
    with pytest.raises(ConfigError, match="NCBI_EMAIL"):
        EutilsClient(EutilsSpec(NCBI_EUTILS_URL, "", None))


def test_connection_refused_gives_up_with_a_clear_error() -> None:
    settings = EutilsSpec("http://127.0.0.1:9/entrez/eutils/", "a@b.c", None)
    client = EutilsClient(settings, RateLimiter(100), retry=RetryPolicy(2, 0.01, 0.01, 0.01))
    with pytest.raises(FetchError, match=r"failed 2 times.*URLError"):
        client.search("anything")


def test_stopping_early_sends_no_more_batches() -> None:
    corpus = Corpus()
    pmids = corpus.add_synthetic_query("stop", 200)
    with start_standin(corpus, rate_limit=False, latency=Latency(0.05)) as server:
        batches = fast_client(server, batch_size=10, workers=2).fetch(pmids)
        assert isinstance(batches, Generator)
        first = next(batches)
        batches.close()
    assert len(first.articles) == 10
    assert len(server.entries("efetch")) <= 5  # 20 batches, at most the look-ahead of 4 plus one


def test_ncbis_top_level_error_fails_the_batch_with_its_text_without_retrying() -> None:
    corpus = Corpus()
    pmids = corpus.add_synthetic_query("err", 5)
    with start_standin(corpus, rate_limit=False) as server:
        server.add_fault("error", times=1, tools=("efetch",))
        (batch,) = list(fast_client(server).fetch(pmids))
    assert batch.failed and batch.missing == tuple(pmids)
    assert batch.error and "Search Backend failed" in batch.error
    assert len(server.entries("efetch")) == 1


def test_ncbis_top_level_error_on_a_search_is_a_fetch_error() -> None:
    corpus = Corpus()
    corpus.add_synthetic_query("err", 5)
    with start_standin(corpus, rate_limit=False) as server:
        server.add_fault("error", times=1, tools=("esearch",))
        with pytest.raises(FetchError, match="refused the search for 'err': Search Backend failed"):
            fast_client(server).search("err")
    assert len(server.entries("esearch")) == 1
