"""FiC's quota per company in Redis: the send log of the shared pacer for many processes and machines.

The pacer (``shared_pacer.SharedPacer``) books each request's slot in a *ledger*; the shop
database is one ledger (one shop's processes), Redis is this one: every worker process on every
machine serving a platform's shops draws on one log per FiC company and app. The read-check-book
steps run under a per-company lock (``SET NX PX`` released by a compare-and-delete Lua script), so
two processes never book the same slot; the keys expire once the windows are over.

:class:`RedisPacer` is what the workers use: the same slot rule as the shared pacer, but the whole
read-check-book runs as one Lua script (one round trip per request, atomic in Redis, no lock), and
so does booking what FiC says was used by others. The :class:`Ledger` methods stay for the shared
pacer and for reading (``used``); both write the same keys.

Keys (prefix ``fic:pace``): ``…:{app}:{company}:t`` send times (a sorted set: member the running
total, zero-padded, score the time), ``…:n`` the same members scored by total, ``…:d`` the total of
entries already forgotten, ``…:lock``.
"""

from __future__ import annotations

import logging
import math
import secrets
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .ratelimit import Quota, RateLimits, WaitTooLong
from .shared_pacer import MARGIN, SharedPacer

log = logging.getLogger(__name__)

#: Compare-and-delete: release the lock only when we still hold it.
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
#: The helpers of both scripts, on the keys t (times), n (totals), d (forgotten total).
_COMMON = """
local t, n, d = KEYS[1], KEYS[2], KEYS[3]
local function fmt(x) return string.format('%.6f', x) end
local function total()
  local last = redis.call('zrevrange', n, 0, 0)
  if #last > 0 then return tonumber(last[1]) end
  return tonumber(redis.call('get', d) or '0')
end
local function last_at()
  local last = redis.call('zrevrange', t, 0, 0, 'withscores')
  if #last > 0 then return tonumber(last[2]) end
  return nil
end
local function total_at_or_before(moment)
  local found = redis.call('zrevrangebyscore', t, fmt(moment), '-inf', 'limit', 0, 1)
  if #found > 0 then return tonumber(found[1]) end
  return tonumber(redis.call('get', d) or '0')
end
local function book(at, count, keep_ms)
  local new = total() + count
  local member = string.format('%015d', new)
  redis.call('zadd', t, fmt(at), member)
  redis.call('zadd', n, new, member)
  redis.call('pexpire', t, keep_ms)
  redis.call('pexpire', n, keep_ms)
  if redis.call('exists', d) == 1 then redis.call('pexpire', d, keep_ms) end
end
"""
#: ARGV: now, forget before, max wait, keep ms, then (limit, span) per window. Returns
#: {1, wait} with the slot booked, or {0, wait} when the wait would be longer than max wait.
_RESERVE = _COMMON + """
local now, before, max_wait, keep_ms = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local old = redis.call('zrangebyscore', t, '-inf', '(' .. fmt(before))
if #old > 0 then
  local dropped = 0
  for _, member in ipairs(old) do dropped = math.max(dropped, tonumber(member)) end
  redis.call('zremrangebyscore', t, '-inf', '(' .. fmt(before))
  redis.call('zremrangebyscore', n, '-inf', dropped)
  redis.call('set', d, dropped, 'px', keep_ms)
end
local at = math.max(now, last_at() or now)
local sum = total()
while true do
  local moved = at
  for i = 5, #ARGV, 2 do
    local limit, span = tonumber(ARGV[i]), tonumber(ARGV[i + 1])
    if sum - total_at_or_before(moved - span) >= limit then
      -- the entry whose ageing-out leaves fewer than limit in the window
      local found = redis.call('zrangebyscore', n, '(' .. (sum - limit), '+inf', 'limit', 0, 1)
      local first = last_at() or now
      if #found > 0 then first = tonumber(redis.call('zscore', t, found[1])) end
      moved = math.max(moved, first + span)
    end
  end
  if moved == at then break end
  at = moved
end
if at - now > max_wait then return {0, fmt(at - now)} end
book(at, 1, keep_ms)
return {1, fmt(at - now)}
"""
#: ARGV: now, then (limit, seconds) per window: 1 when a window has no room left, else 0.
_FULL = _COMMON + """
local now, sum = tonumber(ARGV[1]), total()
for i = 2, #ARGV, 2 do
  if sum - total_at_or_before(now - tonumber(ARGV[i + 1])) >= tonumber(ARGV[i]) then return 1 end
end
return 0
"""
#: ARGV: now, hour seconds, hourly limit, FiC's remaining, keep ms: book what FiC counted and we did not.
_TOP_UP = _COMMON + """
local now, hour, hourly, remaining = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local ours = total() - total_at_or_before(now - hour)
local missing = (hourly - ours) - math.max(0, remaining)
if missing > 0 then book(math.max(now, last_at() or now), missing, ARGV[5]) end
return missing
"""
LOCK_MS = 5000
KEEP_SECONDS = 2 * 3600


