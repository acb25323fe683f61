"""Who is working on a row right now, and whether that worker is still alive.

Jobs and document intents carry ``lease_owner`` / ``lease_until``. A lease is taken inside a
``BEGIN IMMEDIATE`` transaction; it is free when it expired, or at once when its owner is a
process (or a thread of this process) on this machine that no longer runs — so a worker killed
with ``kill -9`` is replaced without waiting for the lease to run out.
"""

from __future__ import annotations

import os
import socket
import threading

from .store import clock

HOST = socket.gethostname()

#: How long a worker may hold a job or a document intent before another may take it over: longer
#: than the slowest FiC call with its retries. A dead worker's lease is freed at once anyway.
LEASE_SECONDS = 300


def owner_id() -> str:
    return f"{HOST}:{os.getpid()}:{threading.get_ident()}"


def until(seconds: float) -> str:
    """The lease's end, in UTC (see ``store.clock``): the local clock may go back an hour."""
    return clock.in_seconds(seconds)


def is_free(owner: str | None, lease_until: str | None) -> bool:
    """True when nobody holds the lease, it expired, or its holder is dead."""
    if not owner or not lease_until:
        return True
    if owner == owner_id():
        return True
    if clock.parse(lease_until) < clock.utc_now():
        return True
    host, _, rest = owner.partition(":")
    pid_text, _, thread_text = rest.partition(":")
    if host != HOST:
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return int(thread_text) not in {t.ident for t in threading.enumerate()}
    return not _process_alive(pid)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A killed child not yet reaped by its parent is a zombie: it holds nothing any more.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True
