"""Leases and retries across the end of daylight saving time (issue 13).

On the last Sunday of October Italy's clocks go from 03:00 CEST back to 02:00 CET: 02:30 happens
twice. The tables keep UTC, so "due in a minute" and "held for five minutes" mean what they say
whatever the local clock shows. With local naive timestamps compared as strings, a retry set at
02:59:30 CEST waited until 03:00:30 CET (an hour late) and a lease taken at 02:58 CEST held a job
until 03:03 CET.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
import time_machine

from fic_plugin import jobs, leases, outbox
from fic_plugin.fic.errors import RateLimited

#: 25 October 2026, the last Sunday of October: 01:00 UTC is when 03:00 CEST becomes 02:00 CET.
BEFORE_THE_CHANGE = datetime(2026, 10, 25, 0, 58, tzinfo=UTC)  # 02:58 CEST


@pytest.fixture
def rome():
    """The process runs on Italian local time, as a shop's server does."""
    import os

    old = os.environ.get("TZ")
    os.environ["TZ"] = "Europe/Rome"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


@pytest.fixture
def shop_database(any_backend):
    """On SQLite and on PostgreSQL: both compare the stored strings."""
    return any_backend


def at(moment: datetime) -> float:
    """As a timestamp: an aware datetime would make time-machine switch the zone to its own."""
    return moment.timestamp()


def _one_job(context) -> int:
    assert outbox.enqueue(context, "sync_payments", "payments:1:10", order_id="1")
    [job] = list(outbox.jobs(context))
    return job.id


def test_a_retry_in_a_minute_is_due_a_minute_later_when_the_clock_goes_back(context, rome):
    with time_machine.travel(at(datetime(2026, 10, 25, 0, 59, 30, tzinfo=UTC)), tick=False) as traveller:
        assert time.strftime("%H:%M %Z") == "02:59 CEST"
        job_id = _one_job(context)
        job = jobs._claim(context, job_id)
        assert jobs._record_failure(context, job, RateLimited("FiC: troppe richieste", retry_after=60)) == "pending"
        assert jobs.due_job_ids(context) == []  # not yet: 60 s have not passed
        traveller.move_to(at(datetime(2026, 10, 25, 1, 1, tzinfo=UTC)))  # 02:01 CET, 90 s later
        assert time.strftime("%H:%M %Z") == "02:01 CET"
        assert jobs.due_job_ids(context) == [job_id]
        assert jobs._claim(context, job_id) is not None


def test_a_lease_expires_after_its_minutes_even_when_02_30_comes_twice(context, rome, monkeypatch):
    with time_machine.travel(at(BEFORE_THE_CHANGE), tick=False) as traveller:
        job_id = _one_job(context)
        # A worker on another machine takes the job for LEASE_SECONDS (until 03:03 CEST, 01:03 UTC).
        with monkeypatch.context() as elsewhere:
            # An owner that never beats (written before heartbeats): only its lease_until frees it.
            elsewhere.setattr(leases, "owner_id", lambda store: "another-host:1:1")
            assert jobs._claim(context, job_id) is not None
        traveller.move_to(at(datetime(2026, 10, 25, 1, 2, tzinfo=UTC)))  # 02:02 CET, four minutes later
        assert jobs._claim(context, job_id) is None  # still held: its five minutes are not over
        traveller.move_to(at(datetime(2026, 10, 25, 1, 30, tzinfo=UTC)))  # 02:30 CET, the second 02:30
        assert time.strftime("%H:%M %Z") == "02:30 CET"
        assert jobs.due_job_ids(context) == [job_id]
        claimed = jobs._claim(context, job_id)
        assert claimed is not None and claimed.attempts == 2


def test_timestamps_are_stored_in_utc_with_their_offset(context, rome):
    with time_machine.travel(at(datetime(2026, 10, 25, 1, 30, tzinfo=UTC)), tick=False):
        _one_job(context)
        [job] = list(outbox.jobs(context))
    assert job.run_after == "2026-10-25T01:30:00.000000+00:00"