class RedisLedger:
    """The :class:`~fic_plugin.fic.shared_pacer.Ledger` protocol on Redis, for one app's companies."""

    def __init__(self, client: Any, app: str, company: str | None = None, *, prefix: str = "fic:pace",
                 keep_seconds: float = KEEP_SECONDS):
        self.redis = client
        self.company = company  # the company whose lock ``transaction()`` takes (the pacer gives none)
        # The app is FiC's base URL (or client id): hashed, so no address or id lands in key names.
        self.scope = f"{prefix}:{zlib.crc32(app.encode()):08x}"
        self.keep_ms = int(keep_seconds * 1000)
        self._release = client.register_script(_RELEASE)
        self._reserve = client.register_script(_RESERVE)
        self._top_up = client.register_script(_TOP_UP)
        self._full = client.register_script(_FULL)
        self._held: dict[str, str] = {}

    def _key(self, company: str, part: str) -> str:
        return f"{self.scope}:{company}:{part}"

    @contextmanager
    def transaction(self, company: str | None = None) -> Iterator[None]:
        """Hold the company's lock (re-entrant within this ledger object) for read-check-book."""
        key = self._key(company or self.company or "*", "lock")
        if key in self._held:
            yield
            return
        token = secrets.token_hex(8)
        delay = 0.001
        while not self.redis.set(key, token, nx=True, px=LOCK_MS):
            time.sleep(delay)
            delay = min(delay * 2, 0.02)
        self._held[key] = token
        try:
            yield
        finally:
            self._held.pop(key, None)
            self._release(keys=[key], args=[token])

    @staticmethod
    def _member(total: int) -> str:
        return f"{total:015d}"  # equal times sort by total, as strings

    def _dropped(self, company: str) -> int:
        return int(self.redis.get(self._key(company, "d")) or 0)

    def total(self, company: str) -> int:
        last = self.redis.zrevrange(self._key(company, "n"), 0, 0)
        return int(last[0]) if last else self._dropped(company)

    def last_at(self, company: str) -> float | None:
        last = self.redis.zrevrange(self._key(company, "t"), 0, 0, withscores=True)
        return float(last[0][1]) if last else None

    def total_at_or_before(self, company: str, moment: float) -> int:
        found = self.redis.zrevrangebyscore(self._key(company, "t"), moment, "-inf", start=0, num=1)
        return int(found[0]) if found else self._dropped(company)

    def first_at_above(self, company: str, total: int) -> float:
        found = self.redis.zrangebyscore(self._key(company, "n"), f"({total}", "+inf", start=0, num=1)
        if not found:
            return self.last_at(company) or time.time()
        return float(self.redis.zscore(self._key(company, "t"), found[0]))

    def book(self, company: str, at: float, count: int) -> None:
        total = self.total(company) + count
        member = self._member(total)
        pipe = self.redis.pipeline()
        pipe.zadd(self._key(company, "t"), {member: at})
        pipe.zadd(self._key(company, "n"), {member: total})
        for part in ("t", "n", "d"):
            pipe.pexpire(self._key(company, part), self.keep_ms)
        pipe.execute()

    def forget(self, company: str, before: float) -> None:
        old = self.redis.zrangebyscore(self._key(company, "t"), "-inf", f"({before}")
        if not old:
            return
        dropped = max(int(member) for member in old)
        pipe = self.redis.pipeline()
        pipe.zremrangebyscore(self._key(company, "t"), "-inf", f"({before}")
        pipe.zremrangebyscore(self._key(company, "n"), "-inf", dropped)
        pipe.set(self._key(company, "d"), dropped, px=self.keep_ms)
        pipe.execute()

    def _keys(self, company: str) -> list[str]:
        return [self._key(company, "t"), self._key(company, "n"), self._key(company, "d")]

    def reserve(self, company: str, now: float, windows: list[tuple[int, float]], max_wait: float,
                forget_before: float) -> tuple[bool, float]:
        """Book the earliest slot that keeps every (limit, span) window within its limit, in one
        atomic script: (True, seconds to wait for it), or (False, seconds) without booking when
        that wait is longer than ``max_wait``."""
        args: list[Any] = [repr(now), repr(forget_before), repr(max_wait), self.keep_ms]
        for limit, span in windows:
            args += [limit, repr(span)]
        booked, wait = self._reserve(keys=self._keys(company), args=args)
        return bool(int(booked)), float(wait)

    def top_up(self, company: str, now: float, hour_seconds: float, hourly: int, remaining: int) -> int:
        """Book, as just sent, the requests FiC counts in the hour and the log does not (another
        app on the company); returns how many."""
        return int(self._top_up(keys=self._keys(company),
                                args=[repr(now), repr(hour_seconds), hourly, remaining, self.keep_ms]))

    def full(self, company: str, windows: list[tuple[int, float]], now: float | None = None) -> bool:
        """True when one of the (limit, seconds) windows has no room left (one round trip)."""
        args: list[Any] = [repr(time.time() if now is None else now)]
        for limit, seconds in windows:
            args += [limit, repr(seconds)]
        return bool(int(self._full(keys=self._keys(company), args=args)))

    def used(self, company: str, seconds: float, now: float | None = None) -> int:
        """Requests booked in the last ``seconds`` (``fic status`` and the dispatcher's parking)."""
        now = time.time() if now is None else now
        return self.total(company) - self.total_at_or_before(company, now - seconds)


