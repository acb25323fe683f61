"""One request budget per FiC company for every process of the shop.

FiC counts requests per company (and app), not per process: the web app, the CLI and each
worker draw on the same 1,000 an hour. :class:`SharedPacer` keeps the send log in the shop's
database (``fic_pacing``, through a *ledger* the store provides) and books each request's slot in
one short write transaction, so every process sees the others' requests. It keeps to the limits
FiC announces (``RateLimit-HourlyLimit``) when they are lower than the configured ones, and to a
margin below them: FiC's window does not start when ours does, and a loaded machine lets a
request go a little later than its slot.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Protocol

from .ratelimit import _EDGE, _LATENCY_SAMPLES, _LATENCY_SHARE, Quota, RateLimits, WaitTooLong

#: Share of each limit left unused: 1,000 an hour is paced as 980.
MARGIN = 0.02


class Ledger(Protocol):
    """The shared send log of one database (``Store.pacing``); times are epoch seconds."""

    def transaction(self) -> AbstractContextManager: ...
    def total(self, company: str) -> int: ...
    def last_at(self, company: str) -> float | None: ...
    def total_at_or_before(self, company: str, moment: float) -> int: ...
    def first_at_above(self, company: str, total: int) -> float: ...
    def book(self, company: str, at: float, count: int) -> None: ...
    def forget(self, company: str, before: float) -> None: ...


class SharedPacer:
    """The :class:`~fic_plugin.fic.ratelimit.Pacer` interface over a ledger shared by processes."""

    def __init__(self, limits: RateLimits, ledger: Ledger, company: str, *, margin: float = MARGIN,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep):
        self.limits = limits
        self.ledger = ledger
        self.company = company
        self.margin = margin
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._latencies: deque[float] = deque(maxlen=_LATENCY_SAMPLES)
        self.announced_hourly: int | None = None  # FiC's RateLimit-HourlyLimit, once seen

    @property
    def hourly(self) -> int:
        """The hourly limit in force: FiC's when it said a lower one than configured."""
        if self.announced_hourly and self.announced_hourly > 0:
            return min(self.limits.hourly, self.announced_hourly)
        return self.limits.hourly

    def _windows(self) -> list[tuple[int, float]]:
        keep = 1.0 - self.margin
        return [(max(1, math.floor(self.limits.short_term * keep)), self.limits.short_seconds),
                (max(1, math.floor(self.hourly * keep)), self.limits.hour_seconds)]

    def acquire(self) -> float:
        """Book the earliest slot that keeps every window within its limit, then wait for it."""
        ledger, company = self.ledger, self.company
        with ledger.transaction():
            now = self._clock()
            ledger.forget(company, now - 2 * max(self.limits.hour_seconds, self.limits.short_seconds))
            last = ledger.last_at(company)
            at = max(now, last) if last is not None else now
            total = ledger.total(company)
            while True:
                moved = at
                for limit, seconds in self._windows():
                    span = seconds + self._edge(seconds)
                    if total - ledger.total_at_or_before(company, moved - span) >= limit:
                        # The entry whose ageing-out leaves fewer than `limit` in the window.
                        moved = max(moved, ledger.first_at_above(company, total - limit) + span)
                if moved == at:
                    break
                at = moved
            if at - now > self.limits.max_wait:
                raise WaitTooLong(at - now)
            ledger.book(company, at, 1)
        wait = at - now
        if wait > 0:
            self._sleep(wait)
        return wait

    def observe(self, quota: Quota) -> None:
        """Learn FiC's hourly limit; when FiC says fewer requests remain than the ledger does
        (another app on the same company), book the difference as just sent."""
        if quota.hourly_limit:
            self.announced_hourly = quota.hourly_limit
        if quota.hourly_remaining is None:
            return
        ledger, company = self.ledger, self.company
        now = self._clock()
        ours = ledger.total(company) - ledger.total_at_or_before(company, now - self.limits.hour_seconds)
        missing = (self.hourly - ours) - max(0, quota.hourly_remaining)
        if missing > 0:
            with ledger.transaction():
                ledger.book(company, max(now, ledger.last_at(company) or now), missing)

    def answered(self, seconds: float) -> None:
        with self._lock:
            self._latencies.append(max(0.0, seconds))

    def _edge(self, seconds: float) -> float:
        with self._lock:
            slowest = max(self._latencies, default=0.0)
        return max(_EDGE, min(slowest, seconds * _LATENCY_SHARE))

    @property
    def sent_in_last_hour(self) -> int:
        now = self._clock()
        return self.ledger.total(self.company) - self.ledger.total_at_or_before(
            self.company, now - self.limits.hour_seconds)
