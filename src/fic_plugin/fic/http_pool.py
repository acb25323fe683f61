"""The process's connections to FiC, shared by every client it makes.

Each client used to open its own (a ``requests.Session`` has its own pool). Over HTTPS every new
connection makes an SSL context of its own and loads the CA bundle into it: about 0.7 MiB and
30 ms of CPU with certifi's bundle (measured here, against 20 KiB a client with the shared
pool). A worker keeping 256 shops open held 256 of them, about 180 MiB, and paid the load and a
TLS handshake again for every shop it reopened, although all its shops talk to the same
``api-v2.fattureincloud.it``. One pool per process keeps a few connections to each host, reused
by whichever shop's client asks next; each client still has its own session (cookies, proxies,
CA bundle: a connection is only reused for the same verification settings, urllib3 keys its
pools by them).
"""

from __future__ import annotations

import os
import threading

from requests.adapters import HTTPAdapter

#: Hosts a process keeps connections to (FiC; in tests, each sandbox on its own port).
POOL_HOSTS = 16
#: Idle connections kept per host: at least the threads that call FiC at once (a worker's
#: ``--concurrency``, a web server's threads); a thread beyond them opens one and closes it after.
POOL_CONNECTIONS = 32

_lock = threading.Lock()
_adapter: tuple[int, HTTPAdapter] | None = None


def shared_adapter() -> HTTPAdapter:
    """This process's pool. A child made by ``fork`` gets a pool of its own: it must never use
    (or close) its parent's sockets."""
    global _adapter
    with _lock:
        if _adapter is None or _adapter[0] != os.getpid():
            _adapter = (os.getpid(), HTTPAdapter(pool_connections=POOL_HOSTS, pool_maxsize=POOL_CONNECTIONS))
        return _adapter[1]


def drop_connections() -> None:
    """Close the pooled connections; the next request opens new ones. For code that must see
    every request on a fresh connection (a test recording a cassette: vcrpy only sees connections
    opened while it records)."""
    with _lock:
        if _adapter is not None and _adapter[0] == os.getpid():
            _adapter[1].close()
