"""The side channel's knobs: injected faults, FiC's request quotas and the request counters.

Faults and quotas touch only FiC's paths (never ``/__sandbox__/`` nor ``/oauth``), so a test can
always reach the side channel to turn them off again. Random draws come from one seeded
generator, five draws per request, so a given seed replays the same faults in the same order.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import deque
from typing import Any

import attrs

from .knobs import probability, refuse_unknown, settings_from
from .responses import ApiError

GARBAGE_KINDS = ("html", "empty", "invalid_json")
NOMINAL_HOURLY = 1000
NOMINAL_MONTHLY = 40000
MONTH_SECONDS = 30 * 24 * 3600


@attrs.define
class FaultConfig:
    latency_ms: int = attrs.field(default=0, converter=int)
    error_rate: float = attrs.field(default=0.0, converter=probability)
    timeout_after_commit_rate: float = attrs.field(default=0.0, converter=probability)
    rate_limit_rate: float = attrs.field(default=0.0, converter=probability)
    reset_rate: float = attrs.field(default=0.0, converter=probability)
    garbage_rate: float = attrs.field(default=0.0, converter=probability)
    garbage_kind: str = attrs.field(default="html", validator=attrs.validators.in_(GARBAGE_KINDS))
    seed: int | None = None
    hang_seconds: float = attrs.field(default=35.0, converter=float)
    #: Only requests whose path contains this meet the faults ("" = all), e.g. "/e_invoice/send"
    #: to lose the answer of a send while its verify goes through.
    path_contains: str = attrs.field(default="", converter=str)


@attrs.define
class Decision:
    """What happens to one request: sleep first, then maybe fail before doing anything, or hang after."""

    latency: float = 0.0
    before: str | None = None  # "reset" | "error" | "rate_limit" | "garbage"
    hang_after_commit: float | None = None
    garbage_kind: str = "html"


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.config = FaultConfig()
        self._rng = random.Random()

    def configure(self, values: dict) -> FaultConfig:
        """Replace the fault settings (keys not given go back to 0); ValueError/TypeError on bad input."""
        config = settings_from(FaultConfig, values, "fault")
        with self._lock:
            self.config = config
            self._rng = random.Random(config.seed)
        return config

    def clear(self) -> None:
        self.configure({})

    def decide(self, path: str = "") -> Decision:
        with self._lock:
            config = self.config
            if config.path_contains and config.path_contains not in path:
                return Decision()
            rolls = [self._rng.random() for _ in range(5)]
        decision = Decision(latency=config.latency_ms / 1000, garbage_kind=config.garbage_kind)
        for roll, rate, kind in zip(rolls, (config.reset_rate, config.error_rate, config.rate_limit_rate,
                                            config.garbage_rate), ("reset", "error", "rate_limit", "garbage"), strict=False):
            if roll < rate:
                decision.before = kind
                return decision
        if rolls[4] < config.timeout_after_commit_rate:
            decision.hang_after_commit = config.hang_seconds
        return decision


@attrs.define
class LimitConfig:
    hourly: int = NOMINAL_HOURLY
    hour_seconds: float = 3600.0
    short_term: int = 300
    short_seconds: float = 300.0
    monthly: int = NOMINAL_MONTHLY
    month_seconds: float = float(MONTH_SECONDS)
    #: FiC's windows divided by this (60: an hour lasts a minute) unless a ``*_seconds`` is given.
    time_scale: float = 1.0
    #: Every FiC request waits this long before it is answered (FiC takes hundreds of ms).
    latency_ms: int = 0


_INTS = ("hourly", "short_term", "monthly", "latency_ms")
_NOMINAL_SECONDS = {"hour_seconds": 3600.0, "short_seconds": 300.0, "month_seconds": float(MONTH_SECONDS)}


class Limits:
    """FiC's quotas: fixed hourly and monthly windows (403), a sliding short-term one (429).

    Off by default: requests are still counted so the RateLimit-* headers move like FiC's, but
    nothing is refused.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.enabled = False
        self.config = LimitConfig()
        self._reset_counters()

    def _reset_counters(self) -> None:
        now = time.monotonic()
        self._hour_start = self._month_start = now
        self._hour_count = self._month_count = 0
        self._recent: deque[float] = deque()
        self._past_hours: list[int] = []  # requests admitted in each closed hourly window
        self._peak_short = 0

    def usage(self) -> dict[str, Any]:
        """Requests admitted per hourly window (closed ones, then the current) and the most ever seen
        inside one short-term window: what a benchmark compares with the quota."""
        with self._lock:
            return {"hourly_limit": self.config.hourly, "short_term_limit": self.config.short_term,
                    "hour_windows": [*self._past_hours, self._hour_count], "peak_short_term": self._peak_short}

    def configure(self, values: dict) -> LimitConfig:
        refuse_unknown(values, (field.name for field in attrs.fields(LimitConfig)), "limit")
        config = LimitConfig(**{key: (int(v) if key in _INTS else float(v)) for key, v in values.items()})
        if config.time_scale <= 0 or config.latency_ms < 0:
            raise ValueError("time_scale is above 0 and latency_ms is 0 or more")
        for key, nominal in _NOMINAL_SECONDS.items():
            if key not in values:
                setattr(config, key, nominal / config.time_scale)
        with self._lock:
            self.config, self.enabled = config, True
            self._reset_counters()
        return config

    def disable(self) -> None:
        with self._lock:
            self.config, self.enabled = LimitConfig(), False
            self._reset_counters()

    def admit(self) -> dict[str, str]:
        """Count one request or raise ApiError(403/429) with Retry-After; returns the quota headers."""
        with self._lock:
            now = time.monotonic()
            config = self.config
            if now - self._hour_start >= config.hour_seconds:
                if self._hour_count:
                    self._past_hours.append(self._hour_count)
                self._hour_start, self._hour_count = now, 0
            if now - self._month_start >= config.month_seconds:
                self._month_start, self._month_count = now, 0
            while self._recent and now - self._recent[0] >= config.short_seconds:
                self._recent.popleft()
            if self.enabled:
                self._refuse_if_over(now, config)
            self._hour_count += 1
            self._month_count += 1
            self._recent.append(now)
            self._peak_short = max(self._peak_short, len(self._recent))
            return self._headers()

    def _refuse_if_over(self, now: float, config: LimitConfig) -> None:
        if self._month_count >= config.monthly:
            wait = config.month_seconds - (now - self._month_start)
            raise self._error(403, "Hai superato il limite mensile di richieste API.", "MONTHLY_LIMIT_EXCEEDED", wait)
        if self._hour_count >= config.hourly:
            wait = config.hour_seconds - (now - self._hour_start)
            raise self._error(403, "Hai superato il limite orario di richieste API.", "HOURLY_LIMIT_EXCEEDED", wait)
        if len(self._recent) >= config.short_term:
            wait = config.short_seconds - (now - self._recent[0])
            raise self._error(429, "Troppe richieste: riprova tra poco.", "TOO_MANY_REQUESTS", wait)

    def _error(self, status: int, message: str, code: str, wait: float) -> ApiError:
        headers = {"Retry-After": str(max(1, math.ceil(wait))), **self._headers()}
        return ApiError(status, message, code=code, headers=headers)

    def _headers(self) -> dict[str, str]:
        config = self.config
        return {"RateLimit-HourlyRemaining": str(max(0, config.hourly - self._hour_count)),
                "RateLimit-HourlyLimit": str(config.hourly),
                "RateLimit-MonthlyRemaining": str(max(0, config.monthly - self._month_count)),
                "RateLimit-MonthlyLimit": str(config.monthly)}

    def headers(self) -> dict[str, str]:
        with self._lock:
            return self._headers()


class Stats:
    """Requests seen on FiC's paths, by status code, plus refusals and dropped connections."""

    def __init__(self, parent: Stats | None = None) -> None:
        self._lock = threading.Lock()
        self.parent = parent  # a company's counters also add up in the whole sandbox's
        self.reset()

    def reset(self) -> None:
        self.total = 0
        self.by_status: dict[str, int] = {}
        self.dropped = 0
        self.faults: dict[str, int] = {}

    def record(self, status: int | None, fault: str | None = None) -> None:
        with self._lock:
            self.total += 1
            if status is None:
                self.dropped += 1
            else:
                self.by_status[str(status)] = self.by_status.get(str(status), 0) + 1
            if fault:
                self.faults[fault] = self.faults.get(fault, 0) + 1
        if self.parent is not None:
            self.parent.record(status, fault)

    def snapshot(self) -> dict:
        with self._lock:
            return {"requests": self.total, "by_status": dict(self.by_status),
                    "rate_limited_429": self.by_status.get("429", 0), "forbidden_403": self.by_status.get("403", 0),
                    "dropped": self.dropped, "faults": dict(self.faults)}
