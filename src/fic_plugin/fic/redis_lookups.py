"""FiC's lookups shared by every worker process of a platform, in Redis (the engine's).

Each worker process used to ask FiC for a company's VAT types, payment methods and accounts and
email senders itself: with four processes that was four times per company each time they expired,
from the company's quota of 1,000 requests an hour. Keys ``fic:lookups:{scope}:{name}:{key}``
(the scope digests API, company and token: no token in Redis), JSON with amounts as Decimal,
expiring with the lookups' time to live. Redis not answering is never an error here: the lookup
is then asked of FiC, as without the engine.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Hashable
from typing import Any

from .. import json_codec

log = logging.getLogger(__name__)

PREFIX = "fic:lookups"
#: How long a process waits for the lookup another one is asking FiC for, before asking itself.
WAIT_SECONDS = 3.0


class RedisLookups:
    """A :class:`~fic_plugin.fic.lookups.SharedStore` on a Redis client."""

    def __init__(self, client: Any, prefix: str = PREFIX):
        self.client = client
        self.prefix = prefix

    def get(self, key: Hashable) -> Any | None:
        """The lookup another process stored, or None: then this process asks FiC. When none
        has it yet, the first to ask gets None and the others wait for its answer (at most
        :data:`WAIT_SECONDS`): a shop's jobs start together in several processes."""
        name = self._key(key)
        try:
            raw = self.client.get(name)
            if raw is None and not self.client.set(name + ":asking", "1", nx=True, px=int(WAIT_SECONDS * 1000)):
                deadline = time.monotonic() + WAIT_SECONDS
                while raw is None and time.monotonic() < deadline:
                    time.sleep(0.05)
                    raw = self.client.get(name)
        except Exception as error:  # noqa: BLE001 - Redis away: ask FiC instead
            log.debug("lookups not read from Redis: %s", error)
            return None
        return None if raw is None else json_codec.loads(raw)

    def put(self, key: Hashable, value: Any, ttl: float) -> None:
        try:
            name = self._key(key)
            self.client.set(name, json_codec.dumps(value, compact=True), ex=max(1, int(ttl)))
            self.client.delete(name + ":asking")
        except Exception as error:  # noqa: BLE001 - only the other processes miss it
            log.debug("lookups not written to Redis: %s", error)

    def forget(self, scope: Hashable) -> None:
        try:
            for name in self.client.scan_iter(match=f"{self.prefix}:{scope}:*", count=500):
                self.client.delete(name)
        except Exception as error:  # noqa: BLE001 - they expire by themselves
            log.debug("lookups not forgotten in Redis: %s", error)

    def _key(self, key: Hashable) -> str:
        parts = key if isinstance(key, tuple) else (key,)
        return ":".join([self.prefix, *(str(part) for part in parts)])
