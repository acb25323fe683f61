"""Pacing requests so FiC never has to refuse them.

FiC allows 1,000 requests per hour per company and app, and about 300 every 5 minutes; past
that it answers 403/429 with ``Retry-After``. Being refused costs a round trip and, for the
hourly quota, can stall the shop for the rest of the hour, so :class:`Pacer` keeps a sliding log
of when requests were sent and waits before sending one that would break a window. When FiC's
``RateLimit-*`` headers say fewer requests remain than the log thinks (another process or app
uses the same company), the headers win.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping

import attrs

#: Send this much after a window edge: clocks are floats, and FiC's own edge is not exact either.
_EDGE = 0.001
#: FiC counts a request when it arrives, the pacer when it is let go; somewhere in between the
#: answer came back. The edge also covers the slowest of this many recent requests (slot to
#: answer), at most this share of the window: 1 ms alone drew 429s on a busy 2-core machine.
_LATENCY_SAMPLES = 256
_LATENCY_SHARE = 0.1


@attrs.frozen(kw_only=True)
class RateLimits:
    """The windows the pacer keeps to. Defaults are FiC's real limits.

    Tests and the sandbox compress them (e.g. an "hour" of 60 s); ``max_wait`` caps how long one
    call may sleep, for the pacer or for a ``Retry-After``: beyond it the call raises
    :class:`~fic_plugin.fic.errors.RateLimited` and the job layer reschedules.
    """

    hourly: int = 1000
    hour_seconds: float = 3600.0
    short_term: int = 300
    short_seconds: float = 300.0
    max_wait: float = 120.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> RateLimits:
        """Limits from ``FIC_RATE_HOURLY``, ``FIC_RATE_SHORT_TERM``, ``FIC_RATE_HOUR_SECONDS``,
        ``FIC_RATE_SHORT_SECONDS`` and ``FIC_RATE_MAX_WAIT``; FiC's real values where unset."""
        names = {"hourly": ("FIC_RATE_HOURLY", int), "short_term": ("FIC_RATE_SHORT_TERM", int),
                 "hour_seconds": ("FIC_RATE_HOUR_SECONDS", float),
                 "short_seconds": ("FIC_RATE_SHORT_SECONDS", float),
                 "max_wait": ("FIC_RATE_MAX_WAIT", float)}
        values = {}
        for field, (env, kind) in names.items():
            if environ.get(env, "").strip():
                values[field] = kind(environ[env])
        return cls(**values)


@attrs.frozen
class Quota:
    """The ``RateLimit-*`` headers of FiC's last answer (``None`` until one carried them)."""

    hourly_remaining: int | None = None
    hourly_limit: int | None = None
    monthly_remaining: int | None = None
    monthly_limit: int | None = None

    _HEADERS = {"hourly_remaining": "RateLimit-HourlyRemaining", "hourly_limit": "RateLimit-HourlyLimit",
                "monthly_remaining": "RateLimit-MonthlyRemaining", "monthly_limit": "RateLimit-MonthlyLimit"}

    @classmethod
    def from_headers(cls, headers: Mapping[str, str], previous: Quota | None = None) -> Quota:
        """Read the headers present; keep the previous value of the ones missing."""
        values = attrs.asdict(previous) if previous else {}
        for field, header in cls._HEADERS.items():
            raw = headers.get(header)
            if raw is not None:
                try:
                    values[field] = int(str(raw).strip())
                except ValueError:
                    continue
        return cls(**values)


class WaitTooLong(Exception):
    """The pacer would have to wait more than ``max_wait``; ``seconds`` says how long."""

    def __init__(self, seconds: float):
        super().__init__(seconds)
        self.seconds = seconds


