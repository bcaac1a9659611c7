"""One local Prefect server per data folder: started on first use, reused by every later command.

Each `refresh`, `update` or `demo` used to start Prefect's ephemeral server (SQLite, migrations,
uvicorn: seconds of CPU) and throw it away. Instead the first command starts `prefect server start`
bound to 127.0.0.1 on a free port, through a small keeper process (`python -m flows.pipeline.server`)
that stops it after LITGRADE_SERVER_IDLE_MINUTES (default 60) with no litgrade command using it.
Everything lives under <data folder>/prefect-server/: server.json (keeper pid, port, URL), server.log,
and the locks; Prefect's own state stays in PREFECT_HOME (<data folder>/prefect/).

- `start.lock` (exclusive flock): two commands starting at once share one server.
- `use.lock` (shared flock, held by each command for its lifetime): the keeper stops an idle server only
  while it holds the lock exclusively, so it never stops one a command is about to use.
- A recorded server whose keeper is dead or that does not answer /api/ready is replaced.
- Prefect's SQLite database that cannot be opened or migrated (a full disk mid-migration) is set aside
  with a timestamp and re-created: it holds no project data (the store and curated/ do).

Nothing here imports Prefect: a command decides where Prefect's API is before Prefect reads its settings.
PREFECT_API_URL set by the user (their own server) wins; LITGRADE_PREFECT_SERVER=ephemeral keeps
Prefect's per-process ephemeral server.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

from flows import config
from flows.atomic import write_atomic
from flows.errors import LitgradeError

START_TIMEOUT_SECONDS = 120.0
DEFAULT_IDLE_MINUTES = 60.0
KEEPER_POLL_SECONDS = 5.0


class PrefectServerError(LitgradeError):
    """The local Prefect server could not be started."""

    exit_code = 5


@dataclass(frozen=True)
class ServerInfo:
    pid: int  # the keeper; its process group holds the Prefect server
    port: int
    url: str  # the API URL (…/api)
    started_at: str
    prefect_home: str


def server_dir() -> Path:
    return config.data_dir() / "prefect-server"


def info_path() -> Path:
    return server_dir() / "server.json"


def log_path() -> Path:
    return server_dir() / "server.log"


def prefect_home() -> Path:
    return Path(os.environ.get("PREFECT_HOME") or config.data_dir() / "prefect")


def database_path() -> Path:
    """Prefect's SQLite file (its default place under PREFECT_HOME)."""
    return prefect_home() / "prefect.db"


def idle_minutes() -> float:
    raw = os.environ.get("LITGRADE_SERVER_IDLE_MINUTES", "")
    try:
        return float(raw) if raw.strip() else DEFAULT_IDLE_MINUTES
    except ValueError:
        return DEFAULT_IDLE_MINUTES


def mode() -> str:
    """'external' (PREFECT_API_URL given), 'ephemeral' (asked for), else 'local' (this module's server)."""
    if os.environ.get("PREFECT_API_URL"):
        return "external"
    if os.environ.get("LITGRADE_PREFECT_SERVER", "local").strip().lower() == "ephemeral":
        return "ephemeral"
    return "local"


