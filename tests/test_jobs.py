"""Automation: events only queue jobs; the worker invoices paid orders, keeps payments in sync,
retries what is transient, stops on what is not — and never does anything twice."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import attrs
import pytest

from fic_plugin import hookimpl
from fic_plugin.jobs import WATERMARK_KEY, run_round
from fic_plugin.outbox import jobs, retry_jobs
from fic_plugin.reporting import status_report
from fic_plugin.settings import update_settings
from fic_plugin.store import clock
from shoptest import (
    fic_documents,
    make_order,
    order_total,
    sandbox_call,
    sandbox_emails,
    with_payments,
)

pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture
def shop_database(any_backend):
    """Every test here runs on SQLite and on PostgreSQL: exactly-once must hold on both."""
    return any_backend


@pytest.fixture
def auto(fic):
    update_settings(fic.store, {"auto_invoice": True})
    return fic


def test_hook_order_paid(auto, shop, sandbox):
    order = shop.add(make_order("1", paid=True))
    started = time.perf_counter()
    auto.pm.hook.order_paid(order=order)
    assert time.perf_counter() - started < 0.5  # no FiC call inline
    assert fic_documents(sandbox) == []
    [job] = jobs(auto)
    assert (job.kind, job.state) == ("auto_document", "pending")
    run_round(auto)
    [remote] = fic_documents(sandbox)
    document = auto.store.document_for("1", "invoice")
    assert document.fic_id == remote["id"] and document.status == "paid"
    [email] = sandbox_emails(sandbox)
    assert email["document_id"] == remote["id"]
    assert "mario.rossi@example.it" in str(email["recipient_email"] if "recipient_email" in email else email)
    assert auto.store.document(document.id).sent_at is not None


def test_order_paid_fired_three_times_from_four_threads_makes_one_invoice_and_one_email(auto, shop, sandbox):
    order = shop.add(make_order("1", paid=True))
    barrier = threading.Barrier(4)

    def fire():
        barrier.wait()
        for _ in range(3):
            auto.pm.hook.order_paid(order=order)

    threads = [threading.Thread(target=fire) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(list(jobs(auto))) == 1
    run_round(auto)
    auto.pm.hook.order_paid(order=order)  # a late replay after the invoice exists
    run_round(auto)
    assert len(fic_documents(sandbox)) == 1
    assert len(sandbox_emails(sandbox)) == 1


def test_nothing_is_issued_when_automatic_invoices_are_off(fic, shop, sandbox):
    order = shop.add(make_order("1", paid=True))
    fic.pm.hook.order_paid(order=order)
    run_round(fic)
    assert list(jobs(fic)) == [] and fic_documents(sandbox) == []


def test_hook_shop_paid_orders(auto, shop, sandbox):
    """The periodic check invoices paid orders that never fired order_paid, once."""
    for i in range(1, 4):
        shop.add(make_order(str(i), paid=True))
    shop.add(make_order("4"))  # not paid: no invoice
    report = run_round(auto)
    assert report.queued_by_check == 3
    assert sorted(d["type"] for d in fic_documents(sandbox)) == ["invoice"] * 3
    assert auto.store.get_meta(WATERMARK_KEY)
    report = run_round(auto)
    assert report.queued_by_check == 0 and len(fic_documents(sandbox)) == 3


def test_the_periodic_check_asks_only_for_orders_paid_since_the_watermark(auto, shop):
    asked = []

    class Spy:
        @hookimpl
        def shop_paid_orders(self, since):
            asked.append(since)
            return []

    auto.pm.register(Spy())
    auto.store.set_meta(WATERMARK_KEY, "2026-11-27T10:00:00")
    run_round(auto)
    assert asked == [datetime(2026, 11, 27, 10, 0)]


def test_hook_fic_auto_document_type(auto, shop, sandbox):
    class ReceiptsForPeople:
        @hookimpl
        def fic_auto_document_type(self, order):
            return "receipt" if order.customer.type == "person" else None

    auto.pm.register(ReceiptsForPeople())
    order = shop.add(make_order("1", paid=True))
    auto.pm.hook.order_paid(order=order)
    run_round(auto)
    assert [d["type"] for d in fic_documents(sandbox)] == ["receipt"]


def test_hook_payment_recorded(auto, shop, sandbox):
    """A payment before the invoice, then two partial payments, then an overpayment."""
    order = shop.add(make_order("1"))
    total = order_total(order)
    order = shop.add(with_payments(order, "5.00"))
    auto.pm.hook.payment_recorded(order=order, payment=order.payments[-1])
    run_round(auto)  # no invoice yet: nothing to update, nothing lost
    from fic_plugin.documents import Documents

    invoice = Documents(auto).create("1", "invoice")
    assert invoice.amount_paid == Decimal("5.00") and invoice.status == "partly_paid"
    order = shop.add(with_payments(order, "5.00", "7.00"))
    auto.pm.hook.payment_recorded(order=order, payment=order.payments[-1])
    auto.pm.hook.payment_recorded(order=order, payment=order.payments[-1])  # replayed
    run_round(auto)
    document = auto.store.document(invoice.id)
    assert document.amount_paid == Decimal("12.00") and document.status == "partly_paid"
    order = shop.add(with_payments(order, "5.00", "7.00", str(total)))  # overpaid
    auto.pm.hook.payment_recorded(order=order, payment=order.payments[-1])
    auto.pm.hook.order_paid(order=order)
    run_round(auto)
    document = auto.store.document(invoice.id)
    assert document.status == "paid" and document.amount_paid == total + Decimal("12.00")
    remote = sandbox_call(sandbox, "GET", f"/c/1/issued_documents/{invoice.fic_id}?fieldset=detailed")["data"]
    assert sum(Decimal(str(p["amount"])) for p in remote["payments_list"]) == total
    assert {p["status"] for p in remote["payments_list"]} == {"paid"}
    assert len(fic_documents(sandbox)) == 1


def test_a_permanent_failure_stops_with_its_reason_and_can_be_retried(auto, shop, sandbox):
    update_settings(auto.store, {"vat_mapping": {"22": 0}})  # 10% unmapped
    order = shop.add(make_order("1", paid=True))
    auto.pm.hook.order_paid(order=order)
    run_round(auto)
    [job] = jobs(auto)
    assert job.state == "failed" and "10" in job.last_error
    report = status_report(auto, "1")
    assert "failed" in report["text"] and job.last_error in report["text"]
    update_settings(auto.store, {"vat_mapping": {"22": 0, "10": 3}})
    assert retry_jobs(auto, job_id=job.id) == 1
    run_round(auto)
    assert {(j.kind, j.state) for j in jobs(auto)} == {("auto_document", "done"), ("sdi_send", "done")}
    assert len(fic_documents(sandbox)) == 1


def test_a_vat_type_added_in_fic_after_the_lookups_were_kept_is_found(auto, shop, sandbox):
    """The lookups are kept for an hour: a mapping naming a VAT type the kept list lacks (the owner
    added it in FiC since, and mapped it) reads FiC's list again before refusing the order."""
    from fic_plugin.fic.lookups import LookupCache

    kept = LookupCache()
    fresh = auto.client.vat_types()
    kept.get(("scope", "vat_types", ""), lambda: [t for t in fresh if t["id"] != 3])  # read before 10% existed
    auto.client.share_lookups(kept, "scope")
    update_settings(auto.store, {"vat_mapping": {"22": 0, "10": 3}})
    auto.pm.hook.order_paid(order=shop.add(make_order("1", paid=True)))
    run_round(auto)
    assert {(j.kind, j.state) for j in jobs(auto)} == {("auto_document", "done"), ("sdi_send", "done")}
    [remote] = fic_documents(sandbox)
    assert 3 in {t["id"] for t in auto.client.vat_types()}  # kept again, with the new type