class Pacer:
    """A sliding log of send times; :meth:`acquire` returns when one more request fits.

    Thread safe: a slot is reserved under the lock (at the time it will be used) and the sleep
    happens outside it, so concurrent callers queue up without overshooting a window.

    The log is two parallel lists, send times (ascending) and running totals, so counting a
    window is a binary search: with relaxed limits an hour may hold tens of thousands of sends,
    and requests booked from FiC's headers are one entry, however many they are.
    """

    def __init__(self, limits: RateLimits, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.limits = limits
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._latencies: deque[float] = deque(maxlen=_LATENCY_SAMPLES)
        self._times: list[float] = []  # when each entry was (or will be) sent, ascending
        self._totals: list[int] = []  # requests booked up to and including each entry
        self._start = 0  # first entry still inside the longest window
        self._dropped = 0  # requests booked in entries already removed from the lists
        self._until = float("-inf")  # FiC's last Retry-After: nothing goes before it

    def acquire(self) -> float:
        """Wait until a request may be sent, record it, and return how long we waited."""
        with self._lock:
            now = self._clock()
            at = self._earliest_slot(max(now, self._until))
            if at - now > self.limits.max_wait:
                raise WaitTooLong(at - now)
            self._record(at)
        wait = at - now
        if wait > 0:
            self._sleep(wait)
        return wait

    def observe(self, quota: Quota) -> None:
        """Trust FiC's count when it says fewer requests remain this hour than our log does.

        We cannot know when FiC's window started, so the missing requests are booked as just
        sent: the pacer then waits until our own window frees them (never sooner than FiC).
        """
        if quota.hourly_remaining is None:
            return
        with self._lock:
            now = self._clock()
            self._forget(now)
            ours_remaining = self.limits.hourly - self._count_after(now - self.limits.hour_seconds)
            missing = ours_remaining - max(0, quota.hourly_remaining)
            if missing > 0:
                self._record(now, missing)

    def refused(self, retry_after: float) -> None:
        """FiC refused a request for its quota: no thread sends before ``Retry-After`` is over."""
        with self._lock:
            self._until = max(self._until, self._clock() + max(0.0, retry_after))

    def answered(self, seconds: float) -> None:
        """How long a request took from its slot to its answer (or its failure): within that
        time FiC counted it, so windows are kept that much apart."""
        with self._lock:
            self._latencies.append(max(0.0, seconds))

    def _edge(self, seconds: float) -> float:
        slowest = max(self._latencies, default=0.0)
        return max(_EDGE, min(slowest, seconds * _LATENCY_SHARE))

    @property
    def sent_in_last_hour(self) -> int:
        with self._lock:
            return self._count_after(self._clock() - self.limits.hour_seconds)

    def _booked(self, index: int) -> int:
        """Requests booked before entry ``index``."""
        return self._totals[index - 1] if index > 0 else self._dropped

    def _count_after(self, moment: float) -> int:
        """Requests booked strictly after ``moment``."""
        if not self._totals:
            return 0
        first = bisect.bisect_right(self._times, moment, self._start)
        return self._totals[-1] - self._booked(first)

    def _earliest_slot(self, now: float) -> float:
        self._forget(now)
        # Slots are handed out in order, so every logged time is <= the slot we pick and only
        # the windows ending at it need checking. A window holds at most N sends: the next one
        # fits once enough of the oldest have aged out that fewer than N are left in it.
        at = max(now, self._times[-1]) if self._times else now
        while True:
            moved = at
            for limit, seconds in ((self.limits.short_term, self.limits.short_seconds),
                                   (self.limits.hourly, self.limits.hour_seconds)):
                # The window is held a little longer than FiC's (the edge), whether this request
                # has to wait or not: one let go just after the edge may still land inside it.
                span = seconds + self._edge(seconds)
                first = bisect.bisect_right(self._times, moved - span, self._start)
                total = self._totals[-1] if self._totals else 0
                if total - self._booked(first) >= limit:
                    # The first entry whose ageing-out leaves fewer than `limit` after it.
                    oldest = bisect.bisect_right(self._totals, total - limit, first)
                    moved = max(moved, self._times[oldest] + span)
            if moved == at:
                return at
            at = moved

    def _record(self, at: float, count: int = 1) -> None:
        self._times.append(max(at, self._times[-1]) if self._times else at)
        self._totals.append((self._totals[-1] if self._totals else 0) + count)

    def _forget(self, now: float) -> None:
        horizon = now - max(self.limits.hour_seconds, self.limits.short_seconds)
        self._start = bisect.bisect_right(self._times, horizon, self._start)
        if self._start > 1024 and self._start * 2 > len(self._times):
            # Drop the aged-out half at once: amortised O(1) per request.
            self._dropped = self._totals[self._start - 1]
            del self._times[:self._start], self._totals[:self._start]
            self._start = 0
