"""Refunds become credit notes (Nota di credito, TD04), against the local FiC sandbox: linked to
the invoice they correct, never more than it, exactly once per refund whatever goes wrong."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import attrs
import pytest

from fic_plugin.documents import Documents
from fic_plugin.errors import InvalidInput
from fic_plugin.jobs import run_round
from fic_plugin.model import Refund, RefundLine
from fic_plugin.outbox import jobs
from fic_plugin.refunds import credited_order
from fic_plugin.settings import Settings
from shoptest import fic_documents, make_order, order_total, sandbox_call

pytestmark = pytest.mark.usefixtures("english")


def refunded(shop, order_id: str, refund: Refund):
    """The shop records the refund (the order lists it), then fires the event."""
    order = shop.orders[order_id]
    order = shop.add(attrs.evolve(order, refunds=(*order.refunds, refund)))
    return order


def credit_notes(sandbox) -> list[dict]:
    return [d for d in fic_documents(sandbox) if d["type"] == "credit_note"]


def test_a_refund_in_two_parts_makes_two_credit_notes_linked_to_the_invoice(fic, shop, sandbox):
    shop.add(make_order("1", paid=True))
    invoice = Documents(fic).create("1", "invoice")
    first = Refund(amount="10.00", id="r1", reason="reso parziale", refunded_at=datetime(2026, 11, 22, 9, 0))
    order = refunded(shop, "1", first)
    fic.pm.hook.order_refunded(order=order, refund=first)
    second = Refund(amount="0", id="r2", lines=[RefundLine(line_index=0, qty=1)])
    order = refunded(shop, "1", second)
    fic.pm.hook.order_refunded(order=order, refund=second)
    run_round(fic)

    remote = credit_notes(sandbox)
    assert len(remote) == 2
    for note in remote:
        assert note["ei_data"]["invoice_number"] == invoice.full_number
        assert note["ei_data"]["invoice_date"] == invoice.date.isoformat()
    assert Decimal(str(remote[0]["amount_gross"])) == Decimal("10.00")
    # One bottle of oil (12.50 + 22%) refunded by the second.
    assert Decimal(str(remote[1]["amount_gross"])) == Decimal("15.25")
    assert sum(Decimal(str(n["amount_gross"])) for n in remote) <= invoice.amount_gross
    local = [d for d in fic.store.documents("1") if d.type == "credit_note"]
    assert [(d.refund_id, d.corrects) for d in local] == [("r1", invoice.id), ("r2", invoice.id)]
    assert "Rimborso ordine n. 101 - reso parziale"  # Latin-1 only in Causale (SdI 00200) == remote[0]["visible_subject"]


def test_an_amount_is_spread_over_the_invoices_rates_in_proportion():
    order = make_order("1")
    spread = credited_order(order, Refund(amount="24.16", id="r"), Settings())
    # The invoice: 31.90 net at 22% (38.92 gross) and 5.67 at 10% (6.24 gross), 45.16 in all.
    by_rate = {str(line.vat_rate): line.unit_price for line in spread.lines}
    assert sum(by_rate.values()) == Decimal("24.16") and spread.prices_include_vat
    assert by_rate == {"22": Decimal("20.82"), "10": Decimal("3.34")}


def test_replays_make_one_credit_note_per_refund(fic, shop, sandbox):
    shop.add(make_order("1", paid=True))
    Documents(fic).create("1", "invoice")
    refund = Refund(amount="5.00", id="r1")
    order = refunded(shop, "1", refund)
    for _ in range(3):
        fic.pm.hook.order_refunded(order=order, refund=refund)
    run_round(fic)
    fic.pm.hook.order_refunded(order=order, refund=refund)
    run_round(fic)
    assert len(credit_notes(sandbox)) == 1
    assert [j.kind for j in jobs(fic) if j.kind == "credit_note"] == ["credit_note"]


def test_a_lost_answer_ends_with_one_credit_note(fic, shop, sandbox):
    shop.add(make_order("1", paid=True))
    Documents(fic).create("1", "invoice")
    refund = Refund(amount="5.00", id="r1")
    order = refunded(shop, "1", refund)
    fic.pm.hook.order_refunded(order=order, refund=refund)
    sandbox_call(sandbox, "POST", "/__sandbox__/faults",
                 json={"timeout_after_commit_rate": 1.0, "hang_seconds": 3, "seed": 3})
    run_round(fic)  # FiC creates it, the answer never arrives: the job is retried later
    sandbox_call(sandbox, "DELETE", "/__sandbox__/faults")
    assert len(credit_notes(sandbox)) == 1
    fic.store.db.execute("UPDATE fic_jobs SET run_after = '2000-01-01T00:00:00+00:00' WHERE kind = 'credit_note'")
    run_round(fic)
    [remote] = credit_notes(sandbox)
    [local] = [d for d in fic.store.documents("1") if d.type == "credit_note"]
    assert local.fic_id == remote["id"]


def test_no_invoice_no_credit_note_but_the_refund_is_recorded(fic, shop, sandbox):
    shop.add(make_order("1", paid=True))
    Documents(fic).create("1", "proforma")
    refund = Refund(amount="5.00", id="r1")
    order = refunded(shop, "1", refund)
    fic.pm.hook.order_refunded(order=order, refund=refund)
    run_round(fic)
    assert credit_notes(sandbox) == []
    history = [row["outcome"] for row in fic.store.audit_log("1") if row["action"] == "order_refunded"]
    assert any("no credit note" in text for text in history)


@pytest.mark.parametrize(("refund", "field", "words"), [
    (Refund(amount="0", id="x", lines=[RefundLine(line_index=7, qty=1)]), "refund.lines[0].line_index", "line 7"),
    (Refund(amount="0", id="x", lines=[RefundLine(line_index=0, qty=0)]), "refund.lines[0].qty", "2 were sold"),
    (Refund(amount="0", id="x", lines=[RefundLine(line_index=0, qty=3)]), "refund.lines[0].qty", "2 were sold"),
    (Refund(amount="1000.00", id="x"), "refund.amount", "more than what is left"),
])
def test_a_bad_refund_is_refused_naming_order_line_and_field(fic, shop, sandbox, refund, field, words):
    shop.add(make_order("1", paid=True))
    Documents(fic).create("1", "invoice")
    order = refunded(shop, "1", refund)
    from fic_plugin.credit_notes import CreditNotes

    with pytest.raises(InvalidInput) as error:
        CreditNotes(fic).for_refund(order, refund)
    assert error.value.field == field and words in error.value.message and "101" in error.value.message
    assert credit_notes(sandbox) == [] and [d.type for d in fic.store.documents("1")] == ["invoice"]


def test_later_refunds_never_exceed_the_invoice(fic, shop, sandbox):
    order = shop.add(make_order("1", paid=True))
    Documents(fic).create("1", "invoice")
    total = order_total(order)
    from fic_plugin.credit_notes import CreditNotes

    first = Refund(amount=total - Decimal("1.00"), id="r1")
    CreditNotes(fic).for_refund(refunded(shop, "1", first), first)
    second = Refund(amount="1.01", id="r2")
    with pytest.raises(InvalidInput, match="more than what is left"):
        CreditNotes(fic).for_refund(refunded(shop, "1", second), second)
    third = Refund(amount="1.00", id="r3")
    CreditNotes(fic).for_refund(refunded(shop, "1", third), third)
    assert sum(Decimal(str(n["amount_gross"])) for n in credit_notes(sandbox)) == total


def test_a_refund_right_after_payment_waits_for_the_automatic_invoice(fic, shop, sandbox):
    """The shop refunds before the worker made the invoice: the credit note waits, never skipped."""
    from fic_plugin.settings import update_settings

    update_settings(fic.store, {"auto_invoice": True})
    order = shop.add(make_order("1", paid=True))
    fic.pm.hook.order_paid(order=order)
    refund = Refund(amount="5.00", id="r1")
    order = refunded(shop, "1", refund)
    fic.pm.hook.order_refunded(order=order, refund=refund)
    # The credit note's job runs first: the invoice's is not due yet.
    fic.store.db.execute("UPDATE fic_jobs SET run_after = '2999-01-01T00:00:00+00:00' WHERE kind = 'auto_document'")
    run_round(fic)
    assert credit_notes(sandbox) == [] and [j.state for j in jobs(fic) if j.kind == "credit_note"] == ["pending"]
    for _ in range(3):
        fic.store.db.execute("UPDATE fic_jobs SET run_after = '2000-01-01T00:00:00+00:00' WHERE state = 'pending'")
        run_round(fic)
    assert len(credit_notes(sandbox)) == 1
    assert [d["type"] for d in fic_documents(sandbox)].count("invoice") == 1


def test_with_automatic_sending_the_credit_note_is_emailed_once(fic, shop, sandbox):
    from fic_plugin.settings import update_settings
    from shoptest import sandbox_emails

    update_settings(fic.store, {"auto_invoice": True})
    shop.add(make_order("1", paid=True))
    Documents(fic).create("1", "invoice")
    refund = Refund(amount="5.00", id="r1")
    order = refunded(shop, "1", refund)
    fic.pm.hook.order_refunded(order=order, refund=refund)
    run_round(fic)
    fic.pm.hook.order_refunded(order=order, refund=refund)  # a replay sends nothing more
    run_round(fic)
    [note] = credit_notes(sandbox)
    assert [e["document_id"] for e in sandbox_emails(sandbox)].count(note["id"]) == 1
