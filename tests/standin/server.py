"""A real HTTP server on 127.0.0.1 that answers like NCBI E-utilities (ESearch, EFetch, EInfo).

Behaviour copied from NCBI, because the client must survive the real thing:
* ESearch pages at most 9,999 PMIDs: a larger ``retmax`` is cut to 9,999 with a WarningList note, a
  ``retstart`` above 9,998 is a top-level ERROR; an unknown phrase is an ErrorList entry, not a failure.
* EFetch silently omits unknown PMIDs; an all-unknown request returns an empty ``<PubmedArticleSet>``.
* More than 3 requests (10 with an ``api_key``) in any 1-second window, per key or per client address,
  gets HTTP 429 with NCBI's JSON body.

Knobs for tests and benchmarks: injected faults, a latency model, and a request log.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import random
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

from tests.standin.corpus import Corpus

PAGE_CAP = 9_999  # ESearch never pages past this many PMIDs for PubMed
PREFIX = "/entrez/eutils/"

ESEARCH_HEAD = (
    '<?xml version="1.0" encoding="UTF-8" ?>\n<!DOCTYPE eSearchResult PUBLIC "-//NLM//DTD esearch '
    '20060628//EN" "https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20060628/esearch.dtd">\n'
)
EFETCH_HEAD = (
    '<?xml version="1.0" ?>\n<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January '
    '2025//EN" "https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">\n'
)
RETSTART_ERROR = (
    "Search Backend failed: Exception:\n'retstart' cannot be larger than 9998. For PubMed, ESearch can "
    "only retrieve the first 9,999 records matching the query. To obtain more than 9,999 PubMed records, "
    "consider using EDirect that contains additional logic to batch PubMed search results automatically "
    "so that an arbitrary number can be retrieved. For details see https://www.ncbi.nlm.nih.gov/books/NBK25499/"
)
RETMAX_WARNING = "Retmax exceeds 9999; only the first 9999 UIDs are returned."
HTML_ERROR_PAGE = (
    "<!DOCTYPE html><html><head><title>NCBI - WWW Error 500 Diagnostic</title></head><body>"
    "<h1>Server Error</h1><p>Your request could not be processed due to a problem on our web server."
    "</p></body></html>"
)
FAULT_KINDS = ("500", "502", "slow", "truncated", "cut", "html", "error")
BACKEND_ERROR = "Search Backend failed: Database is not supported: pubmed"


@dataclass(slots=True)
class Fault:
    """Inject `kind` on matching requests: the next `times` of them, or each with `probability`.

    500 / 502: that status with an HTML page; slow: sleep `seconds` then answer normally;
    truncated: a Content-Length promising the whole body, half of it sent, connection closed
    (the client sees IncompleteRead); cut: a well-formed HTTP answer whose XML stops half-way;
    html: status 200 with an HTML error page instead of XML.
    """

    kind: str
    times: int | None = 1
    probability: float | None = None
    tools: tuple[str, ...] = ("esearch", "efetch")
    seconds: float = 2.0
    fired: int = 0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {self.kind!r}: use one of {', '.join(FAULT_KINDS)}")

    def take(self, tool: str, rng: random.Random) -> bool:
        if tool not in self.tools:
            return False
        if self.probability is not None:
            hit = rng.random() < self.probability
        else:
            hit = self.times is not None and self.fired < self.times
        if hit:
            self.fired += 1
        return hit


@dataclass(frozen=True, slots=True)
class Latency:
    """Seconds an answer takes: `base` per request plus `per_record` per EFetch record returned
    (an ESearch id list is cheap next to full records, as on NCBI)."""

    base: float = 0.0
    per_record: float = 0.0


@dataclass(frozen=True, slots=True)
class LogEntry:
    t: float  # time.monotonic() at arrival
    method: str
    tool: str  # "esearch", "efetch", "einfo" or the raw path
    params: dict[str, str]
    status: int
    bytes: int
    key: str  # what the rate limit counted against: the api_key or the client address
    fault: str | None = None
    records: int = 0  # PMIDs in an ESearch IdList or records in an EFetch answer


@dataclass(slots=True)
class _History:
    webenvs: dict[str, list[list[str]]] = field(default_factory=dict)
    counter: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def store(self, webenv: str | None, pmids: list[str]) -> tuple[str, int]:
        with self.lock:
            if not webenv or webenv not in self.webenvs:
                webenv = f"MCID_{next(self.counter):024x}"
                self.webenvs[webenv] = []
            self.webenvs[webenv].append(pmids)
            return webenv, len(self.webenvs[webenv])

    def get(self, webenv: str, query_key: str) -> list[str] | None:
        with self.lock:
            keys = self.webenvs.get(webenv)
            if keys is None or not query_key.isdigit() or not 1 <= int(query_key) <= len(keys):
                return None
            return keys[int(query_key) - 1]


class _RateWindow:
    """NCBI's rule as observed: over `limit` requests in any 1-second window → 429 (not counted)."""

    def __init__(self) -> None:
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def admit(self, key: str, limit: int, now: float) -> int:
        """0 if admitted, else how many requests the window would hold."""
        with self._lock:
            seen = self._seen.setdefault(key, deque())
            while seen and seen[0] <= now - 1.0:
                seen.popleft()
            if len(seen) >= limit:
                return len(seen) + 1
            seen.append(now)
            return 0


