"""The document lifecycle against the local FiC sandbox: create, view, convert, delete, pay —
and exactly once under replays, concurrent workers, lost answers and crashes."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
import requests

from fic_plugin import hookimpl
from fic_plugin.documents import Documents
from fic_plugin.errors import Conflict, InvalidInput, NotFound, Queued, SettingsError
from fic_plugin.settings import update_settings
from shoptest import fic_documents, make_order, order_total, sandbox_call, with_payments

pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture
def shop_database(any_backend):
    """Every test here runs on SQLite and on PostgreSQL: exactly-once must hold on both."""
    return any_backend


@pytest.mark.parametrize("document_type", ["invoice", "quote", "proforma", "delivery_note"])
def test_create_each_type_stores_the_fic_reference(fic, shop, sandbox, document_type):
    update_settings(fic.store, {"numeration": "/A"})
    shop.add(make_order("1"))
    document = Documents(fic).create("1", document_type)
    assert document.fic_id and document.number == 1
    assert document.numeration == ("" if document_type == "delivery_note" else "/A")
    stored = fic.store.document_for("1", document_type)
    assert stored.fic_id == document.fic_id and stored.date is not None
    [remote] = fic_documents(sandbox)
    assert remote["id"] == document.fic_id and remote["type"] == document_type
    if document_type != "delivery_note":
        assert stored.amount_due == order_total(shop.orders["1"])


def test_a_second_document_of_the_same_type_is_refused(fic, shop, sandbox):
    shop.add(make_order("1"))
    Documents(fic).create("1", "invoice")
    with pytest.raises(Conflict, match="already has a Fattura"):
        Documents(fic).create("1", "invoice")
    assert len(fic_documents(sandbox)) == 1


def test_a_rate_mapped_to_a_missing_fic_vat_type_is_refused_before_fic(fic, shop, sandbox):
    shop.add(make_order("1"))
    update_settings(fic.store, {"vat_mapping": {**fic.settings.vat_mapping, "22": 9999}})
    with pytest.raises(SettingsError, match="9999"):
        Documents(fic).create("1", "invoice")
    assert fic.store.documents() == [] and fic_documents(sandbox) == []


def test_unknown_order_and_unmapped_rate_are_clear_and_write_nothing(fic, shop, sandbox):
    with pytest.raises(NotFound, match="Order 404"):
        Documents(fic).create("404", "invoice")
    update_settings(fic.store, {"vat_mapping": {"22": 0}})
    shop.add(make_order("2"))
    with pytest.raises(SettingsError) as error:
        Documents(fic).create("2", "invoice")
    assert "10" in str(error.value) and "102" in str(error.value)  # the rate and the order number
    assert fic.store.documents() == [] and fic_documents(sandbox) == []


def test_view_fetches_a_fresh_link_each_time_and_never_stores_it(fic, shop):
    shop.add(make_order("1"))
    document = Documents(fic).create("1", "proforma")
    url = Documents(fic).view_url(document.id)
    assert url.startswith("http")
    page = requests.get(url, timeout=10)
    assert page.status_code == 200 and "Mario Rossi" in page.text
    dump = "".join(str(r) for r in fic.store.execute("SELECT * FROM fic_documents").fetchall())
    assert url not in dump


def test_convert_a_proforma_into_an_invoice(fic, shop, sandbox):
    shop.add(make_order("1"))
    proforma = Documents(fic).create("1", "proforma")
    invoice = Documents(fic).convert(proforma.id, "invoice")
    assert invoice.type == "invoice" and invoice.fic_id != proforma.fic_id
    assert invoice.converted_from == proforma.id
    assert invoice.converted_from_label == "Proforma n. 1"
    remote = {d["id"]: d for d in fic_documents(sandbox)}
    assert str(proforma.fic_id) in [str(x) for x in remote[invoice.fic_id].get("create_from") or []]
    assert Decimal(str(remote[invoice.fic_id]["amount_due"])) == order_total(shop.orders["1"])
    # Converting again is a no-op that returns the same invoice.
    assert Documents(fic).convert(proforma.id, "invoice").fic_id == invoice.fic_id
    assert len(fic_documents(sandbox)) == 2


def test_a_conversion_fic_forbids_is_refused_before_calling_fic(fic, shop, sandbox):
    shop.add(make_order("1"))
    ddt = Documents(fic).create("1", "delivery_note")
    with pytest.raises(InvalidInput, match="cannot be converted"):
        Documents(fic).convert(ddt.id, "quote")
    assert len(fic_documents(sandbox)) == 1


def test_delete_removes_the_document_in_fic_and_in_the_shop(fic, shop, sandbox):
    shop.add(make_order("1"))
    document = Documents(fic).create("1", "quote")
    Documents(fic).delete(document.id)
    assert fic.store.documents("1") == []
    assert fic_documents(sandbox) == []
    assert [d["id"] for d in fic_documents(sandbox, include_deleted=True)] == [document.fic_id]
    # A new one can be issued afterwards (it is a new document, not the deleted one found again).
    again = Documents(fic).create("1", "quote")
    assert again.fic_id != document.fic_id


def test_a_locked_document_is_not_deleted(fic, shop, sandbox):
    shop.add(make_order("1"))
    document = Documents(fic).create("1", "invoice")
    sandbox_call(sandbox, "POST", f"/__sandbox__/documents/{document.fic_id}/lock",
                 json={"locked": True, "ei_status": "sent"})
    with pytest.raises(Conflict, match="credit note"):
        Documents(fic).delete(document.id)
    assert fic.store.document(document.id) is not None
    assert len(fic_documents(sandbox)) == 1


def test_payments_move_the_invoice_from_unpaid_to_partly_paid_to_paid(fic, shop, sandbox):
    order = shop.add(make_order("1"))
    invoice = Documents(fic).create("1", "invoice")
    assert invoice.status == "not_paid"
    total = order_total(order)
    shop.add(with_payments(order, "10.00"))
    document = Documents(fic).sync_payments("1")
    assert document.status == "partly_paid" and document.amount_paid == Decimal("10.00")
    remote = sandbox_call(sandbox, "GET", f"/c/1/issued_documents/{invoice.fic_id}?fieldset=detailed")["data"]
    assert [(p["status"], Decimal(str(p["amount"]))) for p in remote["payments_list"]] == [
        ("paid", Decimal("10.00")), ("not_paid", total - Decimal("10.00"))]
    shop.add(with_payments(order, "10.00", str(total - Decimal("10.00"))))
    document = Documents(fic).sync_payments("1")
    assert document.status == "paid" and document.amount_paid == total
    remote = sandbox_call(sandbox, "GET", f"/c/1/issued_documents/{invoice.fic_id}?fieldset=detailed")["data"]
    assert {p["status"] for p in remote["payments_list"]} == {"paid"}


def test_an_order_paid_before_its_invoice_gets_a_paid_invoice(fic, shop):
    order = make_order("1")
    shop.add(with_payments(order, str(order_total(order))))
    invoice = Documents(fic).create("1", "invoice")
    assert invoice.status == "paid" and invoice.amount_paid == order_total(order)


# --- exactly once --------------------------------------------------------------------------------


def test_timeout_after_commit_ends_with_one_document(fic, shop, sandbox):
    """FiC creates the invoice but the answer never arrives: the retry finds it by its marker."""
    shop.add(make_order("1"))
    fic.client.vat_types(), fic.client.payment_methods(), fic.client.payment_accounts()  # cached: only the create meets the fault
    sandbox_call(sandbox, "POST", "/__sandbox__/faults",
                 json={"timeout_after_commit_rate": 1.0, "hang_seconds": 3, "seed": 1})
    with pytest.raises(Queued):
        Documents(fic).create("1", "invoice")
    assert len(fic_documents(sandbox)) == 1  # created in FiC, answer lost
    intent = fic.store.document_for("1", "invoice")
    assert intent.fic_id is None and intent.attempted_at
    sandbox_call(sandbox, "DELETE", "/__sandbox__/faults")
    from fic_plugin.jobs import run_round

    run_round(fic)
    [remote] = fic_documents(sandbox)
    assert fic.store.document_for("1", "invoice").fic_id == remote["id"]


def test_a_conversion_whose_answer_is_lost_is_finished_by_the_worker_once(fic, shop, sandbox):
    shop.add(make_order("1"))
    proforma = Documents(fic).create("1", "proforma")
    sandbox_call(sandbox, "POST", "/__sandbox__/faults",
                 json={"timeout_after_commit_rate": 1.0, "hang_seconds": 3, "seed": 2})
    with pytest.raises(Queued):
        Documents(fic).convert(proforma.id, "invoice")
    sandbox_call(sandbox, "DELETE", "/__sandbox__/faults")
    from fic_plugin.jobs import run_round
    from fic_plugin.outbox import jobs

    run_round(fic)
    assert [(j.kind, j.state) for j in jobs(fic) if j.kind == "convert"] == [("convert", "done")]
    invoices = [d for d in fic_documents(sandbox) if d["type"] == "invoice"]
    assert len(invoices) == 1
    invoice = fic.store.document_for("1", "invoice")
    assert invoice.fic_id == invoices[0]["id"] and invoice.converted_from == proforma.id


def test_a_crash_after_fic_answered_is_recovered_without_a_duplicate(fic, shop, sandbox, monkeypatch):
    shop.add(make_order("1"))
    documents = Documents(fic)

    def crash(*args, **kwargs):
        raise SystemExit("worker killed after FiC answered, before the shop stored it")

    monkeypatch.setattr(documents, "_adopt", crash)
    with pytest.raises(SystemExit):
        documents.ensure(shop.orders["1"], "invoice")
    monkeypatch.undo()
    document = Documents(fic).ensure(shop.orders["1"], "invoice")
    [remote] = fic_documents(sandbox)
    assert document.fic_id == remote["id"]


def test_fic_refusing_the_document_leaves_no_half_written_row(fic, shop, sandbox):
    order = shop.add(make_order("1"))
    shop.add(with_payments(order, "5.00"))
    # A payment account FiC does not have: only FiC can tell.
    update_settings(fic.store, {"payment_mapping": {"bank_transfer": {"payment_method_id": 1,
                                                                      "payment_account_id": 999}}})
    from fic_plugin.fic.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as error:
        Documents(fic).create("1", "invoice")
    assert error.value.fic_message  # FiC's own words, surfaced as they are
    assert fic.store.documents() == [] and fic_documents(sandbox) == []


def test_two_workers_creating_the_same_invoice_make_one(fic, shop, sandbox):
    shop.add(make_order("1"))
    sandbox_call(sandbox, "POST", "/__sandbox__/faults", json={"latency_ms": 300})
    errors, barrier = [], threading.Barrier(4)

    def worker():
        barrier.wait()
        try:
            Documents(fic).ensure(shop.orders["1"], "invoice")
        except Exception as error:  # noqa: BLE001 - the losers may be told "busy"
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(fic_documents(sandbox)) == 1
    assert all(type(e).__name__ == "Busy" for e in errors)
    assert fic.store.document_for("1", "invoice").fic_id


def test_hook_fic_document_payload(fic, shop, sandbox):
    class Override:
        @hookimpl
        def fic_document_payload(self, order, document_type, payload):
            payload["visible_subject"] = f"Rif. cliente PO-{order.number}"
            payload["subject"] = "a plugin must not remove the marker"

    fic.pm.register(Override())
    shop.add(make_order("1"))
    document = Documents(fic).create("1", "invoice")
    remote = sandbox_call(sandbox, "GET", f"/c/1/issued_documents/{document.fic_id}")["data"]
    assert remote["visible_subject"] == "Rif. cliente PO-101"
    assert remote["subject"].startswith("fic-plugin:order-1:invoice")


def test_hook_fic_document_issued(fic, shop):
    seen = []

    class Listener:
        @hookimpl
        def fic_document_issued(self, order, document):
            seen.append((order.id, document.type, document.fic_id))

    fic.pm.register(Listener())
    shop.add(make_order("1"))
    document = Documents(fic).create("1", "quote")
    assert seen == [("1", "quote", document.fic_id)]


def test_hook_fic_document_converted(fic, shop):
    seen = []

    class Listener:
        @hookimpl
        def fic_document_converted(self, order, document, original):
            seen.append((original.type, document.type))

    fic.pm.register(Listener())
    shop.add(make_order("1"))
    quote = Documents(fic).create("1", "quote")
    Documents(fic).convert(quote.id, "proforma")
    assert seen == [("quote", "proforma")]


def test_hook_fic_document_deleted(fic, shop):
    seen = []

    class Listener:
        @hookimpl
        def fic_document_deleted(self, order, document):
            seen.append(document.fic_id)

    fic.pm.register(Listener())
    shop.add(make_order("1"))
    document = Documents(fic).create("1", "proforma")
    Documents(fic).delete(document.id)
    assert seen == [document.fic_id]


def test_hook_shop_get_order(fic, shop):
    shop.add(make_order("77"))
    assert Documents(fic).create("77", "quote").order_id == "77"
    with pytest.raises(NotFound):
        Documents(fic).create("78", "quote")


def test_every_fic_call_is_in_the_orders_audit_log(fic, shop):
    shop.add(make_order("1"))
    Documents(fic).create("1", "invoice")
    log = fic.store.audit_log("1")
    requests_made = [a for a in log if a["action"] == "fic_request"]
    assert any(a["method"] == "POST" and a["path"].endswith("/issued_documents") for a in requests_made)
    assert all(a["order_id"] == "1" for a in requests_made)
