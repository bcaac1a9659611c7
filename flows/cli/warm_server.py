"""The warm process of a data folder: the CLI and the flows imported once, a forked child per command.

`python -m flows.cli.warm_server SOCKET PATH_JSON` (started by flows/cli/warm.py). One process per data
folder (an flock on warm.lock); it listens on SOCKET (mode 0600, same-user peers only) and, for each
command, forks a child that takes the command's terminal, working directory and environment and runs
`litgrade <args>` as that process would have. The child's exit code goes back to the command; a
command that disappears (killed) has its child sent SIGTERM, which marks its runs interrupted.

Single-threaded on purpose: a fork copies only the forking thread, so no other thread may hold a lock
(the import lock, a logging lock) at that moment. It ends when idle for LITGRADE_SERVER_IDLE_MINUTES,
when the Prefect API it was started for stops answering, when the code it imported changes on disk,
or on SIGTERM.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import importlib
import json
import os
import selectors
import signal
import socket
import struct
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

# What a refresh or update imports, measured (the modules new in sys.modules after a command ran in a
# child): each import left to the child costs it time; all of them here cost the warm process once.
WARM_IMPORTS = (
    "flows.cli.commands",
    "flows.cli.interrupt",
    "flows.cli.living",
    "flows.cli.pipeline",
    "flows.pipeline.demo",
    "flows.pipeline.global_pace",
    "flows.pipeline.living",
    "flows.pipeline.lock",
    "flows.pipeline.refresh",
    "flows.pipeline.server",
    "flows.sources.eutils.client",
    "flows.sources.mirror",
    "flows.reports.write",
    "Bio.Entrez",
    "anyio._backends._asyncio",
    "anyio.streams.memory",
    "anyio.streams.stapled",
    "anyio.streams.tls",
    "encodings.idna",
    "fastapi",
    "fastapi.encoders",
    "http.cookies",
    "opentelemetry._logs",
    "opentelemetry.metrics",
    "prefect._internal.attempt_control",
    "prefect._internal.control_listener",
    "prefect.concurrency.sync",
    "prefect.concurrency.v1.context",
    "prefect.engine",
    "prefect.flow_engine",
    "prefect.task_engine",
    "prefect.telemetry.run_telemetry",
    "prefect.utilities.visualization",
    "pydantic.color",
    "sqlite3",
    "stringprep",
)
API_CHECK_SECONDS = 5.0
API_MISSES_BEFORE_EXIT = 3
REQUEST_TIMEOUT_SECONDS = 5.0


def log(line: str) -> None:
    print(f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M:%S} warm[{os.getpid()}]: {line}", flush=True)


def imported_files(package_dir: Path) -> list[str]:
    """The source files of every flows module this process has imported."""
    paths = (getattr(module, "__file__", None) for module in list(sys.modules.values()))
    return sorted(p for p in paths if p and Path(p).is_relative_to(package_dir))


def code_fingerprint(files: list[str]) -> list[tuple[int, int]]:
    """(mtime, size) of each file (-1 when gone): a change means this process runs stale code."""
    out = []
    for path in files:
        try:
            stat = os.stat(path)
            out.append((stat.st_mtime_ns, stat.st_size))
        except OSError:
            out.append((-1, -1))
    return out


def api_answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/ready", timeout=2.0) as answer:
            return bool(answer.status == 200)
    except (OSError, ValueError):
        return False


def exit_code(status: int) -> int:
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code  # killed by signal N: 128 + N, as a shell reports it


class WarmServer:
    def __init__(self, sock_path: Path, identity: dict[str, Any]) -> None:
        import flows
        from flows.cli import warm

        self.warm = warm
        self.sock_path = sock_path
        self.package_dir = Path(flows.__file__).resolve().parent
        self.files = imported_files(self.package_dir)
        self.fingerprint = code_fingerprint(self.files)
        self.identity = identity  # as it was when Prefect read its settings at import
        self.api_url = os.environ.get("PREFECT_API_URL", "")
        self.children: dict[int, socket.socket] = {}  # child pid → its command's connection
        self.started: dict[int, float] = {}
        self.selector = selectors.DefaultSelector()
        self.stopping = False
        self.last_busy = time.monotonic()
        self.api_misses = 0
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)

    def refusal(self, request: dict[str, Any]) -> str | None:
        """Why this process must not run the request's command (None: it may)."""
        for key in ("executable", "path", "prefect"):
            if request.get(key) != self.identity[key]:
                return f"its {key} differs from this warm process's"
        if code_fingerprint(self.files) != self.fingerprint:
            self.stopping = True  # the next command starts a warm process on the new code
            return "the code changed on disk since this warm process imported it"
        return None

    def serve(self) -> None:
        self.sock_path.unlink(missing_ok=True)
        old_umask = os.umask(0o177)  # the socket is this user's only
        try:
            self.listener.bind(str(self.sock_path))
        finally:
            os.umask(old_umask)
        self.listener.listen(16)
        self.selector.register(self.listener, selectors.EVENT_READ)
        self.warm.record_path().write_text(
            json.dumps(
                {"pid": os.getpid(), "api": self.api_url, "since": f"{dt.datetime.now(dt.UTC):%FT%TZ}"}
            )
            + "\n",
            encoding="utf-8",
        )
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        log(f"ready on {self.sock_path} for {self.api_url}")
        next_api_check = time.monotonic() + API_CHECK_SECONDS
        try:
            while not (self.stopping and not self.children):
                for key, _ in self.selector.select(timeout=0.2):
                    if key.fileobj is self.listener:
                        self._accept()
                    else:
                        self._client_event(key.fileobj)  # type: ignore[arg-type]
                self._reap()
                if time.monotonic() >= next_api_check:
                    next_api_check = time.monotonic() + API_CHECK_SECONDS
                    self._check_lifetime()
        finally:
            self._end()

    def _stop(self, signum: int, frame: object) -> None:
        self.stopping = True
        for pid in self.children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def _check_lifetime(self) -> None:
        from flows.pipeline.server import idle_minutes

        if self.children:
            self.last_busy = time.monotonic()
        limit = idle_minutes() * 60
        if limit > 0 and time.monotonic() - self.last_busy > limit:
            log(f"idle for {limit / 60:g} min: stopping")
            self.stopping = True
        self.api_misses = 0 if api_answers(self.api_url) else self.api_misses + 1
        if self.api_misses >= API_MISSES_BEFORE_EXIT:
            log(f"the Prefect API {self.api_url} stopped answering: stopping")
            self.stopping = True

    def _accept(self) -> None:
        conn, _ = self.listener.accept()
        fds: list[int] = []
        try:
            creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            _pid, uid, _gid = struct.unpack("3i", creds)
            if uid != os.getuid():
                log(f"refused a connection from user {uid}")
                conn.close()
                return
            conn.settimeout(REQUEST_TIMEOUT_SECONDS)
            request, fds = self.warm.receive_message(conn, with_fds=3)
            if request is None:
                raise ValueError("no request")
            reason = self.refusal(request)
            if reason is not None or self.stopping:
                log(f"declined a command: {reason or 'stopping'}")
                self.warm.send_message(conn, {"refused": reason or "stopping"})
                conn.close()
                return
            if request.get("ping"):
                self.warm.send_message(conn, {"pong": True})
                conn.close()
                return
            if len(fds) != 3:
                raise ValueError("a command needs its stdin, stdout and stderr")
            pid = self._fork(request, fds)
        except (OSError, ValueError) as exc:
            log(f"dropped a request: {exc}")
            conn.close()
            return
        finally:
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.warm.send_message(conn, {"pid": pid})
        conn.setblocking(False)
        self.children[pid] = conn
        self.started[pid] = time.monotonic()
        self.selector.register(conn, selectors.EVENT_READ, pid)
        self.last_busy = time.monotonic()

    def _fork(self, request: dict[str, Any], fds: list[int]) -> int:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            try:
                self.selector.close()
                self.listener.close()
                for other in self.children.values():
                    other.close()
                run_command(request, fds)
            finally:
                os._exit(70)
        return pid

    def _client_event(self, conn: socket.socket) -> None:
        """The command's side spoke or went away; gone while its child runs: stop the child."""
        try:
            data = conn.recv(1024)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            return
        self.selector.unregister(conn)
        for pid, owner in self.children.items():
            if owner is conn:
                log(f"the command of child {pid} went away: sending it SIGTERM")
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)

    def _reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            conn = self.children.pop(pid, None)
            if conn is None:
                continue
            seconds = time.monotonic() - self.started.pop(pid, time.monotonic())
            log(f"child {pid} exited {exit_code(status)} after {seconds:.2f} s")
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(conn)
            with contextlib.suppress(OSError):
                conn.setblocking(True)
                self.warm.send_message(conn, {"exit": exit_code(status)})
            conn.close()
            self.last_busy = time.monotonic()

    def _end(self) -> None:
        self.listener.close()
        with contextlib.suppress(OSError):
            record = json.loads(self.warm.record_path().read_text(encoding="utf-8"))
            if record.get("pid") == os.getpid():
                self.warm.record_path().unlink()
                self.sock_path.unlink(missing_ok=True)
        log("stopped")


