"""Issue 13: one FiC quota per company across every process of the shop.

The web app, the CLI and each worker used to pace themselves alone, each believing it owned the
company's 1,000 requests an hour. The send log now lives in the shop database; FiC's announced
hourly limit wins over a configured one that is higher.
"""

from __future__ import annotations

import threading

import pytest

from fic_plugin.connection import client_for_context
from fic_plugin.fic.ratelimit import RateLimits
from fic_plugin.fic.shared_pacer import SharedPacer
from fic_plugin.manager import get_plugin_manager
from fic_plugin.plugin import CORE_NAME
from fic_plugin.store import Store
from shoptest import sandbox_call


class FakeTime:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_two_processes_pacers_share_one_budget_and_keep_a_margin(tmp_path):
    path = tmp_path / "shop.db"
    Store(path).migrate()
    fake = FakeTime()
    limits = RateLimits(hourly=100_000, hour_seconds=3600, short_term=50, short_seconds=10, max_wait=1000)
    # Two Store objects on one file: two processes' connections.
    pacers = [SharedPacer(limits, Store(path).pacing, "1", clock=fake.clock, sleep=fake.sleep) for _ in range(2)]
    slots = []
    for n in range(300):
        pacers[n % 2].acquire()
        slots.append(fake.now)
    busiest = max(sum(1 for t in slots if s - 10 < t <= s) for s in slots)
    assert busiest == 49  # 50 less the 2 % margin, across both
    assert slots[-1] - slots[0] < 300 / 49 * 10 + 10  # and the budget is used, not wasted


def test_fic_announcing_a_lower_hourly_limit_than_configured_is_the_one_paced_to(fic, sandbox, monkeypatch):
    sandbox_call(sandbox, "POST", "/__sandbox__/limits", json={"hourly": 1000, "short_term": 10**6})
    monkeypatch.setenv("FIC_RATE_HOURLY", "1000000")
    fic.reset_client()
    for _ in range(5):
        fic.client.user_companies()
    assert fic.client.transport.pacer.hourly == 1000
    sandbox_call(sandbox, "DELETE", "/__sandbox__/limits")


def test_a_second_process_on_the_same_shop_shares_the_short_term_limit_no_429(fic, shop, sandbox, monkeypatch):
    sandbox_call(sandbox, "POST", "/__sandbox__/limits", json={"hourly": 10**6, "short_term": 20,
                                                               "short_seconds": 2})
    monkeypatch.setenv("FIC_RATE_SHORT_TERM", "20")
    monkeypatch.setenv("FIC_RATE_SHORT_SECONDS", "2")
    before = sandbox_call(sandbox, "GET", "/__sandbox__/stats")["rate_limited_429"]
    contexts = [fic, get_plugin_manager([shop], load_entrypoints=False).get_plugin(CORE_NAME).context]
    clients = [client_for_context(context) for context in contexts]

    def burst(client) -> None:
        for _ in range(25):
            client.user_companies()

    threads = [threading.Thread(target=burst, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    stats = sandbox_call(sandbox, "GET", "/__sandbox__/stats")
    sandbox_call(sandbox, "DELETE", "/__sandbox__/limits")
    assert stats["rate_limited_429"] - before == 0


# --- FiC's windows, learned from its headers ------------------------------------------------------


def _paced(monkeypatch, fic, *, hourly: int, hour_seconds: float, short_term: int = 10**6, short_seconds: float = 300):
    """The client told FiC's (compressed) limits, allowed to wait at most half a second: a request
    the pacer would hold longer raises RateLimited instead of being sent."""
    for name, value in (("FIC_RATE_HOURLY", hourly), ("FIC_RATE_HOUR_SECONDS", hour_seconds),
                        ("FIC_RATE_SHORT_TERM", short_term), ("FIC_RATE_SHORT_SECONDS", short_seconds),
                        ("FIC_RATE_MAX_WAIT", 0.5)):
        monkeypatch.setenv(name, str(value))
    fic.reset_client()
    return fic.client


def _usage(sandbox) -> dict:
    return sandbox_call(sandbox, "GET", "/__sandbox__/companies")["data"][0]


def test_when_fics_window_starts_again_the_pacer_uses_all_of_it_at_once(fic, sandbox, monkeypatch, english):
    import time

    from fic_plugin.fic.errors import RateLimited

    # FiC's fixed windows of 6 s start when the limits are set; the client's first requests come
    # half-way through the first one, so a log sliding over the last 6 s would still hold them
    # against FiC's next window.
    sandbox_call(sandbox, "POST", "/__sandbox__/limits", json={"hourly": 20, "hour_seconds": 6,
                                                               "short_term": 10**6, "monthly": 10**6})
    opened = time.monotonic()
    client = _paced(monkeypatch, fic, hourly=20, hour_seconds=6)
    time.sleep(3)
    for _ in range(10):
        client.user_companies()
    time.sleep(max(0.0, opened + 6.3 - time.monotonic()))
    for _ in range(19):  # FiC's new window: 20 less the 2 % margin, none held back
        client.user_companies()
    usage = _usage(sandbox)
    assert usage["hour_windows"] == [10, 19]
    assert usage["forbidden_403"] == 0
    with pytest.raises(RateLimited) as held:  # the 20th would use the margin: the pacer keeps it
        client.user_companies()
    assert "holds back" in held.value.message
    assert _usage(sandbox)["hour_windows"] == [10, 19]
    sandbox_call(sandbox, "DELETE", "/__sandbox__/limits")


def test_fics_retry_after_holds_back_every_process_of_the_shop(fic, shop, sandbox, monkeypatch, english):
    from fic_plugin.fic.errors import RateLimited

    # FiC allows 3 requests every 30 s; the processes were told more, so only FiC's 429 says so.
    sandbox_call(sandbox, "POST", "/__sandbox__/limits", json={"hourly": 10**6, "short_term": 3,
                                                               "short_seconds": 30, "monthly": 10**6})
    first = _paced(monkeypatch, fic, hourly=10**6, hour_seconds=3600, short_term=100, short_seconds=30)
    for _ in range(3):
        first.user_companies()
    with pytest.raises(RateLimited):
        first.user_companies()  # FiC's 429, Retry-After about 30 s
    assert _usage(sandbox)["rate_limited_429"] == 1
    other = client_for_context(get_plugin_manager([shop], load_entrypoints=False).get_plugin(CORE_NAME).context)
    with pytest.raises(RateLimited) as held:
        other.user_companies()
    assert "holds back" in held.value.message  # kept by the pacer: FiC never saw it
    assert _usage(sandbox)["rate_limited_429"] == 1
    sandbox_call(sandbox, "DELETE", "/__sandbox__/limits")