def read_info() -> ServerInfo | None:
    try:
        data = json.loads(info_path().read_text(encoding="utf-8"))
        return ServerInfo(**data)
    except (OSError, ValueError, TypeError):
        return None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped) counts as dead.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def ready(url: str, timeout: float = 2.0) -> bool:
    """The API answers /ready (it checks the database too). Through http.client: every command asks
    this, and urllib.request alone takes longer to import (36 ms) than the answer takes (3 ms)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        return False
    connection = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    try:
        connection.request("GET", f"{parts.path}/ready")
        return connection.getresponse().status == 200
    except (OSError, ValueError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def running() -> ServerInfo | None:
    """The recorded server when its keeper lives and it answers; else None."""
    info = read_info()
    if info is not None and alive(info.pid) and ready(info.url):
        return info
    return None


@contextlib.contextmanager
def _flock(name: str, kind: int) -> Iterator[IO[str]]:
    server_dir().mkdir(parents=True, exist_ok=True)
    with (server_dir() / name).open("a+") as handle:
        fcntl.flock(handle.fileno(), kind)
        yield handle


_use_handle: IO[str] | None = None


def hold_use() -> None:
    """Mark this process as using the server until it exits (a shared lock the keeper respects)."""
    global _use_handle
    if _use_handle is None:
        server_dir().mkdir(parents=True, exist_ok=True)
        _use_handle = (server_dir() / "use.lock").open("a+")
        fcntl.flock(_use_handle.fileno(), fcntl.LOCK_SH)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_environment(home: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_SERVER_UI_ENABLED": "false",
        "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
        "PREFECT_LOGGING_LEVEL": "WARNING",
    }
    env.pop("PREFECT_API_URL", None)
    return env


def _stop_group(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM the keeper's process group (keeper and server), SIGKILL what is left after `timeout`."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except (ProcessLookupError, PermissionError):
            return
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def database_openable(path: Path) -> bool:
    """Prefect's SQLite file passes SQLite's quick check (a missing file is fine: Prefect creates it)."""
    if not path.exists():
        return True
    import sqlite3

    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            row = con.execute("PRAGMA quick_check").fetchone()
        finally:
            con.close()
    except sqlite3.Error:
        return False
    return bool(row and row[0] == "ok")


def set_aside_database(path: Path) -> Path:
    """Rename Prefect's database (and its -wal/-shm) with a timestamp; return the new name."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.broken-{stamp}")
    for suffix in ("", "-wal", "-shm", "-journal"):
        part = Path(f"{path}{suffix}")
        if part.exists():
            part.rename(Path(f"{target}{suffix}"))
    return target


def _say(line: str) -> None:
    print(f"litgrade: {line}", file=sys.stderr, flush=True)


