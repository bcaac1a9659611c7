"""Fixtures for tests that talk to the E-utilities stand-in (import them into your test module)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flows.sources.eutils.client import EutilsClient
from flows.sources.eutils.http import RetryPolicy
from flows.sources.eutils.ratelimit import RateLimiter
from flows.sources.spec import EutilsSpec
from tests.standin import Corpus, StandIn, load_corpus_dir, start_standin


@pytest.fixture(scope="session")
def sample_corpus(samples_dir: Path) -> Corpus:
    """Every record of the real efetch samples; each file's stem is also a query for its PMIDs."""
    return load_corpus_dir(samples_dir)


@pytest.fixture()
def standin(sample_corpus: Corpus, monkeypatch: pytest.MonkeyPatch) -> Iterator[StandIn]:
    """A stand-in on the sample corpus, no rate limit, exported as LITGRADE_EUTILS_URL."""
    with start_standin(sample_corpus, rate_limit=False) as server:
        monkeypatch.setenv("LITGRADE_EUTILS_URL", server.base_url)
        yield server


FAST_RETRY = RetryPolicy(attempts=5, base=0.01, cap=0.05, throttled_floor=0.05)


def settings_for(server: StandIn, api_key: str | None = None) -> EutilsSpec:
    return EutilsSpec(base_url=server.base_url, email="tests@litgrade.invalid", api_key=api_key)


def fast_client(server: StandIn, *, rate: float = 200.0, **kwargs: Any) -> EutilsClient:
    """A client for tests that are not about pacing: its own generous limiter, quick retries."""
    kwargs.setdefault("retry", FAST_RETRY)
    return EutilsClient(settings_for(server), RateLimiter(rate), **kwargs)
