"""Run a flow command in a warm process: no Prefect import paid per command (issue 17).

Importing Prefect and the flows costs ~2 s of CPU before a flow can start; the local Prefect server
(flows/pipeline/server.py) removed the server's start-up, not that import. So, per data folder, a
"warm" process (flows/cli/warm_server.py) imports everything once and waits on a Unix socket beside
the server's state; `refresh`, `update` and `demo`, once their configuration is checked, hand it their
arguments, working directory, environment and terminal (stdin/stdout/stderr, passed as file
descriptors), and it forks a child that runs the same command as if it were this process. This
process forwards Ctrl-C and SIGTERM to the child and exits with the child's exit code.

Nothing is delegated unless the warm process would run exactly what this process would: the same
Python, the same import path, the same Prefect settings (every PREFECT_* variable), code unchanged on
disk since it was imported, and the same user (checked with SO_PEERCRED). Otherwise, or when no warm
process answers, the command runs here as before, and starts a warm process for the next one.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flows import config

CHILD_FLAG = "LITGRADE_WARM_CHILD"  # set in a warm child: it runs the command itself
OFF_FLAG = "LITGRADE_WARM"  # "off": never delegate (and never start a warm process)
MAX_SOCKET_PATH = 100  # AF_UNIX paths are limited to 108 bytes on Linux
MAX_MESSAGE = 4 * 1024 * 1024
CONNECT_TIMEOUT_SECONDS = 2.0

_args: list[str] = []
_declined: list[bool] = []  # the warm process declined this command once: not asked again


def remember_args(args: list[str]) -> None:
    """The command line of this process (without the program name), as main() received it."""
    _args[:] = args


def socket_path() -> Path:
    return config.data_dir() / "prefect-server" / "warm.sock"


def record_path() -> Path:
    return config.data_dir() / "prefect-server" / "warm.json"


def prefect_settings(env: Mapping[str, str]) -> dict[str, str]:
    """What decides Prefect's behaviour in a process: every PREFECT_* variable and DO_NOT_TRACK."""
    return {k: v for k, v in env.items() if k.startswith("PREFECT_") or k == "DO_NOT_TRACK"}


def identity() -> dict[str, Any]:
    """What a warm process must share with this one to run its command faithfully."""
    return {"executable": sys.executable, "path": list(sys.path), "prefect": prefect_settings(os.environ)}


# --- framing: a 4-byte length, then JSON ------------------------------------------------------------


def send_message(sock: socket.socket, message: Mapping[str, Any], fds: list[int] | None = None) -> None:
    body = json.dumps(message).encode("utf-8")
    data = struct.pack("!I", len(body)) + body
    if fds:
        socket.send_fds(sock, [data], fds)
    else:
        sock.sendall(data)


def receive_message(sock: socket.socket, with_fds: int = 0) -> tuple[dict[str, Any] | None, list[int]]:
    """One message (None at end of stream) and the file descriptors sent with its first bytes."""
    fds: list[int] = []
    buffer = b""
    if with_fds:
        chunk, fds, _flags, _addr = socket.recv_fds(sock, 65536, with_fds)
        if not chunk:
            return None, fds
        buffer = chunk
    while len(buffer) < 4:
        chunk = sock.recv(65536)
        if not chunk:
            return None, fds
        buffer += chunk
    (size,) = struct.unpack("!I", buffer[:4])
    if size > MAX_MESSAGE:
        raise ValueError(f"message of {size} bytes is too large")
    body = buffer[4:]
    while len(body) < size:
        chunk = sock.recv(min(65536, size - len(body)))
        if not chunk:
            return None, fds
        body += chunk
    message = json.loads(body[:size].decode("utf-8"))
    if not isinstance(message, dict):
        raise ValueError("message is not an object")
    return message, fds


# --- the command's side -----------------------------------------------------------------------------


def allowed() -> bool:
    """Warm processes may be used here: not switched off, not inside one, a socket path that fits."""
    return (
        os.environ.get(OFF_FLAG, "on").strip().lower() not in {"off", "0", "false", "no"}
        and CHILD_FLAG not in os.environ
        and len(str(socket_path())) <= MAX_SOCKET_PATH
    )


def enabled() -> bool:
    """Worth asking the warm process to run this command (it has not declined it already)."""
    return allowed() and not _declined


