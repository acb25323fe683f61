"""Every order's fiscal documents and failed jobs on one page (``/fic/documents``), and the cell
the shop's order list shows for each order (the ``order_list_cell`` hook).

The page filters by type, state and date, retries a failed job ("Riprova"), and acts on many at
once: create the invoices of the selected paid orders, send the selected documents (only those
not sent yet: a second send is the order panel's explicit "Invia di nuovo"), retry the selected
jobs. Everything goes through ``Documents``, ``Sending`` and ``jobs``, like the panel.
"""

from __future__ import annotations

import itertools
import logging
from datetime import date
from typing import TYPE_CHECKING, Any

from markupsafe import Markup
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from .. import wording
from ..documents import Documents
from ..errors import FicError
from ..formatting import day, money
from ..i18n import _, language, ngettext, pgettext
from ..labels import EI_STATUS_LABELS, PAYMENT_STATUS_LABELS, activity_label, document_type_label
from ..model import DOCUMENT_TYPES, Document
from ..outbox import jobs, retry_jobs
from ..payload import PAYMENT_TYPES
from ..sending import Sending
from .base import caught
from .panel import pop_flash, screen_language, sent_state

if TYPE_CHECKING:
    from ..context import Context
    from .base import Screens

log = logging.getLogger(__name__)

FLASH_KEY = "__overview__"
LIMIT = 300
STATES = ("not_paid", "partly_paid", "paid", "not_sent", "sent")


# --- the order list's cell ------------------------------------------------------------------------


def list_cell(context: Context, order: Any) -> str:
    """"Fattura 3/A · Pagato · Inviata" for each document of ``order``; a dash when none. Never raises."""
    try:
        with language(screen_language(context, safe=True)):
            documents = context.store.documents(order.id)
            if not documents:
                return '<span class="fic-cell fic-cell-empty">—</span>'
            items = [Markup('<span class="fic-cell-doc" data-type="{}">{}</span>').format(d.type, short_state(d))
                     for d in documents]
            return str(Markup('<span class="fic-cell">{}</span>').format(Markup("<br>").join(items)))
    except Exception:
        log.exception("fic-plugin: cannot draw the order list cell of order %s", getattr(order, "id", "?"))
        return '<span class="fic-cell">—</span>'


def short_state(document: Document) -> str:
    parts = [f"{document_type_label(document.type)} {document.full_number}".strip()]
    if document.type in PAYMENT_TYPES:
        parts.append(_(PAYMENT_STATUS_LABELS.get(document.status, document.status)))
    parts.append(wording.agree(document.type, pgettext("masculine", "Sent"), pgettext("feminine", "Sent"))
                 if document.sent_at else
                 wording.agree(document.type, pgettext("masculine", "Not sent"), pgettext("feminine", "Not sent")))
    if document.ei_status in EI_STATUS_LABELS:
        parts.append(_(EI_STATUS_LABELS[document.ei_status]))
    return " · ".join(parts)


# --- the page ----------------------------------------------------------------------------------------


def overview(web: Screens, request: Request) -> Response:
    context = web.context
    filters = {key: request.args.get(key, "") for key in ("type", "state", "since", "until")}
    numbers: dict[str, str] = {}
    rows = [document_row(context, d, numbers) for d in context.store.documents()
            if matches(d, filters)]
    rows.sort(key=lambda row: row["id"], reverse=True)
    failed = [{"id": job.id, "kind": activity_label(job.kind), "order": order_number(context, job.order_id, numbers),
               "order_id": job.order_id, "error": job.last_error or ""}
              for job in jobs(context, states=("failed",))]
    return web.page(request, "overview.html", rows=rows[:LIMIT], more=len(rows) > LIMIT, failed=failed,
                    to_invoice=paid_orders_without_invoice(context), filters=filters,
                    types=[(t, document_type_label(t)) for t in DOCUMENT_TYPES],
                    states=[(s, state_label(s)) for s in STATES], flash=pop_flash(context, FLASH_KEY))


def state_label(state: str) -> str:
    if state in PAYMENT_STATUS_LABELS:
        return _(PAYMENT_STATUS_LABELS[state])
    return _("Sent") if state == "sent" else _("Not sent yet")