def _launch(home: Path) -> ServerInfo:
    """Start the keeper (and through it the server); wait until the API is ready."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    log = log_path()
    with log.open("ab") as out:
        out.write(f"--- {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M:%S} UTC: starting on {url}\n".encode())
        out.flush()
        keeper = subprocess.Popen(
            [sys.executable, "-m", "flows.pipeline.server", str(port)],
            env={**server_environment(home), "PYTHONPATH": os.pathsep.join(sys.path)},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: a Ctrl-C in the shell does not reach it
        )
    info = ServerInfo(keeper.pid, port, url, dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), str(home))
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not ready(url, timeout=1.0):
        if keeper.poll() is not None or time.monotonic() > deadline:
            _stop_group(keeper.pid, timeout=2)
            keeper.wait()
            raise PrefectServerError(
                f"the local Prefect server did not start (log: {log}): {_last_log_line(log)}"
            )
        time.sleep(0.2)
    write_atomic(info_path(), json.dumps(asdict(info), indent=2) + "\n")
    return info


def _last_log_line(log: Path) -> str:
    try:
        lines = [ln.strip() for ln in log.read_text(encoding="utf-8", errors="replace").splitlines()]
    except OSError:
        return "no log"
    useful = [ln for ln in lines if ln and not ln.startswith("---")]
    return useful[-1][:300] if useful else "no output"


def ensure_server(say: Callable[[str], None] = _say) -> ServerInfo:
    """The running local server, started (or replaced) if needed; this process holds a use lease."""
    hold_use()
    info = running()
    if info is not None:
        return info
    with _flock("start.lock", fcntl.LOCK_EX):
        info = running()  # another command may have started it while this one waited
        if info is not None:
            return info
        stale = read_info()
        if stale is not None:
            _stop_group(stale.pid, timeout=5)
            info_path().unlink(missing_ok=True)
        home = prefect_home()
        home.mkdir(parents=True, exist_ok=True)
        db = database_path()
        if not database_openable(db):
            moved = set_aside_database(db)
            say(
                f"Prefect's state {db} could not be opened; set aside as {moved.name} and re-created "
                "(it holds no project data)"
            )
            return _launch(home)
        try:
            return _launch(home)
        except PrefectServerError:
            if not db.exists():
                raise
            moved = set_aside_database(db)
            say(
                f"Prefect's state {db} could not be opened or migrated; set aside as {moved.name} and "
                "re-created (it holds no project data)"
            )
            return _launch(home)


def stop_server() -> ServerInfo | None:
    """Stop the recorded server (if any); return what was stopped."""
    with _flock("start.lock", fcntl.LOCK_EX):
        info = read_info()
        if info is None:
            return None
        if alive(info.pid):
            _stop_group(info.pid)
        info_path().unlink(missing_ok=True)
        return info


def use_prefect_server(say: Callable[[str], None] = _say, *, start: bool = True) -> str | None:
    """Point this process's Prefect at the right API before Prefect is imported; return its URL.

    None when Prefect is already configured in this process (a test harness) or ephemeral mode is
    asked, or, with `start` off, when no local server runs (then nothing is changed or started).
    """
    found = None
    if not start and mode() == "local":
        hold_use()  # before looking, as ensure_server does: the keeper never stops a server in use
        found = running()
        if found is None:
            return None
    if "prefect" in sys.modules:
        return None  # Prefect already read its settings here (a test harness or an embedding program)
    config.quiet_prefect_environment()
    config.prefect_logs_to_file(server_dir() / "prefect.log")
    chosen = mode()
    if chosen == "external":
        return os.environ["PREFECT_API_URL"]
    if chosen == "ephemeral":
        return None
    info = found or ensure_server(say)
    os.environ["PREFECT_API_URL"] = os.environ[config.LOCAL_PREFECT_API] = info.url
    local_client_settings()
    return info.url


def local_client_settings() -> None:
    """Prefect client settings for the local server alone (never a server the user chose), each a
    step less on every flow run's critical path; a value the user set stands.

    - The local server runs without CSRF protection, so the client's token request at the start of
      each run is refused (422) every time: the client is told not to ask.
    - It speaks plain HTTP on 127.0.0.1, so no certificate is ever verified; yet Prefect's client
      parses its whole CA bundle (certifi's ~140 certificates, 15-30 ms) whenever it is created, once
      per run. It is pointed at a bundle of one certificate instead.
    """
    os.environ.setdefault("PREFECT_CLIENT_CSRF_SUPPORT_ENABLED", "false")
    bundle = one_certificate_bundle()
    if bundle is not None:
        os.environ.setdefault("PREFECT_API_SSL_CERT_FILE", str(bundle))


_FIRST_CERTIFICATE = re.compile(r"-----BEGIN CERTIFICATE-----\n.*?\n-----END CERTIFICATE-----\n", re.S)


def one_certificate_bundle() -> Path | None:
    """<server dir>/plain-http-ca.pem: the first certificate of certifi's bundle (made once); None
    when certifi's bundle cannot be read (then Prefect's default stands)."""
    bundle = server_dir() / "plain-http-ca.pem"
    if bundle.exists():
        return bundle
    try:
        import certifi

        found = _FIRST_CERTIFICATE.search(Path(certifi.where()).read_text(encoding="ascii"))
    except (ImportError, OSError, UnicodeDecodeError):
        return None
    if found is None:
        return None
    write_atomic(bundle, found.group(0))
    return bundle


# --- the keeper: `python -m flows.pipeline.server PORT` -------------------------------------------


def _idle(use_lock: Path) -> bool:
    """No litgrade command holds a use lease (tried without waiting)."""
    with use_lock.open("a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return True


def keep(port: int) -> int:
    """Run `prefect server start` on 127.0.0.1:`port`; stop it when idle too long or when told."""
    prefect = Path(sys.executable).parent / "prefect"
    command = [str(prefect)] if prefect.exists() else [sys.executable, "-m", "prefect"]
    server = subprocess.Popen(
        [*command, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        stdin=subprocess.DEVNULL,
    )
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    limit = idle_minutes() * 60
    idle_since = time.monotonic()
    use_lock = server_dir() / "use.lock"
    while not stopping and server.poll() is None:
        time.sleep(KEEPER_POLL_SECONDS)
        if limit <= 0:
            continue
        if not _idle(use_lock):
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since > limit:
            try:  # stop under the use lock: a command arriving now waits, then starts a new server
                with _flock("use.lock", fcntl.LOCK_EX | fcntl.LOCK_NB):
                    print(f"idle for {limit / 60:g} min: stopping", flush=True)
                    _end(server)
                    return 0
            except BlockingIOError:
                idle_since = time.monotonic()
    _end(server)
    return 0


def _end(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
    info = read_info()
    if info is not None and info.pid == os.getpid():
        info_path().unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(keep(int(sys.argv[1])))
