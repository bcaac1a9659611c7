"""Sign-in throttling: attempts per client and per account in a moving window, and one hash at a time.

An attempt is counted when it arrives, before its password is hashed, so a burst of parallel guesses
cannot slip past the count; a successful sign-in clears its account's count (not the client's: a
guesser with an account of their own must not reset their allowance by signing in). A refused attempt
costs a dictionary look-up, never an argon2 hash. Unknown names are counted like known ones, so a
lockout says nothing about which accounts exist. The hashes themselves run HASH_SLOTS at a time, so
sign-ins, however many, leave the rest of the CPU to everyone's pages.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
from dataclasses import dataclass

from limits import RateLimitItem, RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

ACCOUNT_LIMIT = RateLimitItemPerMinute(5, 15)  # 5 attempts per account per 15 minutes
CLIENT_LIMIT = RateLimitItemPerMinute(20, 15)  # 20 attempts per client address per 15 minutes
HASH_SLOTS = 1  # argon2 already uses 4 threads per hash


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why an attempt was refused, for the person, and when they may try again."""

    message: str
    retry_after: int  # seconds (the Retry-After header)


def _wait(seconds: int) -> str:
    minutes = math.ceil(seconds / 60)
    return f"{seconds} s" if seconds < 60 else f"{minutes} min"


class SignInLimits:
    """The counts of one server process (they start afresh when it restarts)."""

    def __init__(self, account: RateLimitItem = ACCOUNT_LIMIT, client: RateLimitItem = CLIENT_LIMIT) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self.account = account
        self.client = client
        self.hashing = asyncio.Semaphore(HASH_SLOTS)

    def _refusal(self, item: RateLimitItem, keys: tuple[str, str], who: str) -> Refusal:
        reset = self._limiter.get_window_stats(item, *keys).reset_time
        now = dt.datetime.now(dt.UTC)
        seconds = max(1, math.ceil(reset - now.timestamp()))
        at = (now + dt.timedelta(seconds=seconds)).strftime("%H:%M UTC")
        return Refusal(
            f"Too many sign-in attempts {who}: try again in {_wait(seconds)} (after {at}).", seconds
        )

    def attempt(self, client: str, account: str | None) -> Refusal | None:
        """Count an attempt from `client` for `account` (None: not a possible curator id); None: go on."""
        if not self._limiter.hit(self.client, "client", client):
            return self._refusal(self.client, ("client", client), "from this address")
        if account is not None and not self._limiter.hit(self.account, "account", account):
            return self._refusal(self.account, ("account", account), f"for {account!r}")
        return None

    def succeeded(self, account: str) -> None:
        self._limiter.clear(self.account, "account", account)
