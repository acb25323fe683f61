"""A document's email reaches the customer once per purpose.

The owner's "Invia…" is one purpose, the automatic send when the order is paid another, a "send
when paid" plan a third: the automatic and the planned send ask first whether the document
already left, so an invoice sent by hand at 23:22 is not emailed again at 23:25 because its order
became paid. Sending again by hand is the owner's explicit choice, and the message says so.
"""

from __future__ import annotations

import pytest

from fic_plugin.documents import Documents
from fic_plugin.jobs import run_round
from fic_plugin.sending import Sending
from fic_plugin.settings import update_settings
from shoptest import make_order, order_total, sandbox_emails, with_payments

pytestmark = pytest.mark.usefixtures("english")


def pay(context, shop, order_id: str) -> None:
    order = shop.add(with_payments(shop.orders[order_id], str(order_total(shop.orders[order_id]))))
    context.pm.hook.order_paid(order=order)
    run_round(context)


def test_an_invoice_sent_by_hand_is_not_emailed_again_when_the_order_is_paid(fic, shop, sandbox):
    update_settings(fic.store, {"auto_invoice": True})
    shop.add(make_order("1"))
    invoice = Documents(fic).create("1", "invoice")
    first = Sending(fic).send_now(invoice.id)
    assert first["again"] is False and len(sandbox_emails(sandbox)) == 1
    pay(fic, shop, "1")
    assert len(sandbox_emails(sandbox)) == 1, "the automatic job emailed a document the customer had"
    assert fic.store.document(invoice.id).status == "paid"  # the payment itself was recorded
    outcomes = [row["outcome"] for row in fic.store.audit_log("1") if row["action"] == "send"]
    assert outcomes == ["Invoice n. 1 not sent again: it was already sent on "
                        f"{fic.store.document(invoice.id).sent_at:%d/%m/%Y %H:%M} to mario.rossi@example.it."]


def test_without_a_send_by_hand_the_automatic_email_still_goes_once(fic, shop, sandbox):
    update_settings(fic.store, {"auto_invoice": True})
    shop.add(make_order("2"))
    pay(fic, shop, "2")
    fic.pm.hook.order_paid(order=shop.orders["2"])  # a replayed event
    run_round(fic)
    assert len(sandbox_emails(sandbox)) == 1


def test_a_scheduled_send_is_dropped_when_the_owner_sent_the_invoice_meanwhile(fic, shop, sandbox):
    shop.add(make_order("3"))
    sending = Sending(fic)
    sending.schedule_on_paid("3", emails=["amministrazione@example.it"])
    assert sending.plan(shop.orders["3"]) is not None
    invoice = Documents(fic).create("3", "invoice")
    sending.send_now(invoice.id, emails=["amministrazione@example.it"])
    pay(fic, shop, "3")
    assert len(sandbox_emails(sandbox)) == 1
    assert sending.plan(shop.orders["3"]) is None, "the plan is closed, not left waiting"


def test_sending_again_by_hand_is_an_explicit_choice_that_says_so(fic, shop, sandbox):
    shop.add(make_order("4"))
    quote = Documents(fic).create("4", "quote")
    Sending(fic).send_now(quote.id)
    again = Sending(fic).send_now(quote.id)
    assert again["again"] is True
    assert again["summary"] == ("Quote n. 1 sent again: email sent through Fatture in Cloud to "
                                "mario.rossi@example.it.")
    assert len(sandbox_emails(sandbox)) == 2


def test_a_scheduled_send_can_be_cancelled(fic, shop, sandbox):
    shop.add(make_order("5"))
    sending = Sending(fic)
    sending.schedule_on_paid("5")
    message = sending.cancel_plan(shop.orders["5"])
    assert message == "Scheduled sending cancelled: the invoice of order 105 will not be sent when it is paid."
    assert sending.plan(shop.orders["5"]) is None
    pay(fic, shop, "5")  # automatic invoices are off: nothing is created, nothing is sent
    assert sandbox_emails(sandbox) == []