def matches(document: Document, filters: dict[str, str]) -> bool:
    if filters["type"] and document.type != filters["type"]:
        return False
    state = filters["state"]
    if state in PAYMENT_STATUS_LABELS and (document.type not in PAYMENT_TYPES or document.status != state):
        return False
    if state == "sent" and not document.sent_at or state == "not_sent" and document.sent_at:
        return False
    for key, keep in (("since", lambda d, limit: d >= limit), ("until", lambda d, limit: d <= limit)):
        if filters[key]:
            try:
                limit = date.fromisoformat(filters[key])
            except ValueError:
                continue
            if document.date is None or not keep(document.date, limit):
                return False
    return True


def order_number(context: Context, order_id: str | None, numbers: dict[str, str]) -> str:
    """The order's number as the shop shows it (not its internal id), asked once per order."""
    if order_id is None:
        return ""
    if order_id not in numbers:
        try:
            numbers[order_id] = context.order(order_id).number
        except FicError:
            numbers[order_id] = str(order_id)
    return numbers[order_id]


def document_row(context: Context, document: Document, numbers: dict[str, str]) -> dict[str, Any]:
    return {"id": document.id, "order_id": document.order_id,
            "order": order_number(context, document.order_id, numbers),
            "name": wording.document_name(document) if document.is_synced else document_type_label(document.type),
            "date": day(document.date), "total": money(document.amount_due, document.currency),
            "payment": _(PAYMENT_STATUS_LABELS.get(document.status, document.status))
            if document.type in PAYMENT_TYPES else "—",
            "sent": sent_state(document), "sendable": document.is_synced and not document.sent_at,
            "ei": _(EI_STATUS_LABELS[document.ei_status]) if document.ei_status in EI_STATUS_LABELS else "",
            "error": document.last_error or ""}


def paid_orders_without_invoice(context: Context, limit: int = 100) -> list[dict[str, str]]:
    try:
        orders = itertools.islice(context.pm.hook.shop_paid_orders(since=None) or (), 1000)
        return [{"id": o.id, "number": o.number, "customer": o.customer.name} for o in orders
                if context.store.document_for(o.id, "invoice") is None][:limit]
    except Exception:
        log.warning("fic-plugin: shop_paid_orders failed; the overview lists no orders to invoice")
        return []


# --- bulk actions --------------------------------------------------------------------------------------


def bulk(web: Screens, request: Request) -> Response:
    """Create, send or retry the selected ones; one message says what happened to each."""
    action = request.form.get("action", "")
    done, problems = 0, []
    numbers: dict[str, str] = {}
    with caught(f"bulk action {action}") as failure:
        if action == "create_invoices":
            for order_id in request.form.getlist("order_ids"):
                try:
                    Documents(web.context).create(order_id, "invoice")
                    done += 1
                except FicError as error:
                    problems.append(error.message)
            message = ngettext("{count} invoice created.", "{count} invoices created.", done)
        elif action == "send":
            for document_id in request.form.getlist("document_ids", type=int):
                document = web.context.store.document(document_id)
                if document is None or document.sent_at:
                    continue  # already with the customer: sending again is the panel's explicit choice
                try:
                    Sending(web.context).send_now(document_id)
                    done += 1
                except FicError as error:
                    problems.append(_("Order {order}: {error}").format(
                        order=order_number(web.context, document.order_id, numbers), error=error.message))
            message = ngettext("{count} document sent.", "{count} documents sent.", done)
        elif action == "retry":
            for job_id in request.form.getlist("job_ids", type=int):
                try:
                    done += retry_jobs(web.context, job_id=job_id)
                except FicError as error:
                    problems.append(error.message)
            message = ngettext("{count} job queued again.", "{count} jobs queued again.", done)
        else:
            message, problems = "", [_("Choose what to do with the selected rows.")]
    if failure:
        message, problems = "", [failure.message]
    text = " ".join(p for p in [message.format(count=done) if message else "", *problems] if p)
    web.flash(FLASH_KEY, text, "warn" if problems else "ok")
    return redirect(web.back(request, f"{request.script_root}/documents"), code=303)


HANDLERS = {"overview": overview, "bulk": bulk}

