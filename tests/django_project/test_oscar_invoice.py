"""An Oscar order from basket to paid to invoice, through Django, the worker and the sandbox."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.db import transaction

from conftest import ON_POSTGRES, pay, place_order
from fic_plugin.contrib import django as fic
from fic_plugin.jobs import run_round
from shoptest import fic_documents

pytestmark = pytest.mark.django_db(transaction=True)


def test_oscar_order_basket_to_paid_to_invoice(fic_site, sandbox):
    order = place_order(("Olio extravergine 1 L", "10.00", 2), ("Pasta di Gragnano 500 g", "2.50", 4),
                        fiscal={"tax_code": "RSSMRA85M01H501Q"})
    assert order.total_incl_tax == Decimal("42.70")  # 2×12.20 + 4×3.05 + 6.10 shipping

    with transaction.atomic():  # as Oscar's checkout: the debit fires the events, after commit
        pay(order)
    report = run_round(fic_site, wait_for_retries=True)

    assert report.failed == 0, [(job.kind, job.last_error) for job in fic_site.store.jobs.list()]
    [invoice] = fic_documents(sandbox)
    assert invoice["type"] == "invoice"
    assert Decimal(str(invoice["amount_gross"])) == Decimal("42.70")
    assert invoice["entity"]["tax_code"] == "RSSMRA85M01H501Q"
    assert invoice["entity"]["name"] == "Maria Bianchi"
    names = [item["name"] for item in invoice["items_list"]]
    assert names == ["Olio extravergine 1 L", "Pasta di Gragnano 500 g", "Corriere espresso"]
    assert {item["vat"]["id"] for item in invoice["items_list"]} == {0}  # 22% in the sandbox
    assert [p["status"] for p in invoice["payments_list"]] == ["paid"]
    [document] = fic_site.store.documents(order.number)
    assert document.status == "paid" and document.date == date.fromisoformat(invoice["date"])


def test_event_in_a_rolled_back_transaction_issues_nothing(fic_site, sandbox):
    order = place_order(("Olio extravergine 1 L", "10.00", 1))

    class Abandoned(Exception):
        pass

    with pytest.raises(Abandoned), transaction.atomic():
        pay(order)
        fic.order_paid(order)
        raise Abandoned()
    run_round(fic_site)

    assert fic_site.store.jobs.list() == []
    assert fic_documents(sandbox) == []


def test_explicit_events_are_harmless_replays(fic_site, sandbox):
    order = place_order(("Olio extravergine 1 L", "10.00", 1), fiscal={"tax_code": "RSSMRA85M01H501Q"})
    pay(order)
    fic.payment_recorded(order)
    fic.order_paid(order)
    run_round(fic_site, wait_for_retries=True)
    assert [d["type"] for d in fic_documents(sandbox)] == ["invoice"]


def test_event_fires_only_once_the_shop_commits(fic_site):
    order = place_order(("Olio extravergine 1 L", "10.00", 1))
    with transaction.atomic():
        pay(order)
        fic.order_paid(order)
        if not ON_POSTGRES:  # on PostgreSQL the job is already written, uncommitted (test_outbox.py)
            assert fic_site.store.jobs.list() == []
    keys = [job.key for job in fic_site.store.jobs.list()]
    assert f"auto:{order.number}" in keys


def test_paid_from_payment_events_as_the_dashboard_records_them(fic_site, settings, sandbox):
    from oscar.core.loading import get_model

    from fic_plugin.contrib.django import get_context

    settings.FIC = {**settings.FIC, "OSCAR": {"PAID_FROM": "payment_events", "PAYMENT_EVENT_TYPES": ["Pagato"]}}
    fic_site = get_context()  # rebuilt for the new settings (its adapter reads PAID_FROM)
    order = place_order(("Olio extravergine 1 L", "10.00", 1), fiscal={"tax_code": "RSSMRA85M01H501Q"})
    paid = get_model("order", "PaymentEventType").objects.create(name="Pagato")
    noted = get_model("order", "PaymentEventType").objects.create(name="Nota")
    order.payment_events.create(event_type=noted, amount=order.total_incl_tax)  # not a payment type
    run_round(fic_site)
    assert fic_documents(sandbox) == []

    order.payment_events.create(event_type=paid, amount=order.total_incl_tax)
    run_round(fic_site, wait_for_retries=True)
    [invoice] = fic_documents(sandbox)
    assert [p["status"] for p in invoice["payments_list"]] == ["paid"]
    assert Decimal(str(invoice["amount_gross"])) == order.total_incl_tax
