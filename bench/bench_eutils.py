"""Issue 4's benchmark: litgrade's E-utilities client vs the plain Bio.Entrez script most users write.

One stand-in (tests/standin) with NCBI's enforced limit (3 requests/s, no API key) and a latency model
(0.3 s per request + 5 ms per EFetch record, roughly what NCBI takes), one 5,000-record query:

* typical  — esearch (retmax 5000), then efetch in batches of 200 through Entrez.read, one by one;
* typical4 — the same script with 4 threads for the efetch batches (what users try when it is slow);
* litgrade — EutilsClient.search + fetch (pipelined batches of 500, POSTed, under the shared limiter);
* incremental — litgrade's search of the same query for the last 8 days (what an unchanged claim's
  refresh asks for).

Bio.Entrez 1.88 always calls NCBI's address; here its request builder is wrapped to send the same
request to the stand-in instead — nothing else about Biopython is changed (its own pacing and its
3 × 15 s retries, which retry a 429 at once, stay).

Run: .venv/bin/python bench/bench_eutils.py [--records 5000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from Bio import Entrez

from flows.sources.eutils.client import EutilsClient
from flows.sources.eutils.ratelimit import RateLimiter
from flows.sources.spec import EutilsSpec
from tests.standin import Corpus, Latency, StandIn, start_standin

NCBI = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/"
LIMIT = 3
QUERY = "bench query"


def route_biopython_to(base_url: str) -> None:
    original = Entrez._build_request

    def build(cgi: str, *args: Any, **kwargs: Any) -> Any:
        return original(cgi.replace(NCBI, base_url), *args, **kwargs)

    Entrez._build_request = build


def typical(threads: int) -> tuple[int, str]:
    Entrez.email = "bench@litgrade.invalid"  # type: ignore[assignment]
    handle = Entrez.esearch(db="pubmed", term=QUERY, retmax=5000)
    ids = Entrez.read(handle)["IdList"]
    handle.close()
    batches = [ids[i : i + 200] for i in range(0, len(ids), 200)]

    def one(batch: list[str]) -> int:
        h = Entrez.efetch(db="pubmed", id=",".join(batch), retmode="xml")
        records = Entrez.read(h)
        h.close()
        return len(records["PubmedArticle"])

    if threads == 1:
        return sum(one(b) for b in batches), ""
    fetched, errors = 0, []
    with ThreadPoolExecutor(threads) as pool:
        for future in [pool.submit(one, b) for b in batches]:
            try:
                fetched += future.result()
            except Exception as exc:  # the script dies on these; count them instead
                errors.append(type(exc).__name__ + " " + str(getattr(exc, "code", "")))
    return fetched, (f"{len(errors)} batches raised {sorted(set(errors))}" if errors else "")


def litgrade(base_url: str) -> tuple[int, str]:
    client = EutilsClient(EutilsSpec(base_url, "bench@litgrade.invalid", None), RateLimiter(LIMIT))
    result = client.search(QUERY)
    fetched = missing = 0
    for batch in client.fetch(result.pmids):
        fetched += len(batch.articles)
        missing += len(batch.missing)
    return fetched, f"stats {client.stats.as_dict()}" + (f", {missing} missing" if missing else "")


def incremental(base_url: str, today: dt.date) -> tuple[int, str]:
    client = EutilsClient(EutilsSpec(base_url, "bench@litgrade.invalid", None), RateLimiter(LIMIT))
    since = (today - dt.timedelta(days=8)).strftime("%Y/%m/%d")
    result = client.search(QUERY, mindate=since, maxdate=today.strftime("%Y/%m/%d"))
    return len(result.pmids), f"{result.requests} request(s) for {len(result.pmids)} new PMIDs"


def measure(server: StandIn, name: str, run: Callable[[], tuple[int, str]]) -> dict[str, Any]:
    time.sleep(1.2)  # an empty rate window between runs
    first = len(server.log)
    start = time.monotonic()
    records, note = run()
    wall = time.monotonic() - start
    entries = server.log[first:]
    throttled = sum(1 for e in entries if e.status == 429)
    return {
        "name": name,
        "records": records,
        "requests": len(entries),
        "429s": throttled,
        "wall": wall,
        "rps_frac": len(entries) / wall / LIMIT,
        "rec_s": records / wall,
        "note": note,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=5000)
    args = parser.parse_args()
    corpus = Corpus()
    end = dt.date(2026, 11, 20)
    corpus.add_synthetic_query(QUERY, args.records, start=dt.date(2016, 1, 1), end=end)
    with start_standin(corpus, limit_without_key=LIMIT, latency=Latency(0.3, 0.005), today=end) as server:
        route_biopython_to(server.base_url)
        rows = [
            measure(server, "typical (Bio.Entrez, sequential)", lambda: typical(1)),
            measure(server, "typical, 4 threads", lambda: typical(4)),
            measure(server, "litgrade EutilsClient", lambda: litgrade(server.base_url)),
            measure(server, "litgrade incremental search", lambda: incremental(server.base_url, end)),
        ]
    base = rows[0]
    print(f"stand-in: limit {LIMIT} req/s, latency 0.3 s + 5 ms/record, query of {args.records} records")
    print(
        f"{'run':36} {'records':>7} {'requests':>8} {'429s':>5} {'wall s':>7} {'req/s÷limit':>11} "
        f"{'records/s':>9} {'×typical':>8}"
    )
    for r in rows:
        ratio = r["rec_s"] / base["rec_s"] if base["rec_s"] else 0.0
        print(
            f"{r['name']:36} {r['records']:7d} {r['requests']:8d} {r['429s']:5d} {r['wall']:7.2f} "
            f"{r['rps_frac']:11.2f} {r['rec_s']:9.1f} {ratio:8.2f}"
        )
    for r in rows:
        if r["note"]:
            print(f"  {r['name']}: {r['note']}")
    print(
        f"first full search+fetch: {rows[2]['requests']} requests; incremental search: "
        f"{rows[3]['requests']} ({rows[2]['requests'] / max(rows[3]['requests'], 1):.0f}× fewer)"
    )


if __name__ == "__main__":
    main()
