"""The E-utilities client: ESearch every PMID of a query (past the 9,999 cap), EFetch them in batches.

It implements `flows.sources.protocol.SearchSource` for live NCBI, a mirror that speaks E-utilities, or the
test stand-in (`LITGRADE_EUTILS_URL`). Every request goes through `flows.sources.eutils.http.Transport`:
the process-wide rate limiter, one retry policy, and `stats` the refresh flow logs.

Completeness rules: a batch is yielded only once its whole answer parsed (never a partial record or
an error page); PMIDs asked for and not returned are `missing`; a batch that still fails after the
retries is yielded with `failed=True` and every PMID missing, so the next refresh asks again.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from math import ceil

from flows.errors import ConfigError, FetchError
from flows.ids import is_pmid
from flows.pubmed.dates import date_bound
from flows.pubmed.records import Article, ParseProblem
from flows.sources.eutils.esearch import ESearchPage, parse_esearch
from flows.sources.eutils.http import ClientStats, RetryableResponse, RetryPolicy, Transport
from flows.sources.eutils.ratelimit import RateLimiter, shared_limiter
from flows.sources.protocol import FetchBatch, SearchResult
from flows.sources.spec import EutilsSpec

log = logging.getLogger("litgrade.eutils")

PAGE_CAP = 9_999  # ESearch returns at most this many PMIDs of a PubMed query, however it is paged
EARLIEST = dt.date(1800, 1, 1)  # before any PubMed entry date
DEFAULT_BATCH = 500  # POSTed (NCBI: POST past ~200 ids); fewer requests under the 3/s ceiling
_TOP_ERROR = re.compile(rb"<ERROR>(.*?)</ERROR>", re.S)


class EutilsClient:
    name = "eutils"

    def __init__(
        self,
        settings: EutilsSpec,
        limiter: RateLimiter | None = None,
        *,
        retry: RetryPolicy | None = None,
        batch_size: int = DEFAULT_BATCH,
        workers: int | None = None,
        timeout: float = 120.0,
        today: dt.date | None = None,
    ) -> None:
        if settings.is_live_ncbi and not settings.email:
            raise ConfigError(
                "NCBI_EMAIL is not set: NCBI requires a contact e-mail on every E-utilities request "
                "(export NCBI_EMAIL=you@example.org)"
            )
        rate = settings.max_requests_per_second
        self.settings = settings
        self.limiter = limiter or shared_limiter(rate)
        self.stats = ClientStats()
        self._http = Transport(settings, self.limiter, retry or RetryPolicy(), self.stats, timeout)
        self.batch_size = batch_size
        # Enough requests in flight to use the allowance while answers take ~1-2 s to arrive.
        self.workers = workers or max(4, min(16, ceil(self.limiter.rate * 2)))
        self._today = today

    # -- ESearch ---------------------------------------------------------------------------------
    def search(self, query: str, *, mindate: str | None = None, maxdate: str | None = None) -> SearchResult:
        """Every PMID matching `query` (optionally within an entry-date window), past the 9,999 cap."""
        if not query.strip():
            raise FetchError("empty query: nothing to search")
        requests = 0
        first, n = self._esearch(query, mindate, maxdate)
        requests += n
        warnings = {k: list(v) for k, v in first.warnings.items()}
        if first.count <= PAGE_CAP:
            pmids = list(first.ids)
            while len(pmids) < first.count and first.ids:  # a server that pages in smaller steps
                page, n = self._esearch(query, mindate, maxdate, retstart=len(pmids))
                requests += n
                if not page.ids:
                    break
                pmids.extend(page.ids)
        else:
            lo = _parse_date(mindate, end=False) if mindate else EARLIEST
            # A day's grace past our date: NCBI stamps entries in US Eastern time.
            hi = _parse_date(maxdate, end=True) if maxdate else self._until()
            pmids, n, notes = self._sliced(query, lo, hi, first.count)
            requests += n
            if notes:
                warnings.setdefault("litgrade", []).extend(notes)
        unique = list(dict.fromkeys(pmids))
        if len(unique) < first.count:
            warnings.setdefault("litgrade", []).append(
                f"NCBI counted {first.count} matches; {len(unique)} PMIDs could be retrieved"
            )
        return SearchResult(
            count=first.count,
            pmids=tuple(unique),
            query_translation=first.query_translation,
            errors=first.errors,
            warnings=warnings,
            source_detail=self.settings.base_url,
            requests=requests,
        )

    def _esearch(
        self, query: str, mindate: str | None, maxdate: str | None, retstart: int = 0
    ) -> tuple[ESearchPage, int]:
        params: dict[str, object] = {"db": "pubmed", "term": query, "retmax": PAGE_CAP, "retstart": retstart}
        if mindate or maxdate:
            # NCBI needs both ends of a window; the open end is the whole of PubMed.
            params.update(
                datetype="edat",
                mindate=mindate or EARLIEST.strftime("%Y/%m/%d"),
                maxdate=maxdate or _fmt(self._until()),
            )
        return self._http.call("esearch", params, lambda body: parse_esearch(body, query))

    def _until(self) -> dt.date:
        return self._today or (dt.date.today() + dt.timedelta(days=1))

    def _sliced(self, query: str, lo: dt.date, hi: dt.date, count: int) -> tuple[list[str], int, list[str]]:
        """Split [lo, hi] by entry date until every slice fits under the cap; slices run in parallel."""
        pmids: list[str] = []
        notes: list[str] = []
        requests = 0
        pending: list[tuple[dt.date, dt.date, int]] = [(lo, hi, count)]
        with ThreadPoolExecutor(self.workers, thread_name_prefix="esearch") as pool:
            while pending:
                slices: list[tuple[dt.date, dt.date]] = []
                for a, b, n in pending:
                    parts = max(2, ceil(n / (PAGE_CAP * 0.8)))  # aim below the cap: dates are lumpy
                    slices.extend(_split(a, b, parts))
                pending = []
                futures = [(a, b, pool.submit(self._esearch, query, _fmt(a), _fmt(b))) for a, b in slices]
                for a, b, future in futures:
                    page, n = future.result()
                    requests += n
                    if page.count <= PAGE_CAP or a == b:
                        if page.count > PAGE_CAP:
                            notes.append(
                                f"{page.count} entries on {_fmt(a)} alone; ESearch returns at most "
                                f"{PAGE_CAP}, so {page.count - len(page.ids)} could not be retrieved"
                            )
                        pmids.extend(page.ids)
                    else:
                        pending.append((a, b, page.count))
        return pmids, requests, notes

    # -- EFetch ----------------------------------------------------------------------------------
    def fetch(self, pmids: Sequence[str]) -> Iterator[FetchBatch]:
        """Full records for `pmids` in batches, several requests in flight, yielded in request order."""
        wanted = list(dict.fromkeys(str(p).strip() for p in pmids))
        bad = [p for p in wanted if not is_pmid(p)]
        if bad:
            yield FetchBatch(
                requested=tuple(bad),
                articles=(),
                missing=tuple(bad),
                problems=tuple(ParseProblem(None, f"not a PMID: {p[:40]!r}") for p in bad),
            )
        good = [p for p in wanted if is_pmid(p)]
        batches = [good[i : i + self.batch_size] for i in range(0, len(good), self.batch_size)]
        if not batches:
            return
        with ThreadPoolExecutor(self.workers, thread_name_prefix="efetch") as pool:
            inflight: deque[Future[FetchBatch]] = deque()
            queue = iter(batches)
            for batch in queue:
                inflight.append(pool.submit(self._fetch_batch, batch))
                if len(inflight) >= self.workers * 2:
                    break
            try:
                while inflight:
                    done = inflight.popleft().result()
                    nxt = next(queue, None)
                    if nxt is not None:
                        inflight.append(pool.submit(self._fetch_batch, nxt))
                    yield done
            finally:
                for future in inflight:  # the caller stopped early: send nothing more
                    future.cancel()

    def _fetch_batch(self, batch: list[str]) -> FetchBatch:
        requested = tuple(batch)
        params: dict[str, object] = {"db": "pubmed", "id": ",".join(batch), "retmode": "xml"}
        try:
            events, _ = self._http.call("efetch", params, _parse_efetch)
        except FetchError as exc:
            log.warning("efetch of %d PMIDs failed: %s", len(batch), exc)
            return FetchBatch(requested, (), missing=requested, failed=True, error=str(exc))
        asked = set(batch)
        articles: dict[str, Article] = {}
        problems: list[ParseProblem] = []
        for event in events:
            if isinstance(event, Article):
                if event.pmid in asked:
                    articles.setdefault(event.pmid, event)
            elif isinstance(event, ParseProblem):
                problems.append(event)
        missing = tuple(p for p in batch if p not in articles)
        return FetchBatch(requested, tuple(articles.values()), missing=missing, problems=tuple(problems))


def _parse_efetch(body: bytes) -> list[object]:
    """The answer's records; a complete answer with one unreadable record keeps the others (its
    PMID and reason become a ParseProblem); an answer cut short is asked for again."""
    from flows.pubmed.parser import PubmedXMLError, parse, parse_each_record

    head = body[:2000]
    if b"<PubmedArticleSet" not in head and (match := _TOP_ERROR.search(head)):
        raise FetchError(f"NCBI refused the fetch: {match.group(1).decode('utf-8', 'replace').strip()}")
    try:
        return list(parse(body))
    except PubmedXMLError as exc:
        salvaged = parse_each_record(body)
        if salvaged is None:
            raise RetryableResponse(str(exc)) from exc
        return list(salvaged)


def _parse_date(value: str, *, end: bool) -> dt.date:
    parsed = date_bound(value, end=end)
    if parsed is None:
        raise FetchError(f"date '{value}' is not YYYY/MM/DD")
    return parsed


def _fmt(day: dt.date) -> str:
    return f"{day.year:04d}/{day.month:02d}/{day.day:02d}"


def _split(lo: dt.date, hi: dt.date, parts: int) -> list[tuple[dt.date, dt.date]]:
    """[lo, hi] as up to `parts` consecutive whole-day ranges that do not overlap."""
    days = (hi - lo).days + 1
    parts = max(1, min(parts, days))
    edges = [lo + dt.timedelta(days=(days * i) // parts) for i in range(parts + 1)]
    return [(edges[i], edges[i + 1] - dt.timedelta(days=1)) for i in range(parts)]
