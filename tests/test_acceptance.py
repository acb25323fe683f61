"""The demo as a user meets it, through the JSON API other tools drive: paying a seeded order in
full makes its invoice appear, emailed, within a worker round."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
import requests

from fic_demo.testing import DemoServer


def wait_for(predicate, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    with DemoServer(tmp_path_factory.mktemp("demo"), auto_invoice=True) as server:
        yield server


def test_paying_an_order_in_full_issues_and_emails_its_invoice(demo):
    orders = requests.get(f"{demo.url}/api/orders", timeout=10).json()
    orders = orders["orders"] if isinstance(orders, dict) else orders
    unpaid = next(o for o in orders if not o.get("paid_at") and Decimal(str(o.get("amount_paid", "0"))) == 0)
    order = requests.get(f"{demo.url}/api/orders/{unpaid['id']}", timeout=10).json()
    total = Decimal(order["totals"]["gross"])
    answer = requests.post(f"{demo.url}/api/orders/{unpaid['id']}/payments",
                           json={"amount": str(total), "method": "bank_transfer"}, timeout=10)
    assert answer.status_code == 201

    def invoiced():
        docs = requests.get(f"{demo.url}/api/orders/{unpaid['id']}", timeout=10).json()["documents"]
        return [d for d in docs if d["type"] == "invoice" and d["fic_id"] and d["sent_at"]]

    [invoice] = wait_for(invoiced)
    assert invoice["status"] == "paid" and Decimal(invoice["amount_paid"]) == total
    assert set(invoice) >= {"id", "type", "fic_id", "number", "numeration", "date", "status", "amount_paid",
                            "sent_at", "sent_to", "converted_from", "last_error"}
    emails = requests.get(f"{demo.sandbox_url}/__sandbox__/emails", timeout=10).json()
    emails = emails["data"] if isinstance(emails, dict) else emails
    assert [e["document_id"] for e in emails].count(invoice["fic_id"]) == 1


def test_the_seeded_paid_order_was_invoiced_by_the_periodic_check(demo):
    orders = requests.get(f"{demo.url}/api/orders", timeout=10).json()
    orders = orders["orders"] if isinstance(orders, dict) else orders
    paid = [o for o in orders if o.get("paid_at")]
    assert paid

    def all_invoiced():
        return all(any(d["type"] == "invoice" and d["fic_id"] for d in
                       requests.get(f"{demo.url}/api/orders/{o['id']}", timeout=10).json()["documents"])
                   for o in paid)

    assert wait_for(all_invoiced)


def test_an_order_refunded_in_two_parts_gets_two_credit_notes_linked_to_its_invoice(demo):
    orders = requests.get(f"{demo.url}/api/orders", timeout=10).json()
    orders = orders["orders"] if isinstance(orders, dict) else orders
    unpaid = next(o for o in orders if not o.get("paid_at") and Decimal(str(o.get("amount_paid", "0"))) == 0
                  and not o.get("refunds"))
    order_id = unpaid["id"]
    total = Decimal(requests.get(f"{demo.url}/api/orders/{order_id}", timeout=10).json()["totals"]["to_pay"])
    requests.post(f"{demo.url}/api/orders/{order_id}/payments",
                  json={"amount": str(total), "method": "bank_transfer"}, timeout=10).raise_for_status()

    def invoice():
        docs = requests.get(f"{demo.url}/api/orders/{order_id}", timeout=10).json()["documents"]
        return next((d for d in docs if d["type"] == "invoice" and d["fic_id"]), None)

    the_invoice = wait_for(invoice)
    # The SdI answers within a second of the sandbox's clock, not in days.
    requests.post(f"{demo.sandbox_url}/__sandbox__/sdi", json={"processing_ms": 100, "after_ms": 300},
                  timeout=10).raise_for_status()
    # A reason typed with an em dash and curly quotes: FatturaPA's Causale takes only Latin-1 (00200).
    for body in ({"amount": "10.00", "reason": "reso parziale \u2014 \u201ccassa ammaccata\u201d"}, {"lines": [{"index": 0, "qty": 1}]}):
        answer = requests.post(f"{demo.url}/api/orders/{order_id}/refunds", json=body, timeout=10)
        assert answer.status_code == 201, answer.text

    def two_credit_notes():
        docs = requests.get(f"{demo.url}/api/orders/{order_id}", timeout=10).json()["documents"]
        notes = [d for d in docs if d["type"] == "credit_note" and d["fic_id"]]
        return notes if len(notes) == 2 else None

    notes = wait_for(two_credit_notes)
    assert {n["corrects"] for n in notes} == {the_invoice["id"]}
    remote = requests.get(f"{demo.sandbox_url}/__sandbox__/documents", timeout=10).json()
    remote = remote["data"] if isinstance(remote, dict) else remote
    linked = [d for d in remote if d["id"] in {n["fic_id"] for n in notes}]
    assert {d["ei_data"]["invoice_number"] for d in linked} == {
        f"{the_invoice['number']}{the_invoice['numeration'] or ''}"}
    order = requests.get(f"{demo.url}/api/orders/{order_id}", timeout=10).json()
    assert len(order["refunds"]) == 2
    assert sum(Decimal(n["amount_gross"]) for n in notes) <= total

    # Both credit notes are e-invoices like the invoice they correct, and the SdI delivers them.
    def both_delivered():
        docs = requests.get(f"{demo.url}/api/orders/{order_id}", timeout=10).json()["documents"]
        notes = [d for d in docs if d["type"] == "credit_note"]
        return notes if all(n["e_invoice"] and n["ei_status"] == "accepted" for n in notes) else None

    assert len(wait_for(both_delivered, timeout=40)) == 2
