"""FiC's lookups kept for a while: VAT types, payment methods and accounts, email senders,
document info.

They belong to the company, change rarely and are needed for every document. A client keeps
its own by default; a worker process serving many shops gives all its clients one
:class:`LookupCache`, scoped by API, company and token, so that reopening a shop (its context
is not kept between jobs once the worker serves more shops than it keeps open) does not ask FiC
for them again with every invoice.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

LOOKUP_TTL = 600.0

#: Entries a shared cache holds: four lookups for each of about 2,000 companies. A company's
#: lookups are a few kilobytes, so a worker stays within a few tens of megabytes however many
#: shops it serves.
SHARED_ENTRIES = 8192


class LookupCache:
    """Values by key for ``ttl`` seconds, at most ``size`` of them (the least recently used go).

    Threads asking for the same missing key wait for the one fetching it instead of each asking
    FiC (a shop's jobs start together: eight threads used to fetch the same VAT types at once).
    """

    def __init__(self, ttl: float = LOOKUP_TTL, size: int = SHARED_ENTRIES,
                 clock: Callable[[], float] = time.monotonic):
        self.ttl = ttl
        self.size = size
        self._clock = clock
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._fetching: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, fetch: Callable[[], Any]) -> Any:
        found, value = self._fresh(key)
        if found:
            return value
        with self._lock:
            fetching = self._fetching.setdefault(key, threading.Lock())
        with fetching:
            found, value = self._fresh(key)  # fetched by another thread while this one waited
            if found:
                return value
            try:
                value = fetch()
            finally:
                with self._lock:
                    self._fetching.pop(key, None)
            with self._lock:
                self._entries[key] = (self._clock() + self.ttl, value)
                self._entries.move_to_end(key)
                while len(self._entries) > self.size:
                    self._entries.popitem(last=False)
            return value

    def forget(self, scope: Hashable | None = None) -> None:
        """Drop every entry, or those whose key starts with ``scope`` (one company's)."""
        with self._lock:
            if scope is None:
                self._entries.clear()
            else:
                for key in [k for k in self._entries if isinstance(k, tuple) and k[:1] == (scope,)]:
                    del self._entries[key]

    def __len__(self) -> int:
        return len(self._entries)

    def _fresh(self, key: Hashable) -> tuple[bool, Any]:
        with self._lock:
            cached = self._entries.get(key)
            if cached is None or cached[0] <= self._clock():
                return False, None
            self._entries.move_to_end(key)
            return True, cached[1]
