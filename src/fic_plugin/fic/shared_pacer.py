"""One request budget per FiC company for every process of the shop.

FiC counts requests per company (and app), not per process: the web app, the CLI and each
worker draw on the same 1,000 an hour. :class:`SharedPacer` keeps the send log in the shop's
database (``fic_pacing``, through a *ledger* the store provides) and books each request's slot in
one short write transaction, so every process sees the others' requests. It keeps to the limits
FiC announces (``RateLimit-HourlyLimit``) when they are lower than the configured ones, and to a
margin below them: a loaded machine lets a request go a little later than its slot.

FiC's hourly windows are fixed, not sliding, and they do not start when ours would. The pacer
learns them from FiC's answers: when ``RateLimit-HourlyRemaining`` jumps back up, FiC's window has
started again, and the pacer counts the hour from there (and only FiC's count of it), instead of
holding the last 60 minutes of its own log against the new window. The start it keeps is the
latest it can be (the answer that showed the jump), so the window it expects to end never ends
before FiC's. A ``Retry-After`` holds every process back until that moment. Both facts live in
the ledger beside the send log (``<company>|window``, ``<company>|until``: the time of their last
booking), so the ledger interface is unchanged.
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
#: FiC's count may trail the log by the requests still on their way (booked, not yet counted):
#: only a drop larger than this share of the hourly limit (and 3) is read as a new window.
RESET_SLACK = 0.02
#: Bookings exactly at a learned window start belong to the window.
_TINY = 1e-6


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
        self._slots = threading.local()  # this thread's last slot, which observe() is about
        self.announced_hourly: int | None = None  # FiC's RateLimit-HourlyLimit, once seen
        self._window_log = f"{company}|window"
        self._until_log = f"{company}|until"

    @property
    def hourly(self) -> int:
        """The hourly limit in force: FiC's when it said a lower one than configured."""
        if self.announced_hourly and self.announced_hourly > 0:
            return min(self.limits.hourly, self.announced_hourly)
        return self.limits.hourly

    def _keep(self, limit: int) -> int:
        return max(1, math.floor(limit * (1.0 - self.margin)))

    def window_start(self, now: float | None = None) -> float | None:
        """When FiC's current hourly window started, as last learned (``None``: not known, or so
        long ago that FiC's windows since then were not seen)."""
        start = self.ledger.last_at(self._window_log)
        now = self._clock() if now is None else now
        if start is None or now >= start + 2 * self.limits.hour_seconds:
            return None
        return start

    def _hour_floor(self, at: float, start: float | None) -> float | None:
        """Bookings after this moment are in FiC's hourly window holding ``at``; ``None`` when
        FiC's window is not known there (the log then slides)."""
        if start is None:
            return None
        hour = self.limits.hour_seconds
        if start <= at < start + hour:
            return start - _TINY
        if start + hour <= at < start + 2 * hour:
            # The next window: FiC's started no later than ours (``start`` is the latest it can
            # be); a request let go just before it may still be counted in it.
            return start + hour - self._edge(hour)
        return None

    def acquire(self) -> float:
        """Book the earliest slot that keeps every window within its limit, then wait for it."""
        ledger, company = self.ledger, self.company
        with ledger.transaction():
            now = self._clock()
            ledger.forget(company, now - 2 * max(self.limits.hour_seconds, self.limits.short_seconds))
            last = ledger.last_at(company)
            at = max(now, last) if last is not None else now
            at = max(at, ledger.last_at(self._until_log) or at)
            start = self.window_start(now)
            total = ledger.total(company)
            hourly, short = self._keep(self.hourly), self._keep(self.limits.short_term)
            while True:
                moved = at
                span = self.limits.short_seconds + self._edge(self.limits.short_seconds)
                if total - ledger.total_at_or_before(company, moved - span) >= short:
                    moved = max(moved, ledger.first_at_above(company, total - short) + span)
                floor = self._hour_floor(moved, start)
                if floor is not None:
                    # FiC's fixed window: full until it ends, whatever our log says before it.
                    if total - ledger.total_at_or_before(company, floor) >= hourly:
                        hour = self.limits.hour_seconds
                        moved = max(moved, start + (2 * hour if moved >= start + hour else hour))
                else:
                    span = self.limits.hour_seconds + self._edge(self.limits.hour_seconds)
                    if total - ledger.total_at_or_before(company, moved - span) >= hourly:
                        # The entry whose ageing-out leaves fewer than `limit` in the window.
                        moved = max(moved, ledger.first_at_above(company, total - hourly) + span)
                if moved == at:
                    break
                at = moved
            if at - now > self.limits.max_wait:
                raise WaitTooLong(at - now)
            ledger.book(company, at, 1)
        self._slots.at = at
        wait = at - now
        if wait > 0:
            self._sleep(wait)
        return wait

    def observe(self, quota: Quota) -> None:
        """Learn from FiC's ``RateLimit-*`` headers: its hourly limit; a new window when FiC counts
        far fewer requests than were let go before this one in what we took for its window; and,
        when FiC counts more than the log holds (another app on the same company, or requests
        counted in a window we did not know had started), the difference, booked as just sent."""
        if quota.hourly_limit:
            self.announced_hourly = quota.hourly_limit
        if quota.hourly_remaining is None:
            return
        limit = quota.hourly_limit or self.hourly
        counted = max(0, limit - max(0, quota.hourly_remaining))  # FiC's count in its window
        ledger, company = self.ledger, self.company
        slot = getattr(self._slots, "at", None)
        self._slots.at = None
        with ledger.transaction():
            now = self._clock()
            start = self.window_start(now)
            floor = self._hour_floor(now, start)
            if floor is None:
                floor = now - self.limits.hour_seconds
            before = 0
            if slot is not None:
                before = ledger.total_at_or_before(company, slot - _TINY) - ledger.total_at_or_before(company, floor)
            first = quota.hourly_limit is not None and counted <= 1  # this request opened FiC's window
            if first or before > counted + max(3, math.ceil(limit * RESET_SLACK)):
                # FiC's window started again between those requests and this one (or with this one).
                ledger.forget(self._window_log, now)
                ledger.book(self._window_log, now, 1)
                floor = now - _TINY
            ours = ledger.total(company) - ledger.total_at_or_before(company, floor)
            missing = counted - ours
            if missing > 0:
                ledger.book(company, max(now, ledger.last_at(company) or now), missing)

    def refused(self, retry_after: float) -> None:
        """FiC refused a request for its quota: no process sends before ``Retry-After`` is over."""
        with self.ledger.transaction():
            until = self._clock() + max(0.0, retry_after)
            if until > (self.ledger.last_at(self._until_log) or 0.0):
                self.ledger.forget(self._until_log, until)
                self.ledger.book(self._until_log, until, 1)

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
