"""FiC's lookups kept for a while: VAT types, payment methods and accounts, email senders,
document info.

They belong to the company, change rarely and are needed for every document. A client keeps
its own by default; a worker process serving many shops gives all its clients one
:class:`LookupCache`, scoped by API, company and token, so that reopening a shop (its context
is not kept between jobs once the worker serves more shops than it keeps open) does not ask FiC
for them again with every invoice.

They are kept for an hour (:data:`LOOKUP_TTL`), and read again sooner when something says they
changed: FiC refusing what the plugin sent (``FicClient``), a mapping naming a VAT type the kept
list lacks (``document_intents``), the owner opening the settings (``connection.lookups``).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Protocol

#: A company's lists change when its owner edits FiC's settings, a few times a year. Ten minutes
#: made every invoice of a shop selling less often than that (most shops, and every shop of a
#: platform of a thousand on one worker process) ask FiC for its lists first: most of a second of
#: waiting and four or five requests of the company's quota per invoice. The events above refresh them sooner.
LOOKUP_TTL = 3600.0
#: With a shared store, how long a process keeps an entry in its own memory: a company's lookups
#: forgotten by one process (FiC refused a document) reach the others within this time (each also
#: forgets them when FiC refuses one of its own), as long as before they were kept an hour.
LOCAL_SECONDS_WITH_SHARED = 600.0

#: Entries a worker's cache holds with nothing shared behind it: four lookups for each of about
#: 2,000 companies, so its shops ask FiC once per company and ``ttl``. A company's lookups are
#: 15 KiB (the sandbox's) to some 50 KiB of Python objects (a real company's dozens of VAT types),
#: so this cache alone can reach 100 MiB: a worker with a :class:`SharedStore` keeps far fewer
#: (``shops.OpenShops``) and reads the others from the store.
SHARED_ENTRIES = 8192


class SharedStore(Protocol):
    """Where the worker processes of a platform share their lookups (Redis, with the engine):
    each asks FiC once per company and ``ttl`` instead of once per process. It must not fail the
    caller: a store that cannot answer returns None (the lookup is then asked of FiC)."""

    def get(self, key: Hashable) -> Any | None: ...

    def put(self, key: Hashable, value: Any, ttl: float) -> None: ...

    def forget(self, scope: Hashable) -> None: ...


class LookupCache:
    """Values by key for ``ttl`` seconds, at most ``size`` of them (the least recently used go);
    with a ``shared`` store, which keeps them for ``ttl``, this process's memory keeps each for
    :data:`LOCAL_SECONDS_WITH_SHARED` at most.

    Threads asking for the same missing key wait for the one fetching it instead of each asking
    FiC (a shop's jobs start together: eight threads used to fetch the same VAT types at once).
    ``shared``: a store the other processes read too, looked at before asking FiC.
    """

    def __init__(self, ttl: float = LOOKUP_TTL, size: int = SHARED_ENTRIES,
                 clock: Callable[[], float] = time.monotonic, shared: SharedStore | None = None):
        self.ttl = ttl
        self.size = size
        self.shared = shared
        self._local_ttl = ttl if shared is None else min(ttl, LOCAL_SECONDS_WITH_SHARED)
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
                value = self.shared.get(key) if self.shared is not None else None
                if value is None:
                    value = fetch()
                    if self.shared is not None:
                        self.shared.put(key, value, self.ttl)
            finally:
                with self._lock:
                    self._fetching.pop(key, None)
            with self._lock:
                self._entries[key] = (self._clock() + self._local_ttl, value)
                self._entries.move_to_end(key)
                while len(self._entries) > self.size:
                    self._entries.popitem(last=False)
            return value

    def forget(self, scope: Hashable | None = None) -> None:
        """Drop every entry, or those whose key starts with ``scope`` (one company's)."""
        if self.shared is not None and scope is not None:
            self.shared.forget(scope)
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
