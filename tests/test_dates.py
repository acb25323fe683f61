"""Document dates are Italian days, whatever time zone the process runs in."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime

import pytest
import time_machine

from fic_plugin import dates
from fic_plugin.documents import Documents
from fic_plugin.model import Payment
from shoptest import fic_documents, make_order, order_total


@pytest.fixture
def utc_process(monkeypatch):
    """The process clock in UTC, as on a server or a worker started without Django's TIME_ZONE."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_today_is_the_day_in_rome_when_the_process_runs_in_utc(utc_process):
    with time_machine.travel(datetime(2026, 11, 29, 23, 30, tzinfo=UTC), tick=False):
        assert date.today() == date(2026, 11, 29)  # what the process believes
        assert dates.today() == date(2026, 11, 30)


def test_italian_day_of_aware_and_naive_moments():
    assert dates.italian_day(datetime(2026, 11, 29, 23, 30, tzinfo=UTC)) == date(2026, 11, 30)
    assert dates.italian_day(datetime(2026, 7, 1, 21, 59, tzinfo=UTC)) == date(2026, 7, 1)
    assert dates.italian_day(datetime(2026, 11, 29, 23, 30)) == date(2026, 11, 29)
    assert dates.italian_day(date(2026, 11, 29)) == date(2026, 11, 29)


def test_invoice_made_at_2330_utc_on_29_november_is_dated_30_november(utc_process, fic, shop, sandbox):
    moment = datetime(2026, 11, 29, 23, 30, tzinfo=UTC)
    order = make_order("41")
    order = shop.add(make_order("41", payments=(Payment(amount=order_total(order), paid_at=moment),),
                                paid_at=moment, status="paid"))
    with time_machine.travel(moment, tick=True):
        document = Documents(fic).create(order.id, "invoice")
    assert document.date == date(2026, 11, 30)
    [in_fic] = fic_documents(sandbox)
    assert in_fic["date"] == "2026-11-30"
    assert in_fic["payments_list"][0]["paid_date"] == "2026-11-30"
