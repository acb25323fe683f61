"""The process's connections to FiC (``fic_plugin.fic.http_pool``): every client, whatever its shop
or company, reuses the same few connections; a forked child never touches its parent's."""

from __future__ import annotations

import os
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from fic_scripted import FAST_BACKOFF, RELAXED_LIMITS, TOKEN

from fic_plugin.fic.client import FicClient
from fic_plugin.fic.http_pool import drop_connections, shared_adapter
from fic_sandbox.server import SandboxServer


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(port=0) as server:
        yield server


def connections_opened(url: str) -> int:
    """Connections the process's pool opened to ``url``'s host and port (urllib3 keeps one pool per
    host, port and TLS settings, and counts what each opened)."""
    host, port = urlsplit(url).hostname, urlsplit(url).port
    pools = shared_adapter().poolmanager.pools
    return sum(pools[key].num_connections for key in pools.keys() if (key.key_host, key.key_port) == (host, port))


def test_clients_of_many_shops_reuse_the_processs_connections(sandbox):
    """A worker reopening shop after shop made a client, a session and, over HTTPS, an SSL context
    loaded with the CA bundle for each (0.7 MiB and 30 ms of CPU): now the tenth shop's client
    sends on the connection the first one opened."""
    drop_connections()
    for _shop in range(10):  # ten shops' clients, one after the other, as a worker thread serves them
        client = FicClient(sandbox.url, TOKEN, sandbox.company_id, limits=RELAXED_LIMITS,
                           backoff=FAST_BACKOFF)
        assert client.vat_types()
    assert connections_opened(sandbox.url) == 1


def test_dropping_the_connections_opens_a_new_one_for_the_next_request(sandbox):
    client = FicClient(sandbox.url, TOKEN, sandbox.company_id, limits=RELAXED_LIMITS, backoff=FAST_BACKOFF)
    client.vat_types()
    drop_connections()
    client.payment_methods()
    assert connections_opened(sandbox.url) == 1  # a fresh pool: one connection since the drop


def test_token_refreshes_send_on_the_same_pool(sandbox):
    """FiC's token endpoint is the API's host: a shop's daily refresh reuses the process's
    connections instead of keeping one of its own (with its SSL context) in every kept shop."""
    from fic_plugin.fic.auth import OAuthApp

    app = OAuthApp(base_url=sandbox.url, client_id="fic-sandbox-client", client_secret="s3cret-for-the-pool")
    assert app.session.get_adapter(sandbox.url) is shared_adapter()
    assert app.session.trust_env is False  # the environment's proxies were read once, as the client's


def test_a_forked_child_gets_a_pool_of_its_own():
    """A worker pool that forks (Celery's prefork) must not share sockets with its parent: both
    would read each other's answers."""
    parent = shared_adapter()
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report whether it got its parent's pool, then leave at once
        try:
            os.write(writer, b"same" if shared_adapter() is parent else b"own")
        finally:
            os._exit(0)
    os.close(writer)
    answer = os.read(reader, 16)
    os.close(reader)
    os.waitpid(pid, 0)
    assert answer == b"own" and shared_adapter() is parent
