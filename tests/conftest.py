"""Shared test set-up: offline, quiet Prefect; paths to ../shared; one Prefect harness per session.

Area-specific fixtures live in tests/<area>_fixtures.py and are imported by the tests that use them.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DIR = REPO_ROOT.parent / "shared"
SAMPLES_DIR = SHARED_DIR / "ncbi-samples"
K2_CORPUS_DIR = SHARED_DIR / "k2-corpus"

# Everything a test run writes goes under one temporary data folder, never the user's home or .data/.
_SESSION_DATA = Path(tempfile.mkdtemp(prefix="litgrade-test-"))
os.environ["LITGRADE_DATA"] = str(_SESSION_DATA)
os.environ["LITGRADE_DB"] = str(_SESSION_DATA / "session.duckdb")
os.environ["LITGRADE_MIRROR"] = str(_SESSION_DATA / "mirror.duckdb")
os.environ.setdefault("NCBI_EMAIL", "tests@litgrade.invalid")
os.environ.pop("NCBI_API_KEY", None)
# A local Prefect server started by a test's subprocess must not outlive the session by an hour.
os.environ.setdefault("LITGRADE_SERVER_IDLE_MINUTES", "1")
# Never NCBI: a test that forgets to point at the stand-in fails fast on a closed port.
os.environ["LITGRADE_EUTILS_URL"] = "http://127.0.0.1:9/entrez/eutils/"

from flows.config import quiet_prefect_environment  # noqa: E402

quiet_prefect_environment()


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    if not SAMPLES_DIR.is_dir():
        pytest.fail(f"{SAMPLES_DIR} is missing: tests read real NCBI samples from ../shared")
    return SAMPLES_DIR


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One ephemeral Prefect API for the whole session (starting one costs seconds)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture()
def tmp_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh DuckDB store path for one test, exported as LITGRADE_DB."""
    path = tmp_path / "store.duckdb"
    monkeypatch.setenv("LITGRADE_DB", str(path))
    return path