#: A request held back because Redis (the quota's log) does not answer is retried after this long.
REDIS_AWAY_RETRY_SECONDS = 5.0


class RedisPacer(SharedPacer):
    """The shared pacer on Redis for worker processes and machines: one script per request.

    Redis away for a moment (restarting): the request is held back and its job retried shortly,
    like a full window, never failed."""

    def __init__(self, limits: RateLimits, ledger: RedisLedger, company: str, *, margin: float = MARGIN, **kwargs: Any):
        super().__init__(limits, ledger, company, margin=margin, **kwargs)
        self.redis_ledger = ledger

    def _limits(self) -> list[tuple[int, float]]:
        """(requests, seconds) of each window, the margin kept under FiC's limits (a sliding log:
        FiC's fixed hourly window is not learned here, the shared pacer's window start is not used)."""
        keep = 1.0 - self.margin
        return [(max(1, math.floor(self.limits.short_term * keep)), self.limits.short_seconds),
                (max(1, math.floor(self.hourly * keep)), self.limits.hour_seconds)]

    def acquire(self) -> float:
        import redis

        now = self._clock()
        windows = [(limit, seconds + self._edge(seconds)) for limit, seconds in self._limits()]
        forget = now - 2 * max(self.limits.hour_seconds, self.limits.short_seconds)
        try:
            booked, wait = self.redis_ledger.reserve(self.company, now, windows, self.limits.max_wait, forget)
        except redis.RedisError:
            raise WaitTooLong(REDIS_AWAY_RETRY_SECONDS) from None
        if not booked:
            raise WaitTooLong(wait)
        if wait > 0:
            self._sleep(wait)
        return wait

    def refused(self, retry_after: float) -> None:
        import redis

        try:
            super().refused(retry_after)
        except redis.RedisError:
            log.warning("FiC's Retry-After not booked: Redis does not answer")

    def observe(self, quota: Quota) -> None:
        import redis

        if quota.hourly_limit:
            self.announced_hourly = quota.hourly_limit
        if quota.hourly_remaining is None:
            return
        try:
            self.redis_ledger.top_up(self.company, self._clock(), self.limits.hour_seconds, self.hourly,
                                     quota.hourly_remaining)
        except redis.RedisError:
            log.warning("FiC's quota headers not booked: Redis does not answer")
