"""The durable outbox and the worker (``fic sync``).

Shop events never call FiC: they insert a job row (``fic_jobs``) whose ``key`` is unique, so a
replayed event inserts nothing. The worker claims due jobs with a lease inside ``BEGIN
IMMEDIATE`` (two workers never run the same job), runs them through ``documents`` and
``sending`` (which are idempotent themselves), and records the outcome: done, retry later
(transient: FiC down, rate limited, outcome unknown) or failed with the reason (the owner fixes
the cause, then ``fic retry``).

Scaling out: :func:`execute_job` runs one job by id and is all a task queue (Huey, RQ, Celery)
needs; :func:`fic_plugin.outbox.enqueue` is the only writer of jobs. The loop in
:func:`run_round` is one runner among possible others. What the queue looks like to a person
(``fic status``, the panel) is :mod:`fic_plugin.reporting`'s job, not the worker's.
"""

from __future__ import annotations

import logging
import random
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs

from . import leases
from .context import acting_for
from .credit_notes import CreditNotes
from .documents import PAYABLE_TYPES, Documents
from .errors import Busy, FicError, NotFound
from .formatting import format_money
from .i18n import _
from .model import Refund
from .outbox import enqueue, is_transient
from .refunds import refund_key
from .sending import Sending
from .store import Job, clock

if TYPE_CHECKING:
    from .context import Context
    from .model import Order, Payment

log = logging.getLogger(__name__)

#: Transient failures are retried this many times before the job is marked failed.
MAX_ATTEMPTS = 25
#: First retry delay (seconds), doubled at each attempt, capped.
RETRY_BASE_SECONDS = 2.0
RETRY_CAP_SECONDS = 300.0
#: ``fic sync --once`` waits for retries due within this horizon before it exits.
ONCE_HORIZON_SECONDS = 60.0
WATERMARK_KEY = "paid_orders_watermark"


@attrs.define
class RoundReport:
    done: int = 0
    retried: int = 0
    failed: int = 0
    queued_by_check: int = 0


# --- events (called by the shop: they only enqueue, so they stay fast) ------------------------------


def on_order_paid(context: Context, order: Order, *, connection: Any = None) -> None:
    """Queue the automatic document (and its email) when the settings or a schedule ask for it;
    ``connection`` as in :func:`enqueue`."""
    settings = context.settings
    scheduled = _scheduled_config(context, order.id)
    if not settings.auto_invoice and scheduled is None:
        return
    document_type = scheduled["document_type"] if scheduled else auto_document_type(context, order)
    enqueue(context, "auto_document", f"auto:{order.id}", order_id=order.id, args={"type": document_type},
            connection=connection)


def on_payment_recorded(context: Context, order: Order, payment: Payment, *, connection: Any = None) -> None:
    """Queue the update of the paid amount; keyed by the total so a replay writes nothing."""
    enqueue(context, "sync_payments", f"payments:{order.id}:{order.amount_paid}", order_id=order.id,
            connection=connection)


def on_order_refunded(context: Context, order: Order, refund: Refund) -> None:
    """Queue the refund's credit note; keyed by the refund, so a replay writes nothing."""
    key = f"credit_note:{order.id}:{refund_key(refund)}"
    if enqueue(context, "credit_note", key, order_id=order.id, args={"refund": refund.as_dict()}):
        context.store.audit("order_refunded", _("refund of {amount} recorded").format(
            amount=format_money(refund.amount)), order_id=order.id)


def auto_document_type(context: Context, order: Order) -> str:
    return context.pm.hook.fic_auto_document_type(order=order) or context.settings.auto_document_type


def _scheduled_config(context: Context, order_id: str) -> dict[str, Any] | None:
    return context.store.sends.on_paid_config(order_id)


# --- running jobs ------------------------------------------------------------------------------------


def execute_job(context: Context, job_id: int) -> str:
    """Claim and run one job; returns its new state (``done``, ``pending``, ``failed``) or
    ``skipped`` when another worker holds it or it is not due."""
    return run_job(context, job_id)[0]


def run_job(context: Context, job_id: int) -> tuple[str, Exception | None]:
    """:func:`execute_job`, with the error that left the job pending or failed: a ``Busy`` one
    waits on another of the shop's jobs (its document being made), not on FiC."""
    job = _claim(context, job_id)
    if job is None:
        return "skipped", None
    try:
        with acting_for(job.order_id, job.document_id, job.id):
            _HANDLERS[job.kind](context, job)
    except Exception as error:  # noqa: BLE001 - every failure is recorded on the job
        return _record_failure(context, job, error), error
    _finish(context, job, "done", None)
    return "done", None


def _claim(context: Context, job_id: int) -> Job | None:
    store = context.store
    return store.jobs.claim(job_id, owner=leases.owner_id(store), lease_until=leases.until(leases.LEASE_SECONDS),
                            is_free=lambda owner, until: leases.is_free(store, owner, until))


def _finish(context: Context, job: Job, state: str, error: str | None, run_after: str | None = None) -> None:
    context.store.jobs.finish(job.id, state, error, run_after, owner=leases.me())


