"""Where things live and how to reach NCBI: read once from the environment, passed around explicitly."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from flows.errors import ConfigError, InputError

if TYPE_CHECKING:
    from flows.sources.spec import EutilsSpec, MirrorSpec, SourceSpec


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


def prefect_logs_to_file(log_file: Path) -> Path:
    """Prefect's own log lines (flow and task states, tracebacks) go to `log_file`, not the terminal.

    Writes a logging config beside it (Prefect's shipped one with its console and debug handlers
    replaced by a file handler) and points PREFECT_LOGGING_SETTINGS_PATH at it, unless already set.
    Must run before prefect is imported. The CLI prints its own one-line outcome per claim.
    """
    import importlib.util

    if os.environ.get("PREFECT_LOGGING_SETTINGS_PATH"):
        return Path(os.environ["PREFECT_LOGGING_SETTINGS_PATH"])
    found = importlib.util.find_spec("prefect")
    locations = list(found.submodule_search_locations or []) if found else []
    if not locations:
        return log_file
    shipped = Path(locations[0]) / "logging" / "logging.yml"
    target = log_file.with_name("logging.yml")
    if not _logging_config_current(target, shipped, log_file):
        _write_logging_config(target, shipped, log_file)
    os.environ["PREFECT_LOGGING_SETTINGS_PATH"] = str(target)
    return target


def _logging_config_current(target: Path, shipped: Path, log_file: Path) -> bool:
    """`target` was written from this Prefect's shipped file for `log_file`: no YAML to parse (every
    command asks this before Prefect starts)."""
    try:
        newer = target.stat().st_mtime_ns >= shipped.stat().st_mtime_ns
        return newer and str(log_file) in target.read_text(encoding="utf-8")
    except OSError:
        return False


def _write_logging_config(target: Path, shipped: Path, log_file: Path) -> None:
    import yaml

    settings = yaml.safe_load(shipped.read_text(encoding="utf-8"))
    for name in ("console", "debug"):
        handler = settings["handlers"][name]
        settings["handlers"][name] = {
            "level": handler.get("level", 0),
            "class": "logging.FileHandler",
            "formatter": handler.get("formatter", "standard"),
            "filename": str(log_file),
            "encoding": "utf-8",
            "delay": True,
        }
    log_file.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(settings, sort_keys=False)
    if not target.exists() or target.read_text(encoding="utf-8") != text:
        from flows.atomic import write_atomic

        write_atomic(target, text)


# Set by flows/pipeline/server.py to the URL of the data folder's own local Prefect server.
LOCAL_PREFECT_API = "LITGRADE_LOCAL_PREFECT_API"


def prefect_server_paces() -> bool:
    """A Prefect server the user runs (PREFECT_API_URL) holds the NCBI pace for every process, on
    every machine, unless LITGRADE_GLOBAL_PACE=off (a server no other process shares, or a measurement
    of the per-process limiter alone). The data folder's own local server does not: it serves one
    machine, whose processes already share the pace file (flows/sources/eutils/ratelimit.py) without
    an HTTP round trip per request, and without the server's back-off (a request within a slot's
    decay of another command's waited 2 s, measured)."""
    if os.environ.get("LITGRADE_GLOBAL_PACE", "on").strip().lower() in {"off", "0", "false", "no"}:
        return False
    url = os.environ.get("PREFECT_API_URL")
    return bool(url) and url != os.environ.get(LOCAL_PREFECT_API)


def eutils_settings() -> EutilsSpec:
    """E-utilities as this environment configures it: LITGRADE_EUTILS_URL, NCBI_EMAIL, NCBI_API_KEY,
    LITGRADE_RATE (a ceiling below NCBI's 3 or 10 requests/s) and the global pace."""
    from pydantic import SecretStr  # imported here (as the spec is) to keep `litgrade --help` fast

    from flows.sources.spec import NCBI_EUTILS_URL, EutilsSpec

    base_url = os.environ.get("LITGRADE_EUTILS_URL", NCBI_EUTILS_URL)
    if not base_url.endswith("/"):
        base_url += "/"
    email = os.environ.get("NCBI_EMAIL", "").strip()
    api_key = os.environ.get("NCBI_API_KEY") or None
    override = os.environ.get("LITGRADE_RATE")
    try:
        rate = float(override) if override else None
    except ValueError as exc:
        raise ConfigError(f"LITGRADE_RATE={override!r} is not a number") from exc
    settings = EutilsSpec(
        base_url=base_url,
        email=email,
        api_key=SecretStr(api_key) if api_key else None,
        rate=rate,
        global_pace=prefect_server_paces(),
    )
    if settings.is_live_ncbi and not email:
        raise ConfigError(
            "NCBI_EMAIL is not set: NCBI requires a contact e-mail on every E-utilities request "
            "(export NCBI_EMAIL=you@example.org), or point LITGRADE_EUTILS_URL at a mirror"
        )
    return settings


def mirror_spec() -> MirrorSpec:
    """The mirror file this environment names (LITGRADE_MIRROR), which must exist."""
    from flows.sources.spec import MirrorSpec

    path = mirror_path()
    if not path.exists():
        raise ConfigError(
            f"no mirror at {path}: build one with `litgrade mirror ingest FILE...` or set LITGRADE_MIRROR"
        )
    return MirrorSpec(path=path)


def source_spec(kind: str) -> SourceSpec:
    """The source named on the command line or in a deployment, configured from this environment.

    Raises ConfigError (NCBI_EMAIL missing, no mirror file) or InputError (unknown name) in one line,
    so the CLI answers before any flow starts.
    """
    from flows.sources.spec import SOURCE_KINDS

    if kind == "eutils":
        return eutils_settings()
    if kind == "mirror":
        return mirror_spec()
    raise InputError(f"unknown source '{kind}': use {' or '.join(repr(k) for k in SOURCE_KINDS)}")
