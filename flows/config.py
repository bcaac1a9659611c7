"""Where things live and how to reach NCBI: read once from the environment, passed around explicitly."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from flows.errors import ConfigError

NCBI_EUTILS_URL = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/"
TOOL_NAME = "litgrade"


def home() -> Path:
    """The folder holding `curated/`, `reports/` and `.data/`: LITGRADE_HOME, else the working directory.

    Never the installed code's location: an installed litgrade works on the checkout (or any folder)
    it is run from, as a plain `pip install .` into a fresh venv must.
    """
    return Path(os.environ.get("LITGRADE_HOME") or Path.cwd()).resolve()


def curated_dir() -> Path:
    """Where projects live: curated/<project>/claims.yaml."""
    return home() / "curated"


def reports_dir(project: str) -> Path:
    """Where a project's reports are written unless told otherwise."""
    return home() / "reports" / project


def data_dir() -> Path:
    """The project's working data folder (DuckDB files, Prefect home, passwords). Never in git."""
    return Path(os.environ.get("LITGRADE_DATA", home() / ".data")).resolve()


def db_path() -> Path:
    return Path(os.environ.get("LITGRADE_DB", data_dir() / "litgrade.duckdb")).resolve()


def mirror_path() -> Path:
    return Path(os.environ.get("LITGRADE_MIRROR", data_dir() / "mirror.duckdb")).resolve()


def quiet_prefect_environment() -> None:
    """Prefect offline and silent: no telemetry, state under the data folder, no hanging lookups.

    Must run before prefect is imported (its settings are read at import time).
    """
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_HOME", str(data_dir() / "prefect"))
    Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_CLOUD_ENABLE_ORCHESTRATION_TELEMETRY", "false")
    os.environ.setdefault("PREFECT_API_ENABLE_HTTP2", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")


@dataclass(frozen=True, slots=True)
class EutilsSettings:
    base_url: str
    email: str
    api_key: str | None
    tool: str = TOOL_NAME

    @property
    def is_live_ncbi(self) -> bool:
        return self.base_url.rstrip("/") == NCBI_EUTILS_URL.rstrip("/")

    @property
    def max_requests_per_second(self) -> float:
        """NCBI's rule: 3 requests/s without an API key, 10 with one; LITGRADE_RATE may lower it."""
        ceiling = 10.0 if self.api_key else 3.0
        override = os.environ.get("LITGRADE_RATE")
        if override:
            try:
                return min(ceiling, float(override))
            except ValueError as exc:
                raise ConfigError(f"LITGRADE_RATE={override!r} is not a number") from exc
        return ceiling


def eutils_settings() -> EutilsSettings:
    base_url = os.environ.get("LITGRADE_EUTILS_URL", NCBI_EUTILS_URL)
    if not base_url.endswith("/"):
        base_url += "/"
    email = os.environ.get("NCBI_EMAIL", "").strip()
    settings = EutilsSettings(
        base_url=base_url, email=email, api_key=os.environ.get("NCBI_API_KEY") or None
    )
    if settings.is_live_ncbi and not email:
        raise ConfigError(
            "NCBI_EMAIL is not set: NCBI requires a contact e-mail on every E-utilities request "
            "(export NCBI_EMAIL=you@example.org), or point LITGRADE_EUTILS_URL at a mirror"
        )
    return settings
