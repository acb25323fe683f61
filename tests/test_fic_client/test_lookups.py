"""The lookups' cache (``fic_plugin.fic.lookups``): one fetch for threads asking at once, a
time to live, a bound, and one company's entries forgotten without the others'."""

from __future__ import annotations

import threading
import time

import pytest

from fic_plugin.fic.lookups import LookupCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_threads_asking_for_the_same_missing_lookup_fetch_it_once():
    cache, fetched, started = LookupCache(), [], threading.Event()

    def fetch():
        fetched.append(1)
        started.set()
        time.sleep(0.2)  # FiC answering: the other threads arrive meanwhile
        return ["vat types"]

    answers = []
    threads = [threading.Thread(target=lambda: answers.append(cache.get(("acme", "vat_types", ""), fetch)))
               for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert fetched == [1] and answers == [["vat types"]] * 8


def test_a_lookup_is_fetched_again_once_its_time_is_up():
    clock = Clock()
    cache, fetched = LookupCache(ttl=600, clock=clock), []
    assert cache.get("k", lambda: fetched.append(1) or "first") == "first"
    clock.now += 599
    assert cache.get("k", lambda: fetched.append(1) or "second") == "first"
    clock.now += 2
    assert cache.get("k", lambda: fetched.append(1) or "second") == "second"
    assert len(fetched) == 2


def test_a_failed_fetch_leaves_nothing_behind():
    cache = LookupCache()

    def broken():
        raise ConnectionError("FiC is down")

    with pytest.raises(ConnectionError):
        cache.get("k", broken)
    assert cache.get("k", lambda: "answer") == "answer" and len(cache) == 1


def test_the_cache_holds_at_most_its_size_the_least_recently_used_go_first():
    cache = LookupCache(size=2)
    cache.get("a", lambda: 1)
    cache.get("b", lambda: 2)
    cache.get("a", lambda: "refetched")  # a is used again: b is now the oldest
    cache.get("c", lambda: 3)
    assert len(cache) == 2
    assert cache.get("a", lambda: "refetched") == 1 and cache.get("b", lambda: "refetched") == "refetched"


def test_forgetting_one_company_keeps_the_others():
    cache = LookupCache()
    cache.get(("acme", "vat_types", ""), lambda: "acme's")
    cache.get(("other", "vat_types", ""), lambda: "other's")
    cache.forget("acme")
    assert cache.get(("acme", "vat_types", ""), lambda: "fresh") == "fresh"
    assert cache.get(("other", "vat_types", ""), lambda: "fresh") == "other's"
