"""One pace for the whole process: a thread-safe sliding-window limiter for requests to NCBI.

NCBI counts requests in any 1-second window (3 without an API key, 10 with one) and answers the
excess with HTTP 429. The limiter gates request *starts* only: a caller waits for its start and then
sends outside the lock, so threads pipeline requests — a slow answer never holds back the next one.
Starts are spaced so that no `window` contains more than `rate` of them; `window` is a little over a
second so that jitter between our send and NCBI's arrival cannot make starts look closer on their side.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

DEFAULT_MARGIN = 0.06  # the 1-second window stretched by 6 % (≈ 94 % of the ceiling)


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
        self._starts: deque[float] = deque(maxlen=self._burst)
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep
        self.waited = 0.0  # total seconds callers spent waiting (for stats)

    def acquire(self) -> float:
        """Block until this caller may start a request; returns the seconds waited.

        The lock is held while waiting, so each start is recorded at the time it really happened
        (a thread that wakes late pushes the next slots later, never earlier); callers queue here,
        and send outside, so requests still overlap in flight.
        """
        with self._lock:
            now = self._clock()
            waited = 0.0
            if len(self._starts) == self._burst:
                waited = self._starts[0] + self._window - now
                if waited > 0:
                    self._sleep(waited)
                    now = self._clock()
                    self.waited += waited
            self._starts.append(now)
            return max(waited, 0.0)


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