@dataclass(slots=True)
class Knobs:
    rate_limit: bool = True
    limit_without_key: int = 3
    limit_with_key: int = 10
    latency: Latency = field(default_factory=Latency)
    faults: list[Fault] = field(default_factory=list)
    today: dt.date = field(default_factory=dt.date.today)  # what reldate counts back from
    seed: int = 0


def max_in_window(times: Sequence[float], window: float = 1.0) -> int:
    """Most of `times` that fall within any span shorter than `window` seconds."""
    ordered = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(ordered):
        while t - ordered[lo] >= window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def _parse_date(value: str, end: bool) -> dt.date | None:
    m = re.fullmatch(r"\s*(\d{4})(?:[/-](\d{1,2}))?(?:[/-](\d{1,2}))?\s*", value)
    if not m:
        return None
    year, month, day = int(m.group(1)), m.group(2), m.group(3)
    if month is None:
        return dt.date(year, 12, 31) if end else dt.date(year, 1, 1)
    if day is None:
        first = dt.date(year, int(month), 1)
        if not end:
            return first
        nxt = dt.date(year + (first.month == 12), first.month % 12 + 1, 1)
        return nxt - dt.timedelta(days=1)
    return dt.date(year, int(month), int(day))


def _fmt(day: dt.date) -> str:
    return f"{day.year:04d}/{day.month:02d}/{day.day:02d}"


def _list_xml(tag: str, entries: dict[str, list[str]]) -> str:
    inner = "".join(f"<{k}>{escape(v)}</{k}>" for k, vs in entries.items() for v in vs)
    return f"<{tag}>{inner}</{tag}>" if inner else ""


