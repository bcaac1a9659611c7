"""One NCBI pace across processes and machines, held by the Prefect server's global rate limit.

A per-process limiter multiplied by N processes (Dask workers, several Prefect workers, a scheduled
run beside a manual one) breaks NCBI's rule. When a Prefect server is configured (PREFECT_API_URL,
`EutilsSpec.global_pace`) and the global concurrency limit `ncbi-eutils` exists, every request also
takes a slot from it.

The limit is created with ONE slot that decays at the request rate: a slot every 1/rate seconds, so no
one-second window holds more than `rate` starts across all processes. (A limit of `rate` slots would
allow a burst of `rate` and then `rate` more within the same second.)
"""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

from flows.sources.eutils.ratelimit import RateLimiter, machine_limiter, shared_limiter

GLOBAL_LIMIT_NAME = "ncbi-eutils"
# Below the ceiling so that clock skew between processes never lets a window see one start too many.
DECAY_FRACTION = 0.9
# A process spaces its own starts a little wider than the slot's decay (see GlobalPacer).
LOCAL_FRACTION = 0.8


class GlobalPacer(RateLimiter):
    """Each start takes the server-wide slot; between its own starts a process also waits a little
    longer than the slot takes to decay.

    Why the local spacing: the server restarts a slot's decay clock on every *refused* attempt too, so
    a process that asks again too early keeps the slot busy and backs off for ever longer (measured:
    ~1 request/s against a 9/s limit). Spaced at LOCAL_FRACTION × rate, one process is never refused
    and runs at that pace; several processes are refused in turn and share the slot, never exceeding it.
    """

    def __init__(self, rate: float, name: str = GLOBAL_LIMIT_NAME) -> None:
        super().__init__(rate)
        self.name = name
        self._interval = 1.0 / (rate * LOCAL_FRACTION)
        self._next_start = 0.0
        self._pace_lock = threading.Lock()

    def acquire(self) -> float:
        from prefect.concurrency.sync import rate_limit

        with self._pace_lock:  # one slot: threads queue here, not in server retries
            asked = time.monotonic()
            if self._next_start > asked:
                time.sleep(self._next_start - asked)
            rate_limit(self.name, occupy=1, strict=True)
            granted = time.monotonic()
            self._next_start = granted + self._interval
            waited = granted - asked
            self.waited += waited
            return waited


def ensure_global_limit(rate: float, name: str = GLOBAL_LIMIT_NAME) -> None:
    """Create (or correct) the server's rate limit for NCBI: 1 slot decaying at `rate` × 0.9 per second."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import (
        GlobalConcurrencyLimitCreate,
        GlobalConcurrencyLimitUpdate,
    )
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    decay = round(rate * DECAY_FRACTION, 3)
    with get_client(sync_client=True) as client:
        try:
            current = client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            try:
                client.create_global_concurrency_limit(
                    GlobalConcurrencyLimitCreate(name=name, limit=1, slot_decay_per_second=decay)
                )
                return
            except ObjectAlreadyExists:  # another process starting at the same moment created it
                current = client.read_global_concurrency_limit_by_name(name)
        if current.limit != 1 or current.slot_decay_per_second != decay:
            client.update_global_concurrency_limit(
                name, GlobalConcurrencyLimitUpdate(limit=1, slot_decay_per_second=decay)
            )


_pacers: dict[float, GlobalPacer] = {}


def pace_file(data_dir: Path, api_key: str | None) -> Path:
    """Where this machine's processes keep their NCBI pace: one file per identity NCBI counts by (the
    API key, named by a digest of it, or the machine's address when there is no key)."""
    ident = "key-" + hashlib.sha256(api_key.encode()).hexdigest()[:16] if api_key else "no-key"
    return data_dir / "ncbi-pace" / f"{ident}.slots"


def pacer_for(rate: float, *, server: bool, pace_path: Path | None = None) -> RateLimiter:
    """The server-wide pacer when the Prefect server holds the pace; else the machine-wide file
    limiter at `pace_path` (every litgrade process of this machine), or the process-wide limiter.

    Either way one object per process and rate, shared by every client and thread.
    """
    if not server:
        return machine_limiter(pace_path, rate) if pace_path is not None else shared_limiter(rate)
    if rate not in _pacers:
        ensure_global_limit(rate)
        _pacers[rate] = GlobalPacer(rate)
    return _pacers[rate]