def test_transient_failures_are_retried_until_done(auto, shop, sandbox):
    import fic_plugin.jobs as jobs_module

    order = shop.add(make_order("1", paid=True))
    auto.pm.hook.order_paid(order=order)
    sandbox_call(sandbox, "POST", "/__sandbox__/faults", json={"error_rate": 1.0})
    run_round(auto)
    [job] = jobs(auto)
    assert job.state == "pending" and job.attempts >= 1 and job.last_error
    sandbox_call(sandbox, "DELETE", "/__sandbox__/faults")
    auto.store.execute("UPDATE fic_jobs SET run_after = ?", [clock.iso(datetime.now(UTC) - timedelta(seconds=1))])
    run_round(auto)
    assert {(j.kind, j.state) for j in jobs(auto)} == {("auto_document", "done"), ("sdi_send", "done")}
    assert len(fic_documents(sandbox)) == 1
    assert jobs_module.retry_delay(3) <= jobs_module.RETRY_CAP_SECONDS * 1.25


def test_hook_order_refunded(auto, shop):
    from fic_plugin.model import Refund

    order = shop.add(make_order("1", paid=True))
    auto.pm.hook.order_refunded(order=order, refund=Refund(amount="5.00", reason="reso"))
    assert any(a["action"] == "order_refunded" for a in auto.store.audit_log("1"))


def test_hook_shop_database(shop, context):
    assert context.store.url == str(shop.db_path)
    assert "fic_documents" in context.store.table_names()


def test_hook_shop_ready():
    from fic_plugin.manager import get_plugin_manager

    seen = []

    class Late:
        @hookimpl
        def shop_ready(self, pm):
            seen.append(pm)

    pm = get_plugin_manager(load_entrypoints=False)
    pm.register(Late())  # registered after start-up: the historic hook still reaches it
    assert seen == [pm]
    assert pm.get_plugin("fic-core") is not None


def test_jobs_survive_in_the_database_not_in_memory(auto, shop):
    order = shop.add(make_order("1", paid=True))
    auto.pm.hook.order_paid(order=order)
    from fic_plugin.store import Store

    other = Store(auto.store.url)
    assert [tuple(r) for r in other.execute("SELECT kind, state FROM fic_jobs").fetchall()] == [
        ("auto_document", "pending")]
    other.close()
    assert attrs.has(type(next(iter(jobs(auto)))))


def test_an_automatic_invoice_costs_four_fic_requests_once_lookups_are_cached(auto, shop, sandbox):
    """create, xml_verify, e_invoice/send, email: lookups (VAT types, payment methods and
    accounts, senders) are cached per worker."""
    for order_id in ("1", "2"):
        auto.pm.hook.order_paid(order=shop.add(make_order(order_id, paid=True)))
    from fic_plugin.jobs import execute_job

    first, second = (j.id for j in jobs(auto))
    assert execute_job(auto, first) == "done"
    before = auto.client.request_count
    assert execute_job(auto, second) == "done"
    assert auto.client.request_count - before == 4
    assert len(sandbox_emails(sandbox)) == 2