class StandIn:
    """The running server. Use as a context manager; `.base_url` ends with ``/entrez/eutils/``."""

    def __init__(self, corpus: Corpus, knobs: Knobs, port: int = 0) -> None:
        self.corpus = corpus
        self.knobs = knobs
        self.log: list[LogEntry] = []
        self._log_lock = threading.Lock()
        self._fault_lock = threading.Lock()
        self._busy = 0  # requests being answered
        self._busy_cond = threading.Condition()
        self._rng = random.Random(knobs.seed)
        self._history = _History()
        self._window = _RateWindow()
        self._server = _StampingServer(("127.0.0.1", port), _make_handler(self), bind_and_activate=False)
        # stop() waits for answers still being written, so the log is complete once it returns.
        self._server.daemon_threads = False
        self._server.block_on_close = True
        self._server.request_queue_size = 256
        self._server.server_bind()
        self._server.server_activate()
        self.port: int = self._server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}{PREFIX}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="standin", daemon=True
        )

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> StandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> StandIn:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- knobs and inspection ----------------------------------------------------------------------
    def add_fault(self, kind: str, **kwargs: object) -> Fault:
        fault = Fault(kind, **kwargs)  # type: ignore[arg-type]
        with self._fault_lock:
            self.knobs.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._fault_lock:
            self.knobs.faults.clear()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until no request is being answered (e.g. those of a client that was killed)."""
        with self._busy_cond:
            return self._busy_cond.wait_for(lambda: self._busy == 0, timeout)

    def clear_log(self) -> None:
        with self._log_lock:
            self.log.clear()

    def entries(self, tool: str | None = None, status: int | None = None) -> list[LogEntry]:
        with self._log_lock:
            return [
                e
                for e in self.log
                if (tool is None or e.tool == tool) and (status is None or e.status == status)
            ]

    def max_in_window(self, window: float = 1.0, statuses: Sequence[int] | None = None) -> int:
        """Most requests that arrived within any `window`-second span (optionally of some statuses)."""
        return max_in_window(
            [e.t for e in self.entries() if statuses is None or e.status in statuses], window
        )

    def _record(self, entry: LogEntry) -> None:
        with self._log_lock:
            self.log.append(entry)

    def _pick_fault(self, tool: str) -> Fault | None:
        with self._fault_lock:
            for fault in self.knobs.faults:
                if fault.take(tool, self._rng):
                    return fault
        return None

    # -- E-utilities ---------------------------------------------------------------------------------
    def esearch(self, p: dict[str, str]) -> tuple[str, int]:
        """(XML, number of PMIDs in the IdList)."""
        if p.get("db", "pubmed") != "pubmed":
            return self._esearch_error(f"Invalid db name specified: {p.get('db')}"), 0
        term = p.get("term", "").strip()
        if not term:
            return self._esearch_error("Empty term and query_key - nothing todo"), 0
        try:
            retstart = int(p.get("retstart", "0") or 0)
            retmax = int(p.get("retmax", "20") or 20)
        except ValueError:
            return self._esearch_error("Invalid retstart or retmax value"), 0
        if retstart > PAGE_CAP - 1:
            return self._esearch_error(RETSTART_ERROR), 0
        warnings: dict[str, list[str]] = {}
        if retmax > PAGE_CAP:
            retmax = PAGE_CAP
            warnings.setdefault("OutputMessage", []).append(RETMAX_WARNING)
        entry = self.corpus.queries.get(term)
        errors: dict[str, list[str]] = {}
        translation_set = ""
        if entry is None:
            hits: list[str] = []
            translation = f"({term}[All Fields])"
            errors["PhraseNotFound"] = [term]
        else:
            hits = entry.pmids
            translation = entry.translation
            errors = {k: list(v) for k, v in entry.errors.items()}
            for k, v in entry.warnings.items():
                warnings.setdefault(k, []).extend(v)
            if entry.translation != f"{term}[All Fields]":
                translation_set = f"<Translation><From>{escape(term)}</From><To>{escape(entry.translation)}</To></Translation>"
        lo, hi = self._date_window(p)
        if lo or hi:
            lo = lo or dt.date(1000, 1, 1)
            hi = hi or dt.date(3000, 12, 31)
            edat = self.corpus.edat
            hits = [x for x in hits if lo <= edat.get(x, dt.date(2000, 1, 1)) <= hi]
            translation += f" AND {_fmt(lo)}:{_fmt(hi)}[Date - Entry]"
        if not hits:
            warnings.setdefault("OutputMessage", []).append("No items found.")
        page = hits[retstart : retstart + retmax]
        history = ""
        if p.get("usehistory", "").lower() == "y":
            webenv, key = self._history.store(p.get("WebEnv"), hits)
            history = f"<QueryKey>{key}</QueryKey><WebEnv>{webenv}</WebEnv>"
        ids = "".join(f"<Id>{x}</Id>\n" for x in page)
        body = (
            f"<eSearchResult><Count>{len(hits)}</Count><RetMax>{len(page)}</RetMax>"
            f"<RetStart>{retstart}</RetStart>{history}"
            + (f"<IdList>\n{ids}</IdList>" if page else "<IdList/>")
            + (
                f"<TranslationSet>{translation_set}</TranslationSet>"
                if translation_set
                else "<TranslationSet/>"
            )
            + f"<QueryTranslation>{escape(translation)}</QueryTranslation>"
            + _list_xml("ErrorList", errors)
            + _list_xml("WarningList", warnings)
            + "</eSearchResult>\n"
        )
        return ESEARCH_HEAD + body, len(page)

    def _date_window(self, p: dict[str, str]) -> tuple[dt.date | None, dt.date | None]:
        reldate = p.get("reldate", "").strip()
        if reldate.isdigit():
            return self.knobs.today - dt.timedelta(days=int(reldate)), self.knobs.today
        lo = _parse_date(p["mindate"], end=False) if p.get("mindate") else None
        hi = _parse_date(p["maxdate"], end=True) if p.get("maxdate") else None
        return lo, hi

    @staticmethod
    def _esearch_error(message: str) -> str:
        return ESEARCH_HEAD + f"<eSearchResult><ERROR>{escape(message)}</ERROR></eSearchResult>\n"

    def efetch(self, p: dict[str, str]) -> tuple[str, int, str]:
        """(body, records returned, content type)."""
        if p.get("db", "") != "pubmed":
            return self._efetch_error(f"Invalid db name specified: {p.get('db')}"), 0, "text/xml"
        if p.get("retmode", "").lower() != "xml":
            # What NCBI did for PubMed without retmode=xml: an HTML page around ASN.1 text.
            return "<html><body><pre>Pubmed-entry ::= { ... }</pre></body></html>", 0, "text/html"
        if p.get("id", "").strip():
            wanted = [x.strip() for x in p["id"].split(",") if x.strip()]
        elif p.get("WebEnv") and p.get("query_key"):
            stored = self._history.get(p["WebEnv"], p["query_key"])
            if stored is None:
                return self._efetch_error(f"Unable to obtain query #{p['query_key']}"), 0, "text/xml"
            start = int(p.get("retstart", "0") or 0)
            wanted = stored[start : start + int(p.get("retmax", "20") or 20)]
        else:
            return self._efetch_error("Empty id list - nothing todo"), 0, "text/xml"
        records = []
        for pmid in dict.fromkeys(wanted):
            xml = self.corpus.record(pmid)
            if xml is not None:
                records.append(xml)
        inner = "".join(r + "\n" for r in records)
        return (
            EFETCH_HEAD + "<PubmedArticleSet>\n" + inner + "</PubmedArticleSet>\n",
            len(records),
            "text/xml",
        )

    @staticmethod
    def _efetch_error(message: str) -> str:
        return f'<?xml version="1.0" ?>\n<eFetchResult><ERROR>{escape(message)}</ERROR></eFetchResult>\n'

    @staticmethod
    def einfo() -> str:
        return (
            '<?xml version="1.0" encoding="UTF-8" ?>\n<eInfoResult><DbInfo><DbName>pubmed</DbName>'
            "<MenuName>PubMed</MenuName><Description>PubMed bibliographic record</Description>"
            "</DbInfo></eInfoResult>\n"
        )


class _StampingServer(ThreadingHTTPServer):
    """Stamps each connection when it is accepted, before a thread is started for it: the arrival
    NCBI's rate window counts. (Stamped in the handler thread instead, a busy test process delays
    some stamps by hundreds of ms and the window sees arrivals closer than they were.)"""

    def process_request(self, request: Any, client_address: Any) -> None:
        request_arrivals[request.fileno()] = time.monotonic()
        super().process_request(request, client_address)


request_arrivals: dict[int, float] = {}  # socket fd → monotonic time the connection was accepted


def _make_handler(standin: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "litgrade-standin/1"

        def log_message(self, format: str, *args: object) -> None:
            pass  # the request log is `standin.log`

        def do_GET(self) -> None:
            self._serve(urlsplit(self.path).query)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
            query = urlsplit(self.path).query
            self._serve(f"{query}&{body}" if query else body)

        def _serve(self, query: str) -> None:
            with standin._busy_cond:
                standin._busy += 1
            try:
                self._answer(query)
            finally:
                with standin._busy_cond:
                    standin._busy -= 1
                    standin._busy_cond.notify_all()

        def _answer(self, query: str) -> None:
            now = request_arrivals.pop(self.request.fileno(), None) or time.monotonic()
            path = urlsplit(self.path).path
            tool = path[len(PREFIX) :].removesuffix(".fcgi") if path.startswith(PREFIX) else path
            multi = parse_qs(query, keep_blank_values=True)
            # Repeated id= parameters join like comma-separated ones; other repeats: the last wins.
            params = {k: (",".join(v) if k == "id" else v[-1]) for k, v in multi.items()}
            key = params.get("api_key") or self.client_address[0]
            log = dict(method=self.command, tool=tool, params=params, key=key, t=now)
            knobs = standin.knobs
            if knobs.rate_limit:
                limit = knobs.limit_with_key if params.get("api_key") else knobs.limit_without_key
                over = standin._window.admit(key, limit, now)
                if over:
                    body = json.dumps(
                        {
                            "error": "API rate limit exceeded",
                            "api-key": key,
                            "count": str(over),
                            "limit": str(limit),
                        },
                        separators=(",", ":"),
                    ).encode()
                    self._send(429, body, "application/json", log, headers={"Retry-After": "1"})
                    return
            if tool not in ("esearch", "efetch", "einfo"):
                self._send(404, b"<html><body>404 Not Found</body></html>", "text/html", log)
                return
            fault = standin._pick_fault(tool)
            if fault is not None:
                log["fault"] = fault.kind
                if fault.kind in ("500", "502"):
                    self._send(int(fault.kind), HTML_ERROR_PAGE.encode(), "text/html", log)
                    return
                if fault.kind == "html":
                    self._send(200, HTML_ERROR_PAGE.encode(), "text/html", log)
                    return
                if fault.kind == "error":
                    text = (
                        standin._esearch_error(BACKEND_ERROR)
                        if tool == "esearch"
                        else standin._efetch_error(BACKEND_ERROR)
                    )
                    self._send(200, text.encode(), "text/xml; charset=UTF-8", log)
                    return
                if fault.kind == "slow":
                    time.sleep(fault.seconds)
            records = 0
            ctype = "text/xml; charset=UTF-8"
            if tool == "esearch":
                text, records = standin.esearch(params)
            elif tool == "efetch":
                text, records, kind = standin.efetch(params)
                if kind == "text/html":
                    ctype = "text/html"
            else:
                text = standin.einfo()
            log["records"] = records
            pause = knobs.latency.base + knobs.latency.per_record * (records if tool == "efetch" else 0)
            if pause > 0:
                time.sleep(pause)
            data = text.encode("utf-8")
            if fault is not None and fault.kind == "cut":
                data = data[: len(data) // 2]
            if fault is not None and fault.kind == "truncated":
                self._send_truncated(data, ctype, log)
                return
            self._send(200, data, ctype, log)

        def _send(
            self,
            status: int,
            data: bytes,
            ctype: str,
            log: dict[str, object],
            headers: dict[str, str] | None = None,
        ) -> None:
            # Logged before sending, so a client that has its answer can already see the entry.
            standin._record(LogEntry(status=status, bytes=len(data), **log))  # type: ignore[arg-type]
            try:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                pass  # the client gave up (timeout)

        def _send_truncated(self, data: bytes, ctype: str, log: dict[str, object]) -> None:
            half = data[: len(data) // 2]
            standin._record(LogEntry(status=200, bytes=len(half), **log))  # type: ignore[arg-type]
            try:
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(half)
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.close_connection = True

    return Handler


def start_standin(
    corpus: Corpus | None = None,
    *,
    rate_limit: bool = True,
    limit_without_key: int = 3,
    limit_with_key: int = 10,
    latency: Latency | None = None,
    faults: Sequence[Fault] = (),
    today: dt.date | None = None,
    seed: int = 0,
    port: int = 0,
) -> StandIn:
    """A stand-in server (not yet serving: use it as a context manager, or call `.start()`)."""
    knobs = Knobs(
        rate_limit=rate_limit,
        limit_without_key=limit_without_key,
        limit_with_key=limit_with_key,
        latency=latency or Latency(),
        faults=list(faults),
        today=today or dt.date.today(),
        seed=seed,
    )
    return StandIn(corpus or Corpus(), knobs, port)
