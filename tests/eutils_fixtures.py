"""Fixtures for tests that talk to the E-utilities stand-in (import them into your test module)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

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
