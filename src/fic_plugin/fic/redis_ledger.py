"""FiC's quota per company in Redis: the send log of the shared pacer for many processes and machines.

The pacer (``shared_pacer.SharedPacer``) books each request's slot in a *ledger*; the shop
database is one ledger (one shop's processes), Redis is this one: every worker process on every
machine serving a platform's shops draws on one log per FiC company and app. The read-check-book
steps run under a per-company lock (``SET NX PX`` released by a compare-and-delete Lua script), so
two processes never book the same slot; the keys expire once the windows are over.

Keys (prefix ``fic:pace``): ``…:{app}:{company}:t`` send times (a sorted set: member the running
total, zero-padded, score the time), ``…:n`` the same members scored by total, ``…:d`` the total of
entries already forgotten, ``…:lock``.
"""

from __future__ import annotations

import secrets
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

#: Compare-and-delete: release the lock only when we still hold it.
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
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

    def used(self, company: str, seconds: float, now: float | None = None) -> int:
        """Requests booked in the last ``seconds`` (``fic status`` and the dispatcher's parking)."""
        now = time.time() if now is None else now
        return self.total(company) - self.total_at_or_before(company, now - seconds)