def _record_failure(context: Context, job: Job, error: Exception) -> str:
    message = str(error) if isinstance(error, FicError) else _("Unexpected error ({kind}): see the worker's log.").format(
        kind=type(error).__name__)
    if not isinstance(error, FicError):
        log.exception("job %s (%s) failed unexpectedly", job.id, job.kind)
    if is_transient(error) and job.attempts < MAX_ATTEMPTS:
        delay = retry_delay(job.attempts, getattr(error, "retry_after", None))
        run_after = clock.in_seconds(delay)
        _finish(context, job, "pending", message, run_after)
        log.info("job %s (%s) will retry in %.1fs: %s", job.id, job.kind, delay, message)
        return "pending"
    _finish(context, job, "failed", message)
    context.store.audit(job.kind, _("failed: {error}").format(error=message), order_id=job.order_id, job_id=job.id)
    return "failed"


def retry_delay(attempts: int, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter; FiC's ``Retry-After`` wins when it says longer."""
    delay = min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * 2 ** max(0, attempts - 1))
    delay *= random.uniform(0.75, 1.25)
    return max(delay, float(retry_after or 0))


# --- job kinds ---------------------------------------------------------------------------------------


def _run_auto_document(context: Context, job: Job) -> None:
    """Create the order's automatic document, apply its payments, then send it once."""
    order = context.order(job.order_id)
    documents = Documents(context, sends_e_invoice_now=True)
    document = documents.ensure(order, job.args.get("type", "invoice"))
    documents.sync_payments(order.id)
    document = context.store.document(document.id)
    if document.e_invoice:
        from .sdi import Sdi

        # Verify and send before the courtesy email: the customer is told of an invoice the SdI
        # has. Sdi.send does nothing for one already sent (its own job may have been first).
        document = Sdi(context).send(document.id)
    sending = Sending(context)
    key = f"auto:{order.id}"
    # The owner may have sent this document by hand meanwhile: the customer has it already, so
    # only what did not leave yet goes out (a scheduled plan for it is dropped, and says so).
    config = sending.without_what_left(document, sending.config_for(document), key)
    if config is not None:
        sending.deliver(document, config, key=key)


def _run_create(context: Context, job: Job) -> None:
    """Finish a create the panel or the CLI started when FiC did not answer in time."""
    Documents(context).ensure(context.order(job.order_id), job.args["type"])


def _run_convert(context: Context, job: Job) -> None:
    """Finish a conversion the panel or the CLI started when FiC did not answer in time."""
    Documents(context).convert(job.args["document_id"], job.args["to"])


def _run_delete(context: Context, job: Job) -> None:
    """Finish a deletion the panel started when FiC did not answer within the request's budget."""
    if context.store.document(job.args["document_id"]) is not None:
        Documents(context).delete(job.args["document_id"])


def _run_sync_payments(context: Context, job: Job) -> None:
    pending_create = context.store.jobs.has_open(job.order_id, "auto_document", other_than=job.id)
    unsynced = [d for d in context.store.documents(job.order_id) if d.type in PAYABLE_TYPES and not d.is_synced]
    if pending_create or unsynced:
        # The document is still being made; its payload will carry the payments, and this job
        # runs again afterwards to catch any that came in meanwhile.
        raise Busy(_("The document of order {order} is still being created.").format(
            order=context.order(job.order_id).number))
    Documents(context).sync_payments(job.order_id)


def _run_credit_note(context: Context, job: Job) -> None:
    """Create the refund's credit note (once), then email it like an automatic invoice."""
    order = context.order(job.order_id)
    invoice = context.store.document_for(order.id, "invoice")
    if (invoice is not None and not invoice.is_synced) or context.store.jobs.has_open(
            order.id, "auto_document", other_than=job.id):
        # The invoice is still being made: the credit note waits for it rather than being skipped.
        raise Busy(_("The invoice of order {order} is still being created.").format(order=order.number))
    document = CreditNotes(context).for_refund(order, Refund.from_dict(job.args["refund"]))
    if document is None or not context.settings.auto_invoice:
        return
    sending = Sending(context)
    sending.deliver(document, sending.config_for(document), key=job.key)


def _run_send(context: Context, job: Job) -> None:
    document = context.store.document(job.document_id)
    if document is None:
        raise NotFound(_("The document of order {order} no longer exists (it was deleted): nothing to send.").format(
            order=context.order(job.order_id).number if job.order_id else "?"))
    sending = Sending(context)
    sending.deliver(document, sending.config_for(document, job.args.get("config_id")), key=job.key)


def _run_sdi_send(context: Context, job: Job) -> None:
    """Verify and send an e-invoice to the SdI (exactly once: see ``fic_plugin.sdi``)."""
    from .sdi import Sdi

    if context.store.document(job.document_id) is None:
        raise NotFound(_("Document {id} no longer exists.").format(id=job.document_id))
    if job.args.get("resend"):
        Sdi(context).correct_and_resend(job.document_id)
    else:
        Sdi(context).send(job.document_id)


