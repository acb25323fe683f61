"""FiC's lookups shared by the worker processes in Redis (``fic_plugin.fic.redis_lookups``): a
real Redis (``FIC_TEST_REDIS_URL``), keys under a prefix of this test's own, removed afterwards."""

from __future__ import annotations

import os
import socket
import uuid
from decimal import Decimal

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from fic_plugin.fic.lookups import LookupCache
from fic_plugin.fic.redis_lookups import RedisLookups
from shoptest import redis_or_skip

VAT_TYPES = [{"id": 0, "value": Decimal("22.00"), "description": "Non imponibile"},
             {"id": 21, "value": Decimal("0"), "e_invoice": True, "nature": "N2.1"}]


@pytest.fixture
def shared():
    client = redis_or_skip(os.environ.get("FIC_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"))
    prefix = f"fic-test:{uuid.uuid4().hex}:lookups"
    yield client, RedisLookups(client, prefix=prefix), prefix
    for key in client.scan_iter(match=f"{prefix}:*"):
        client.delete(key)


def test_a_lookup_one_process_asked_fic_for_is_read_by_the_others(shared):
    client, store, prefix = shared
    first, second = LookupCache(ttl=600, shared=store), LookupCache(ttl=600, shared=store)  # two processes
    asked = []
    assert first.get(("scope-a", "vat_types", ""), lambda: asked.append(1) or VAT_TYPES) == VAT_TYPES
    got = second.get(("scope-a", "vat_types", ""), lambda: asked.append(1) or ["not asked"])
    assert asked == [1] and got == VAT_TYPES and got[0]["value"] == Decimal("22.00")  # amounts stay exact
    assert 0 < client.ttl(f"{prefix}:scope-a:vat_types:") <= 600
    # Another company (or token) has a scope of its own: nothing is read across.
    assert second.get(("scope-b", "vat_types", ""), lambda: ["b's"]) == ["b's"]


def test_forgetting_a_company_forgets_it_in_redis_too(shared):
    client, store, prefix = shared
    cache = LookupCache(shared=store)
    cache.get(("scope-a", "vat_types", ""), lambda: VAT_TYPES)
    cache.get(("scope-b", "vat_types", ""), lambda: ["b's"])
    cache.forget("scope-a")
    assert client.get(f"{prefix}:scope-a:vat_types:") is None and client.get(f"{prefix}:scope-b:vat_types:")
    assert LookupCache(shared=store).get(("scope-a", "vat_types", ""), lambda: ["fresh"]) == ["fresh"]


def test_a_company_one_process_forgets_is_asked_again_by_the_others_within_ten_minutes(shared):
    """A process keeps what it read from Redis for LOCAL_SECONDS_WITH_SHARED at most, not for the
    hour the lookups last: a forget (FiC refused a document) reaches the other processes."""
    from fic_plugin.fic.lookups import LOCAL_SECONDS_WITH_SHARED

    _client, store, _prefix = shared
    now = [1000.0]
    refused_here = LookupCache(ttl=3600, shared=store, clock=lambda: now[0])
    elsewhere = LookupCache(ttl=3600, shared=store, clock=lambda: now[0])
    key = ("scope-a", "payment_accounts", "")
    asked = []
    for cache in (refused_here, elsewhere):
        cache.get(key, lambda: asked.append(1) or ["old account"])
    assert asked == [1]
    refused_here.forget("scope-a")
    assert elsewhere.get(key, lambda: ["not asked"]) == ["old account"]  # still in its memory
    now[0] += LOCAL_SECONDS_WITH_SHARED + 1
    assert elsewhere.get(key, lambda: ["fresh account"]) == ["fresh account"]
    assert LOCAL_SECONDS_WITH_SHARED <= 600


def test_redis_not_answering_only_means_asking_fic():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # (no retries: redis-py's own would only make the test slower)
    store = RedisLookups(redis.Redis(port=port, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0)))
    cache = LookupCache(shared=store)
    assert cache.get(("scope", "vat_types", ""), lambda: VAT_TYPES) == VAT_TYPES
    cache.forget("scope")  # nothing raised


def test_processes_missing_the_same_lookup_at_once_ask_fic_once(shared):
    """A shop's jobs start together in several worker processes: the first asks FiC, the
    others wait for its answer in Redis instead of each spending the company's quota."""
    import threading
    import time

    _client, store, _prefix = shared
    asked = []

    def slow_fic():
        asked.append(1)
        time.sleep(0.3)
        return VAT_TYPES

    answers = []
    processes = [LookupCache(shared=store) for _ in range(4)]
    threads = [threading.Thread(target=lambda c=cache: answers.append(c.get(("scope-a", "vat_types", ""), slow_fic)))
               for cache in processes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert asked == [1] and answers == [VAT_TYPES] * 4
