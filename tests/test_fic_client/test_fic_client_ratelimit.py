"""The pacer keeps every sliding window within its limit, and believes FiC's headers when they
say less is left. A fake clock stands in for time so an "hour" takes no time to test."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fic_plugin.fic.ratelimit import Pacer, Quota, RateLimits, WaitTooLong


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def pacer(limits: RateLimits) -> tuple[Pacer, FakeTime]:
    fake = FakeTime()
    return Pacer(limits, clock=fake.clock, sleep=fake.sleep), fake


def max_in_window(times: list[float], seconds: float) -> int:
    """The most sends found in any window (t - seconds, t]."""
    return max((sum(1 for u in times if t - seconds < u <= t) for t in times), default=0)


def test_short_term_window_makes_the_next_request_wait():
    limits = RateLimits(hourly=1000, hour_seconds=3600, short_term=3, short_seconds=10, max_wait=100)
    p, fake = pacer(limits)
    waits = [p.acquire() for _ in range(4)]
    assert waits[:3] == [0, 0, 0] and waits[3] == pytest.approx(10, abs=0.01)
    assert fake.now == pytest.approx(10, abs=0.01)


def test_a_wait_longer_than_max_wait_is_refused_not_slept():
    p, fake = pacer(RateLimits(hourly=2, hour_seconds=3600, short_term=100, short_seconds=10, max_wait=5))
    p.acquire(), p.acquire()
    with pytest.raises(WaitTooLong) as caught:
        p.acquire()
    assert caught.value.seconds == pytest.approx(3600, abs=0.01) and fake.now == 0


def test_headers_with_fewer_remaining_than_the_log_win():
    p, fake = pacer(RateLimits(hourly=1000, hour_seconds=60, short_term=1000, short_seconds=60, max_wait=100))
    p.acquire()
    p.observe(Quota(hourly_remaining=2))  # another app used this company's quota
    assert p.sent_in_last_hour == 998
    p.acquire(), p.acquire()
    assert fake.now == 0
    assert p.acquire() == pytest.approx(60, abs=0.01)  # waits for the window to free, never sooner
    p.observe(Quota(hourly_remaining=500))  # more left than we think: keep our stricter count
    assert p.sent_in_last_hour <= 1000


def test_quota_reads_headers_and_keeps_missing_ones():
    first = Quota.from_headers({"RateLimit-HourlyRemaining": "840", "RateLimit-HourlyLimit": "1000",
                                "RateLimit-MonthlyRemaining": "1430", "RateLimit-MonthlyLimit": "40000"})
    second = Quota.from_headers({"RateLimit-HourlyRemaining": "839", "RateLimit-MonthlyLimit": "junk"}, first)
    assert second == Quota(hourly_remaining=839, hourly_limit=1000, monthly_remaining=1430, monthly_limit=40000)


def test_limits_from_env_default_to_fic_real_ones():
    assert RateLimits.from_env({}) == RateLimits(hourly=1000, hour_seconds=3600, short_term=300, short_seconds=300)
    scaled = RateLimits.from_env({"FIC_RATE_HOURLY": "50", "FIC_RATE_HOUR_SECONDS": "60",
                                  "FIC_RATE_SHORT_TERM": "10", "FIC_RATE_SHORT_SECONDS": "5"})
    assert (scaled.hourly, scaled.hour_seconds, scaled.short_term, scaled.short_seconds) == (50, 60, 10, 5)


# The machine is shared with other suites: slow generation is not a failure of the pacer.
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(short=st.integers(1, 6), hourly=st.integers(1, 12), gaps=st.lists(st.floats(0, 7), min_size=1, max_size=40))
def test_no_window_ever_holds_more_than_its_limit(short, hourly, gaps):
    limits = RateLimits(hourly=hourly, hour_seconds=30, short_term=short, short_seconds=5, max_wait=10_000)
    p, fake = pacer(limits)
    sent = []
    for gap in gaps:
        fake.now += gap
        p.acquire()
        sent.append(fake.now)
    assert max_in_window(sent, 5) <= short
    assert max_in_window(sent, 30) <= hourly
    assert sent == sorted(sent)


def test_relaxed_limits_stay_fast_and_still_believe_the_headers():
    """FIC_RATE_HOURLY far above FiC's 1,000 (tests, benchmarks): booking FiC's count used to
    append millions of entries and scan them on every request (seconds per call)."""
    import time

    p, fake = pacer(RateLimits(hourly=10_000_000, hour_seconds=3600, short_term=10_000_000, short_seconds=300,
                               max_wait=100))
    started = time.perf_counter()
    p.observe(Quota(hourly_remaining=999))
    for _ in range(999):
        fake.now += 0.01
        p.acquire()
    with pytest.raises(WaitTooLong):
        p.acquire()
    assert time.perf_counter() - started < 1.0
    assert p.sent_in_last_hour == 10_000_000


def test_the_log_forgets_what_left_every_window():
    p, fake = pacer(RateLimits(hourly=100_000, hour_seconds=3600, short_term=100_000, short_seconds=300,
                               max_wait=100))
    for _ in range(5000):
        fake.now += 1
        assert p.acquire() == 0
    assert p.sent_in_last_hour == 3600  # the sends at 1401..5000, within (1400, 5000]


def test_windows_are_kept_apart_by_the_slowest_recent_answer():
    """FiC counts a request when it arrives, somewhere between its slot and its answer: after
    answers that took 0.4 s, the next window opens 0.4 s after the edge (capped at 10%)."""
    p, fake = pacer(RateLimits(hourly=1000, hour_seconds=3600, short_term=3, short_seconds=10, max_wait=100))
    for _ in range(3):
        p.acquire()
        p.answered(0.4)
    assert p.acquire() == pytest.approx(10.4, abs=0.01)
    p.answered(30.0)  # a request that hung: the margin stops at 10% of the window (1 s)
    p.acquire(), p.acquire(), p.acquire()
    assert fake.now == pytest.approx(10.4 + 11.0, abs=0.01)  # three sends in any 11 s


def test_a_request_let_go_without_waiting_also_keeps_clear_of_the_edge():
    """When the oldest send left the window by itself a moment ago, the next one still waits
    out the edge: it could otherwise land inside FiC's window (429s at exactly the limit)."""
    p, fake = pacer(RateLimits(hourly=1000, hour_seconds=3600, short_term=2, short_seconds=10, max_wait=100))
    p.acquire(), p.acquire()
    p.answered(0.3)
    fake.now = 10.1  # the first send left a 10 s window 0.1 s ago
    assert p.acquire() == pytest.approx(0.2, abs=0.01)
