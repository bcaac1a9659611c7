"""The one chokepoint every E-utilities request goes through: pace, send, read, check, retry.

Requests are built by Biopython (``Bio.Entrez._build_request``: tool/email/api_key, id joining, and
POST once the parameters grow long or reach 200 ids), but sent here rather than by ``Entrez._open``:
its pacing is a module global that is not thread-safe and its retries (3 × 15 s, a 429 retried at
once) would stack under ours. Here there is one limiter for the process and one retry policy:
exponential backoff with full jitter on 429, 5xx, connection errors, ``IncompleteRead``, timeouts and
answers that are not the complete XML expected.
"""

from __future__ import annotations

import http.client
import logging
import random
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from Bio import Entrez

from flows.errors import FetchError
from flows.sources.eutils.ratelimit import RateLimiter
from flows.sources.spec import EutilsSpec

log = logging.getLogger("litgrade.eutils")
T = TypeVar("T")


class RetryableResponse(Exception):
    """The answer arrived but is unusable (an error page, XML cut short): ask again."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 6  # tries in all, the first included
    base: float = 1.0  # seconds; the n-th retry waits up to base * 2**(n-1)
    cap: float = 30.0
    throttled_floor: float = 1.0  # after a 429 wait at least this long: NCBI's window is 1 s

    def delay(self, retry: int, throttled: bool, rng: random.Random) -> float:
        ceiling = min(self.cap, self.base * 2 ** (retry - 1))
        wait = rng.uniform(0, ceiling)  # full jitter: parallel callers do not retry in lockstep
        return max(wait, self.throttled_floor) if throttled else wait


class ClientStats:
    """Counts for one client, safe to update from many threads; the refresh flow logs `as_dict()`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.retries = 0
        self.throttled = 0  # HTTP 429 answers
        self.failures = 0  # requests that gave up after every retry
        self.bytes = 0
        self.seconds = 0.0  # summed request time (overlapping requests each count)

    def add(self, **deltas: float) -> None:
        with self._lock:
            for key, value in deltas.items():
                setattr(self, key, getattr(self, key) + value)

    def as_dict(self) -> dict[str, float]:
        with self._lock:
            return {
                "requests": self.requests,
                "retries": self.retries,
                "throttled": self.throttled,
                "failures": self.failures,
                "bytes": self.bytes,
                "seconds": round(self.seconds, 3),
            }


class Transport:
    def __init__(
        self,
        settings: EutilsSpec,
        limiter: RateLimiter,
        retry: RetryPolicy,
        stats: ClientStats,
        timeout: float,
    ) -> None:
        self.settings = settings
        self.limiter = limiter
        self.retry = retry
        self.stats = stats
        self.timeout = timeout
        self._rng = random.Random()
        self._rng_lock = threading.Lock()

    def build(self, tool: str, params: dict[str, object]) -> urllib.request.Request:
        full: dict[str, object] = {"tool": self.settings.tool, "email": self.settings.email}
        if self.settings.key:
            full["api_key"] = self.settings.key
        full.update(params)
        return Entrez._build_request(f"{self.settings.base_url}{tool}.fcgi", full)

    def call(self, tool: str, params: dict[str, object], check: Callable[[bytes], T]) -> tuple[T, int]:
        """`check(body)` of the first usable answer, and how many requests it took.

        `check` raises RetryableResponse for an unusable answer, or FetchError for one that retrying
        cannot fix (NCBI's top-level ERROR). Raises FetchError once the retries are spent.
        """
        last = "no request made"
        for attempt in range(1, self.retry.attempts + 1):
            if attempt > 1:
                with self._rng_lock:
                    pause = self.retry.delay(attempt - 1, last.startswith("HTTP 429"), self._rng)
                self.stats.add(retries=1)
                time.sleep(pause)
            try:
                return check(self._send(tool, params)), attempt
            except _Transient as exc:
                last = str(exc)
            except RetryableResponse as exc:
                last = str(exc)
                log.debug("eutils %s unusable answer: %s", tool, last)
        self.stats.add(failures=1)
        raise FetchError(
            f"{self.settings.base_url}{tool}.fcgi failed {self.retry.attempts} times; last: {last}"
        )

    def _send(self, tool: str, params: dict[str, object]) -> bytes:
        request = self.build(tool, params)
        self.limiter.acquire()
        start = time.monotonic()
        status: int | str = "-"
        _on_sent.hook = self.limiter.sent  # the slot counts from the send, not from the start
        try:
            with _OPENER.open(request, timeout=self.timeout) as response:
                status = response.status
                body: bytes = response.read()
                ctype = response.headers.get_content_type()
            self.stats.add(requests=1, bytes=len(body), seconds=time.monotonic() - start)
            if ctype == "text/html":
                raise RetryableResponse(f"HTTP {status} with an HTML page instead of XML")
            return body
        except urllib.error.HTTPError as exc:
            status = exc.code
            self.stats.add(requests=1, seconds=time.monotonic() - start, throttled=int(exc.code == 429))
            detail = _error_text(exc)
            if exc.code == 429 or exc.code >= 500:
                raise _Transient(f"HTTP {exc.code} {detail}") from exc
            raise FetchError(
                f"{tool} request refused with HTTP {exc.code} ({detail}); check LITGRADE_EUTILS_URL "
                "and the query"
            ) from exc
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            # URLError (refused, DNS), IncompleteRead / RemoteDisconnected, socket timeouts, resets.
            self.stats.add(requests=1, seconds=time.monotonic() - start)
            status = type(exc).__name__
            reason = getattr(exc, "reason", None) or exc
            if isinstance(exc, http.client.IncompleteRead):
                reason = f"IncompleteRead: got {len(exc.partial)} bytes, {exc.expected} more expected"
            elif isinstance(exc, socket.timeout | TimeoutError):
                reason = f"no answer within {self.timeout:g} s"
            raise _Transient(f"{type(exc).__name__}: {reason}") from exc
        finally:
            _on_sent.hook = None
            self.limiter.sent()  # a request that failed before it was sent frees nothing early
            log.debug(
                "eutils tool=%s %s status=%s elapsed=%.3fs",
                self.settings.tool,
                tool,
                status,
                time.monotonic() - start,
            )


_on_sent = threading.local()  # what the sending thread does once its request is on the wire


class _SentHTTPConnection(http.client.HTTPConnection):
    def getresponse(self) -> http.client.HTTPResponse:
        # urllib has written the whole request by the time it asks for the response.
        hook = getattr(_on_sent, "hook", None)
        if hook is not None:
            hook()
        return super().getresponse()


class _SentHTTPSConnection(http.client.HTTPSConnection):
    def getresponse(self) -> http.client.HTTPResponse:
        hook = getattr(_on_sent, "hook", None)
        if hook is not None:
            hook()
        return super().getresponse()


class _HTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_SentHTTPConnection, req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_SentHTTPSConnection, req, context=getattr(self, "_context", None))


# urllib's own opener (proxies from the environment, redirects, TLS), with connections that tell the
# limiter when a request has really been sent.
_OPENER = urllib.request.build_opener(_HTTPHandler, _HTTPSHandler)


class _Transient(Exception):
    """A failure worth retrying: throttled, server error, or the connection broke."""


def _error_text(exc: urllib.error.HTTPError) -> str:
    try:
        text = exc.read(300).decode("utf-8", "replace")
    except (OSError, http.client.HTTPException):
        text = ""
    text = " ".join(text.split())
    return (text[:200] + "…") if len(text) > 200 else (text or str(exc.reason))