def run_command(request: dict[str, Any], fds: list[int]) -> None:
    """In the forked child: become the command's process, run it, exit with its code."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for target, fd in zip((0, 1, 2), fds, strict=True):
        os.dup2(fd, target)
        os.close(fd)
    fds.clear()
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update({str(k): str(v) for k, v in request["env"].items()})
    from flows.cli import warm

    os.environ[warm.CHILD_FLAG] = "1"
    # Prefect's settings, read at import, stand: the command's PREFECT_* variables equal this
    # process's (WarmServer.refusal), and re-reading them would cost ~0.14 s.
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    args = [str(a) for a in request["args"]]
    sys.argv = ["litgrade", *args]
    code = 0
    try:
        from flows.cli import main

        main(args)
    except SystemExit as exc:
        if isinstance(exc.code, int):
            code = exc.code
        elif exc.code is not None:
            print(exc.code, file=sys.stderr)
            code = 1
    except BaseException as exc:  # a bug: one line, like every other error
        print(f"litgrade: {type(exc).__name__}: {exc}", file=sys.stderr)
        code = 1
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
    os._exit(code)


def main(argv: list[str]) -> int:
    sock_path = Path(argv[0])
    sys.path[:] = json.loads(argv[1])  # the starting command's import path: identical code
    lock = (sock_path.parent / "warm.lock").open("a+")
    try:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return 0  # another warm process serves this data folder
    from flows.cli import warm

    identity = warm.identity()
    for name in WARM_IMPORTS:
        try:
            importlib.import_module(name)
        except ImportError as exc:  # an optional part missing: its command imports (or fails) itself
            log(f"could not import {name}: {exc}")
    import gc

    from flows.cli.commands import command
    from flows.cli.pipeline import command_run_settings

    with command_run_settings():
        pass  # its Prefect settings, built once here rather than in every child
    command()  # the click command tree, likewise
    if threading.active_count() > 1:  # a fork would copy a process whose other threads hold locks
        log(f"an import started a thread ({threading.enumerate()}): not serving")
        return 1
    gc.freeze()  # what is imported stays out of the children's collections: fewer pages copied
    WarmServer(sock_path, identity).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
