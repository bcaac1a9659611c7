"""One pace for the process: parallel claims never exceed NCBI's limit, and use most of it."""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from flows.sources.eutils.client import EutilsClient
from flows.sources.eutils.ratelimit import RateLimiter, shared_limiter
from tests.eutils_fixtures import FAST_RETRY, settings_for
from tests.standin import Corpus, Latency, max_in_window, start_standin


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now += seconds


@pytest.mark.parametrize("rate", [3, 10, 2.5])
def test_slots_never_put_more_than_rate_in_any_second(rate: float) -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate, clock=clock, sleep=clock.sleep)
    slots = []
    for _ in range(100):
        limiter.acquire()
        slots.append(clock())
    assert max_in_window(slots) <= math.ceil(rate)
    assert len(slots) / (slots[-1] + 1.0) <= rate  # on average too
    # Close to the ceiling: 100 slots take about 100 / rate seconds, not much more.
    assert slots[-1] <= (100 / rate) * 1.08


def test_starts_do_not_wait_for_answers() -> None:
    """Three starts at once (a burst, whatever their answers take); the 4th waits out the window."""
    clock = FakeClock()
    limiter = RateLimiter(3, clock=clock, sleep=clock.sleep)
    assert [limiter.acquire() for _ in range(4)] == [0.0, 0.0, 0.0, pytest.approx(1.06)]


def test_a_late_start_pushes_the_next_ones_later() -> None:
    clock = FakeClock()
    limiter = RateLimiter(1, clock=clock, sleep=lambda s: clock.sleep(s + 0.2))  # wakes 0.2 s late
    starts = []
    for _ in range(3):
        limiter.acquire()
        starts.append(clock())
    assert starts == [0.0, pytest.approx(1.26), pytest.approx(2.52)]


def test_shared_limiter_is_one_per_pace() -> None:
    assert shared_limiter(3.0) is shared_limiter(3.0)
    assert shared_limiter(3.0) is not shared_limiter(10.0)


def test_clients_share_the_process_limiter_by_default() -> None:
    corpus = Corpus()
    with start_standin(corpus, rate_limit=False) as server:
        a = EutilsClient(settings_for(server))
        b = EutilsClient(settings_for(server))
        keyed = EutilsClient(settings_for(server, api_key="k"))
    assert a.limiter is b.limiter and a.limiter.rate == 3
    assert keyed.limiter.rate == 10


def test_no_429_under_a_burst_of_parallel_claims() -> None:
    """Six claims searched and fetched at once at 3/s: the stand-in never sees 4 in a second."""
    corpus = Corpus()
    queries = {
        f"claim{i}": corpus.add_synthetic_query(f"claim{i}", 40, first_pmid=60_000_000 + i * 1000)
        for i in range(6)
    }
    with start_standin(corpus, limit_without_key=3, latency=Latency(0.05, 0.001)) as server:
        client = EutilsClient(settings_for(server), RateLimiter(3), retry=FAST_RETRY, batch_size=20)

        def refresh(term: str) -> list[str]:
            return [a.pmid for b in client.fetch(client.search(term).pmids) for a in b.articles]

        with ThreadPoolExecutor(6) as pool:
            fetched = dict(zip(queries, pool.map(refresh, queries), strict=True))
    assert {t: sorted(p) for t, p in fetched.items()} == {t: sorted(p) for t, p in queries.items()}
    assert not server.entries(status=429)
    assert server.max_in_window(1.0) <= 3
    entries = server.entries()
    assert len(entries) == 18  # 6 searches + 12 batches, no retries
    span = entries[-1].t - entries[0].t
    # Near the ceiling: 18 requests in bursts of 3 need 5 windows of ~1.06 s.
    assert (len(entries) - 3) / span >= 2.6
