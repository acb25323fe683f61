"""Who is working on a row right now, and whether that worker is still alive.

Jobs and document intents carry ``lease_owner`` / ``lease_until``. A lease is taken inside a
``BEGIN IMMEDIATE`` transaction. Its owner is ``<process id>:<thread>``, where the process id is
random (drawn at start and again after a fork): two containers that both run the worker as PID 1
on a host called ``ubuntu`` still have different ids. Each process that holds leases beats in
``fic_workers`` every :data:`HEARTBEAT_SECONDS`; a lease is free once its owner has not beaten
for :data:`STALE_SECONDS` (a worker killed with ``kill -9`` or frozen is replaced then), or at
once when its owner is a thread of this very process that no longer runs. Hostnames and PIDs
are never looked at: they are not unique across containers and machines.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from typing import TYPE_CHECKING

from .errors import Busy
from .store import clock

if TYPE_CHECKING:
    from .store import Store

#: How often a process holding leases says it is alive.
HEARTBEAT_SECONDS = 1.0
#: A process silent for this long is dead: its leases are free. Several beats, so a loaded
#: machine that delays one beat does not hand a live worker's work to another.
STALE_SECONDS = float(os.environ.get("FIC_WORKER_STALE_SECONDS") or 10.0)

_lock = threading.Lock()
_process_id = secrets.token_hex(8)
#: Database path -> monotonic time of the last lease taken there by this process.
_beating: dict[str, float] = {}
_last_beat: dict[str, float] = {}


def _new_process() -> None:
    """After a fork the child is another worker: a new id, and no heartbeat thread yet."""
    global _process_id, _beating, _last_beat
    _process_id = secrets.token_hex(8)
    _beating, _last_beat = {}, {}


os.register_at_fork(after_in_child=_new_process)


def process_id() -> str:
    return _process_id


def owner_id(store: Store) -> str:
    """This thread's owner name for a lease about to be written in ``store``'s current transaction.

    Beats at once when the last beat is not fresh (through the caller's connection: a second
    one would wait for the caller's write transaction), and keeps a heartbeat thread running while
    this process holds leases in that database.
    """
    now = time.monotonic()
    if now - _last_beat.get(store.url, -1e9) > HEARTBEAT_SECONDS:
        store.workers.beat(_process_id, time.time())
        _last_beat[store.url] = now
    with _lock:
        running = store.url in _beating
        _beating[store.url] = now
    if not running and store.path != ":memory:":
        file = store.path if store.dialect == "sqlite" else None
        threading.Thread(target=_beat, args=(store.url, file, _process_id), daemon=True,
                         name="fic-heartbeat").start()
    return me()


def beating(url: str) -> bool:
    """Whether this process keeps a heartbeat thread for the database at ``url``."""
    with _lock:
        return url in _beating


def me() -> str:
    """The owner name of this thread (without beating)."""
    return f"{_process_id}:{threading.get_ident()}"


class LeaseLost(Busy):
    """This worker was silent too long and another took its row over: it must not call FiC for it."""


#: How long a worker may hold a job or a document intent before another may take it over: longer
#: than the slowest FiC call with its retries. A silent owner's lease is freed sooner (heartbeats).
LEASE_SECONDS = 300


def until(seconds: float) -> str:
    """The lease's end, in UTC (see ``store.clock``): what frees a lease of an owner from before
    heartbeats (it never beats)."""
    return clock.in_seconds(seconds)


def is_free(store: Store, owner: str | None, lease_until: str | None) -> bool:
    """True when nobody holds the lease, or its holder stopped beating (or is a dead thread here)."""
    if not owner:
        return True
    process, _, thread = owner.partition(":")
    if process == _process_id:
        return thread == str(threading.get_ident()) or int(thread) not in {t.ident for t in threading.enumerate()}
    beat_at = store.workers.beat_at(process)
    if beat_at is None:
        # An owner from before heartbeats (``host:pid:thread``): only its expiry frees it.
        return not lease_until or clock.parse(lease_until) < clock.utc_now()
    return time.time() - beat_at > STALE_SECONDS


def free_at(store: Store, owner: str | None) -> float | None:
    """When (epoch seconds) another process's lease becomes free if its owner stays silent."""
    if not owner:
        return None
    process = owner.partition(":")[0]
    beat_at = store.workers.beat_at(process) if process != _process_id else None
    return None if beat_at is None else beat_at + STALE_SECONDS


def _beat(url: str, file: str | None, process: str) -> None:
    """Beat while this process holds leases in the database at ``url`` (or took one lately), then stop.

    Stopping matters: a shop's web app, or a test run with a thousand databases, would otherwise
    keep a thread writing into every database it ever touched.
    """
    from .store import Store

    store = Store(url)
    failing_since: float | None = None
    try:
        while True:
            time.sleep(HEARTBEAT_SECONDS)
            if process != _process_id or (file is not None and not os.path.exists(file)):
                return  # forked (the child beats under its own id), or the database is gone
            try:
                store.workers.beat(process, time.time())
                _last_beat[url] = time.monotonic()
                # A lease of a thread that ended is free already (is_free): no beat keeps it.
                alive = {thread.ident for thread in threading.enumerate()}
                holding = bool(store.workers.lease_threads(process) & alive)
            except Exception:  # noqa: BLE001 - a busy database: beat again next time
                # Unless it keeps failing (a schema dropped, a server gone): past STALE_SECONDS this
                # process counts as dead there anyway, and the next lease taken beats again.
                failing_since = failing_since or time.monotonic()
                holding = time.monotonic() - failing_since <= STALE_SECONDS
            else:
                failing_since = None
            with _lock:
                if not holding and time.monotonic() - _beating.get(url, 0.0) > STALE_SECONDS:
                    _beating.pop(url, None)
                    return
    finally:
        store.close()
