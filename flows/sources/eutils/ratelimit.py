"""One pace for NCBI: a sliding-window limiter for requests, per process or per machine.

NCBI counts requests in any 1-second window (3 without an API key, 10 with one) and answers the
excess with HTTP 429. The limiter gates request *starts* only: a caller waits for its start and then
sends outside the lock, so threads pipeline requests — a slow answer never holds back the next one.
Starts are spaced so that no `window` contains more than `rate` of them, and a start's slot counts
from when its request was really sent (`sent()`, told by the transport). `window` is 40 % over a
second so that the delay between our send and the server's arrival stamp (a server thread slow to
accept on a busy CPU) cannot make starts look closer on their side. Measured with another process
burning both cores (the pacing test, stand-in in the same process): a 6 % margin let 2 of 14 runs
see a 429; 25 % with slots counted from the send, 1 of 20; 40 %, see the issue-16 note.

`RateLimiter` is one process's pace; `FileRateLimiter` is the same pace shared by every process of
the machine through a small file in the data folder, locked with flock(2) while a start is decided.
"""

from __future__ import annotations

import fcntl
import os
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

DEFAULT_MARGIN = 0.4  # the 1-second window stretched by 40 % (71 % of the ceiling)


class RateLimiter:
    def __init__(
        self,
        rate: float,
        *,
        margin: float = DEFAULT_MARGIN,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        self.rate = rate
        # A fractional rate (e.g. 2.5/s) becomes "1 start per 1/rate seconds"; whole rates keep the
        # burst of `rate` starts per window that NCBI allows.
        self._burst = int(rate) if float(rate).is_integer() else 1
        self._window = (self._burst / rate) * (1.0 + margin)
        self._starts: deque[list[float]] = deque(maxlen=self._burst)  # [stamp], moved on by sent()
        self._lock = threading.Lock()
        self._mine = threading.local()  # the slot this thread took last, until its request is sent
        self._clock = clock
        self._sleep = sleep
        self.waited = 0.0  # total seconds callers spent waiting (for stats)

    def acquire(self) -> float:
        """Block until this caller may start a request; returns the seconds waited.

        The lock is held while waiting, so each start is recorded at the time it really happened
        (a thread that wakes late pushes the next slots later, never earlier); callers queue here,
        and send outside, so requests still overlap in flight. Call `sent()` from the same thread
        once the request is on the wire: its slot then counts from that later moment.
        """
        with self._lock:
            now = self._clock()
            waited = 0.0
            if len(self._starts) == self._burst:
                waited = min(s[0] for s in self._starts) + self._window - now
                if waited > 0:
                    self._sleep(waited)
                    now = self._clock()
                    self.waited += waited
            slot = [now]
            self._starts.append(slot)
            self._mine.slot = slot
            return max(waited, 0.0)

    def sent(self) -> None:
        """This thread's request has been sent: its slot counts from now. A thread descheduled
        between its start and its send (a busy CPU) would otherwise arrive later than its slot says,
        and closer to the next ones than the window allows."""
        slot = getattr(self._mine, "slot", None)
        if slot is not None:
            with self._lock:
                slot[0] = max(slot[0], self._clock())
            self._mine.slot = None


class FileRateLimiter(RateLimiter):
    """The sliding window kept in a file every process of the machine shares (issue 16, finding 5).

    The file holds the last `burst` start times (CLOCK_MONOTONIC, the same clock for every process
    of a boot) as 8-byte floats. A start is decided under an exclusive flock(2) on the file: read the
    window, sleep until it has room (still holding the lock, so each start is stamped when it really
    happened), append the start, write the window back. The kernel drops the lock of a process that
    dies, so a killed refresh never leaves the others waiting; times from an earlier boot (later than
    now) are ignored. Threads of one process queue on a thread lock first (a flock is per open file,
    not per thread).

    Why a flock'ed file rather than pyrate-limiter's SQLite bucket: nothing to install, one small file
    a person can delete, no database to migrate or find half-written after a full disk, and the
    window logic stays the one RateLimiter already tests.
    """

    def __init__(
        self,
        path: Path,
        rate: float,
        *,
        margin: float = DEFAULT_MARGIN,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(rate, margin=margin, clock=clock, sleep=sleep)
        self.path = Path(path)
        self._fd: int | None = None
        self._file_mine = threading.local()

    def _file(self) -> int:
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        return self._fd

    def acquire(self) -> float:
        with self._lock:
            fd = self._file()
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                now = self._clock()
                starts = [t for t in self._read(fd) if t <= now][-self._burst :]
                waited = 0.0
                if len(starts) == self._burst:
                    waited = min(starts) + self._window - now
                    if waited > 0:
                        self._sleep(waited)
                        now = self._clock()
                        self.waited += waited
                    starts.remove(min(starts))
                starts.append(now)
                self._write(fd, starts)
                self._file_mine.stamp = now
                return max(waited, 0.0)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def sent(self) -> None:
        """As RateLimiter.sent: this thread's start in the file moves on to now (if still there)."""
        stamp = getattr(self._file_mine, "stamp", None)
        if stamp is None:
            return
        self._file_mine.stamp = None
        with self._lock:
            fd = self._file()
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                starts = self._read(fd)
                if stamp in starts:
                    starts[starts.index(stamp)] = max(stamp, self._clock())
                    self._write(fd, starts)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def _read(self, fd: int) -> list[float]:
        raw = os.pread(fd, 8 * self._burst, 0)
        count = len(raw) // 8
        return list(struct.unpack(f"<{count}d", raw[: 8 * count]))

    def _write(self, fd: int, starts: list[float]) -> None:
        os.pwrite(fd, struct.pack(f"<{len(starts)}d", *starts), 0)
        os.ftruncate(fd, 8 * len(starts))

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


_shared: dict[float, RateLimiter] = {}
_shared_lock = threading.Lock()


def shared_limiter(rate: float) -> RateLimiter:
    """The process-wide limiter for `rate` requests/s: every client and thread at that pace shares it.

    A process reads its NCBI settings once, so in practice there is exactly one.
    """
    with _shared_lock:
        limiter = _shared.get(rate)
        if limiter is None:
            limiter = _shared[rate] = RateLimiter(rate)
        return limiter


_files: dict[tuple[Path, float], FileRateLimiter] = {}


def machine_limiter(path: Path, rate: float) -> FileRateLimiter:
    """The machine-wide limiter for `rate` requests/s kept in `path`: one object per process."""
    key = (Path(path).resolve(), rate)
    with _shared_lock:
        limiter = _files.get(key)
        if limiter is None:
            limiter = _files[key] = FileRateLimiter(key[0], rate)
        return limiter