def _run_ei_refresh(context: Context, job: Job) -> None:
    """Read the SdI state of the documents a webhook named (or the poll chose) and store it."""
    from .sdi import Sdi

    sdi = Sdi(context)
    if job.document_id is not None:
        if context.store.document(job.document_id) is not None:
            sdi.refresh(job.document_id)
        return
    sdi.refresh_fic_ids(list(job.args.get("ids") or ()))


_HANDLERS = {
    "auto_document": _run_auto_document,
    "create": _run_create,
    "convert": _run_convert,
    "delete": _run_delete,
    "sync_payments": _run_sync_payments,
    "send": _run_send,
    "credit_note": _run_credit_note,
    "sdi_send": _run_sdi_send,
    "ei_refresh": _run_ei_refresh,
}


# --- the worker --------------------------------------------------------------------------------------


def invoice_paid_orders(context: Context) -> int:
    """The periodic check: queue the automatic document of paid orders that have none yet.

    Reads the shop's paid orders since the watermark (inclusive, so orders paid in the same
    instant are not missed; the unique job key makes seeing one twice free).
    """
    settings = context.settings
    if not settings.auto_invoice:
        return 0
    store = context.store
    watermark = store.get_meta(WATERMARK_KEY)
    since = datetime.fromisoformat(watermark) if watermark else None
    orders = context.pm.hook.shop_paid_orders(since=since) or ()
    queued, newest = 0, since
    for order in orders:
        if order.paid_at and (newest is None or order.paid_at > newest):
            newest = order.paid_at
        document_type = auto_document_type(context, order)
        if store.document_for(order.id, document_type) is not None:
            continue
        if enqueue(context, "auto_document", f"auto:{order.id}", order_id=order.id, args={"type": document_type}):
            queued += 1
    if newest is not None and newest != since:
        store.set_meta(WATERMARK_KEY, newest.isoformat())
    return queued


def poll_sdi_states(context: Context) -> int:
    """The fallback of webhooks: ask FiC about e-invoices still in flight that no event updated
    for ``sdi_poll_seconds``; a shop that cannot receive webhooks still sees the outcome."""
    from .sdi import stale_in_flight

    queued = 0
    for document in stale_in_flight(context, seconds=context.settings.sdi_poll_seconds):
        key = f"poll:{document.id}:{document.ei_checked_at or document.ei_status_at or 'first'}"
        queued += enqueue(context, "ei_refresh", key, order_id=document.order_id, document_id=document.id)
    return queued


def due_job_ids(context: Context, limit: int = 500) -> list[int]:
    rows = context.store.jobs.due(limit)
    return [r[0] for r in rows if r[1] == "pending" or leases.is_free(context.store, r[2], r[3])]


def _next_retry_in(context: Context) -> float | None:
    """Seconds until a retry is due, or until a silent worker's job may be taken over."""
    run_after = context.store.jobs.next_run_after()
    waits = [(clock.parse(run_after) - clock.utc_now()).total_seconds()] if run_after else []
    waits += [free - time.time() for owner in context.store.jobs.running_owners()
              if (free := leases.free_at(context.store, owner)) is not None]
    return max(0.0, min(waits)) if waits else None


def run_round(context: Context, *, progress: bool = False, wait_for_retries: bool = False) -> RoundReport:
    """Run due jobs, do the periodic check, run what it queued.

    With ``wait_for_retries`` (``fic sync --once``) the round also waits for retries due soon, so
    one invocation leaves nothing half-done because of a passing FiC hiccup.
    """
    report = RoundReport()
    report.queued_by_check = invoice_paid_orders(context)
    poll_sdi_states(context)
    bar = _progress_bar(context, progress)
    try:
        while True:
            ids = due_job_ids(context)
            for job_id in ids:
                state = execute_job(context, job_id)
                if state == "done":
                    report.done += 1
                    bar.update(1)
                elif state == "pending":
                    report.retried += 1
                elif state == "failed":
                    report.failed += 1
                    bar.update(1)
            if ids:
                continue
            wait = _next_retry_in(context) if wait_for_retries else None
            if wait is None or wait > ONCE_HORIZON_SECONDS:
                break
            time.sleep(min(wait, 5.0) + 0.05)
    finally:
        bar.close()
    return report


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(context: Context, progress: bool):
    if not progress:
        return _NoBar()
    from tqdm import tqdm

    total = context.store.jobs.count_open()
    return tqdm(total=total, unit="job", desc=_("Fatture in Cloud"), dynamic_ncols=True)


def run_worker(context: Context, *, once: bool = False, interval: float = 60.0, progress: bool = False,
               stop: Any = None) -> int:
    """``fic sync``: rounds until stopped (``stop`` is a threading.Event for embedding), or one."""
    while True:
        report = run_round(context, progress=progress, wait_for_retries=once)
        if once:
            log.info("sync: %s done, %s failed", report.done, report.failed)
            return 0
        if stop is not None:
            if stop.wait(interval):
                return 0
        else:
            time.sleep(interval)