def delegate_or_continue() -> None:
    """Run this command in the data folder's warm process and exit with its code; return (to run it
    here) when there is none that can. Call it once the command's configuration is checked and the
    local Prefect server is known (PREFECT_API_URL set), before any signal is blocked."""
    code = _delegate() if enabled() else None
    if code is None:
        start_warm_process()  # one that can run the next command (or none, if one runs: the lock)
        return
    sys.stdout.flush()
    sys.stderr.flush()
    sys.exit(code)


def delegate_early(args: list[str]) -> None:
    """`refresh` and `update` straight to a warm process that is already there, before this process
    reads a claim: the warm child checks the configuration exactly as this process would (and answers
    an error as fast: everything is imported there). No server is started here, and nothing is
    printed: with no warm process or no server running, the command goes the usual way."""
    remember_args(args)
    if args[:1] not in (["refresh"], ["update"]) or {"--help", "-h"} & set(args):
        return
    if not enabled() or not socket_path().exists():
        return
    from flows.pipeline.server import use_prefect_server

    if use_prefect_server(start=False) is None:
        return
    code = _delegate()
    if code is not None:
        sys.stdout.flush()
        sys.stderr.flush()
        sys.exit(code)


def _connect() -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(CONNECT_TIMEOUT_SECONDS)
    try:
        sock.connect(str(socket_path()))
    except OSError:
        sock.close()
        return None
    return sock


def _delegate() -> int | None:
    """The child's exit code, or None when no warm process took the command."""
    sock = _connect()
    if sock is None:
        return None
    forwarder = SignalForwarder()  # from before the request: a Ctrl-C meanwhile is not lost
    with sock, forwarder:
        request = {"args": _args, "cwd": os.getcwd(), "env": dict(os.environ), **identity()}
        try:
            send_message(sock, request, [0, 1, 2])
            answer, _ = receive_message(sock)
        except (OSError, ValueError):
            answer = None
        if answer is None or "pid" not in answer:
            if forwarder.pending:  # stopped before anything ran: as the command would have been
                return 130
            _declined.append(True)
            return None  # refused (the reason is in the warm log) or gone: run here
        forwarder.forward_to(int(answer["pid"]))
        sock.settimeout(None)
        try:
            done, _ = receive_message(sock)
        except (OSError, ValueError):
            done = None
    if done is None or "exit" not in done:
        print("litgrade: the warm process ended before the command did; see its log", file=sys.stderr)
        return 1
    return int(done["exit"])


class SignalForwarder:
    """While the block runs, Ctrl-C, SIGTERM and SIGHUP go to the child (those arriving before its
    pid is known are kept and sent as soon as it is); afterwards the previous handlers return."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self) -> None:
        self.pid: int | None = None
        self.pending: list[int] = []
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> SignalForwarder:
        for sig in self.SIGNALS:
            self._previous[sig] = signal.signal(sig, self._take)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _take(self, signum: int, frame: object) -> None:
        if self.pid is None:
            self.pending.append(signum)
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signum)

    def forward_to(self, pid: int) -> None:
        self.pid = pid
        for signum in self.pending:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)


def start_warm_process() -> None:
    """Start the data folder's warm process in the background for the commands after this one (this
    one runs here meanwhile). Several commands starting one at once is harmless: only one binds."""
    if not allowed() or "PREFECT_API_URL" not in os.environ:
        return
    log = config.data_dir() / "prefect-server" / "warm.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        subprocess.Popen(
            [sys.executable, "-m", "flows.cli.warm_server", str(socket_path()), json.dumps(sys.path)],
            env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C in the shell must not reach it
        )


def wait_until_warm(timeout: float = 60.0) -> bool:
    """A warm process answers (for `litgrade server start` and benches: warm before timing)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock = _connect()
        if sock is not None:
            with sock:
                try:
                    send_message(sock, {"ping": True, **identity()})
                    answer, _ = receive_message(sock)
                except (OSError, ValueError):
                    answer = None
            if answer and answer.get("pong"):
                return True
            if answer and answer.get("refused"):
                return False
        time.sleep(0.1)
    return False


def warm_pid() -> int | None:
    """The recorded warm process, if it is alive."""
    try:
        pid = int(json.loads(record_path().read_text(encoding="utf-8"))["pid"])
        os.kill(pid, 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return pid


def stop_warm_process(timeout: float = 10.0) -> None:
    """Stop the data folder's warm process, if one runs (its children, commands in flight, are sent
    SIGTERM: they mark their runs interrupted)."""
    pid = warm_pid()
    if pid is None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while warm_pid() == pid and time.monotonic() < deadline:
        time.sleep(0.05)
