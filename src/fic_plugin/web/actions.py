"""The panel's actions: create, view, convert, delete, retry.

Each POST does one thing through :class:`fic_plugin.documents.Documents` or
:mod:`fic_plugin.jobs` (web code never calls FiC itself), then redirects back with a flash.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from .. import wording
from ..documents import Documents
from ..errors import Conflict, FicError, InvalidInput, NotFound
from ..formatting import day, money
from ..i18n import _, current_language, ngettext, pgettext
from ..labels import N_, document_type_label
from ..model import CONVERSIONS, PANEL_DOCUMENT_TYPES, Document
from ..outbox import enqueue, retry_jobs
from ..reporting import describe_preview
from ..sdi import queue_send
from .budget import StillRunning, run_within_budget
from .panel import render_panel

if TYPE_CHECKING:
    from .base import Screens

log = logging.getLogger(__name__)

UPDATED = N_("Document updated successfully.")


def already_converted(original: Document, converted: Document) -> str:
    """"Il preventivo è già stato convertito nella Fattura n. 3": both nouns agree."""
    into = wording.agree(converted.type, pgettext("masculine", "into the {doc}"),
                         pgettext("feminine", "into the {doc}")).format(doc=wording.document_name(converted))
    return wording.agree(
        original.type, pgettext("masculine", "The {type} has already been converted {into}."),
        pgettext("feminine", "The {type} has already been converted {into}."),
    ).format(type=document_type_label(original.type).lower(), into=into)


def order_page(web: Screens, request: Request, order_id: str) -> Response:
    """The panel on a page of its own: the fallback target of the redirects, handy without a host."""
    try:
        order = web.context.order(order_id)
    except FicError as error:
        return web.message_page(request, error.message, 404)
    panel = render_panel(web.context, order, mount=request.script_root, lang=current_language.get())
    return web.page(request, "order.html", order=order, panel=panel)


def create(web: Screens, request: Request, order_id: str) -> Response:
    document_type = request.form.get("type", "")

    def action() -> str:
        if document_type not in PANEL_DOCUMENT_TYPES:
            raise InvalidInput(_("Choose the type of document to create."), field="type")
        document = Documents(web.context).create(order_id, document_type)
        return wording.agree(document.type, pgettext("masculine", "{doc} created."),
                             pgettext("feminine", "{doc} created.")).format(doc=wording.document_name(document))

    def later() -> None:
        # The key Documents.create queues under when FiC does not answer: one job either way.
        generation = int(web.context.store.get_meta(f"generation:{order_id}:{document_type}") or 0)
        _queue(web, "create", f"create:{order_id}:{document_type}:{generation}", order_id, {"type": document_type})

    return web.act(request, order_id, action, web.order_url(request, order_id),
                   later if document_type in PANEL_DOCUMENT_TYPES else None)


def _queue(web: Screens, kind: str, key: str, order_id: str, args: dict) -> None:
    """The job that finishes an action FiC did not finish within the request's budget."""
    enqueue(web.context, kind, key, order_id=str(order_id), args=args)


def totals_preview(web: Screens, request: Request, order_id: str) -> Response:
    """"Anteprima totali": FiC's own totals for the chosen type, asked on demand (one request)."""
    document_type = request.form.get("type", "")

    def action() -> str:
        if document_type not in PANEL_DOCUMENT_TYPES:
            raise InvalidInput(_("Choose the type of document to create."), field="type")
        return describe_preview(Documents(web.context).preview_totals(order_id, document_type), document_type)

    return web.act(request, order_id, action, web.order_url(request, order_id))


def view(web: Screens, request: Request, document_id: int) -> Response:
    """Redirect to a fresh link to the PDF: FiC's links expire, so none is ever stored."""
    document = web.context.store.document(document_id)
    if document is None:
        return web.message_page(request, _("This document does not exist (it may have been deleted)."), 404)
    url = None
    with web.flashing(document.order_id, f"opening document {document_id}"):
        try:
            url = run_within_budget(lambda: Documents(web.context).view_url(document_id), web.action_budget)
        except StillRunning:
            web.flash(document.order_id, _("Fatture in Cloud is slow to answer: try again in a moment."), "error")
    if url is None:
        return redirect(web.back(request, web.order_url(request, document.order_id)), code=303)
    return redirect(url, code=302)


def convert(web: Screens, request: Request, document_id: int) -> Response:
    document = web.document_or_404(document_id)
    to_type = request.form.get("to_type", "")

    def action() -> str:
        if to_type not in CONVERSIONS.get(document.type, ()):
            raise InvalidInput(_("A {from_type} cannot be converted into this type.").format(
                from_type=document_type_label(document.type)), field="to_type")
        earlier = web.context.store.document_for(document.order_id, to_type)
        if earlier is not None and earlier.converted_from == document.id:
            # A second click, or a page left open: say what already happened, change nothing.
            raise Conflict(already_converted(document, earlier), order_id=document.order_id)
        converted = Documents(web.context).convert(document_id, to_type)
        return wording.agree(
            document.type, pgettext("masculine", "{doc} converted into {target}."),
            pgettext("feminine", "{doc} converted into {target}."),
        ).format(doc=wording.document_name(document), target=wording.document_name(converted))

    def later() -> None:
        _queue(web, "convert", f"convert:{document_id}:{to_type}:in-request", document.order_id,
               {"document_id": document_id, "to": to_type})

    return web.act(request, document.order_id, action, web.order_url(request, document.order_id),
                   later if to_type in CONVERSIONS.get(document.type, ()) else None)


def delete(web: Screens, request: Request, document_id: int) -> Response:
    """GET asks "are you sure?" on a page of its own (works without JavaScript); POST deletes."""
    document = web.context.store.document(document_id)
    if document is None:
        return web.message_page(request, _("This document does not exist (it may have been deleted)."), 404)
    back = web.back(request, web.order_url(request, document.order_id))
    if request.method == "GET":
        return web.page(request, "confirm_delete.html", document=document, back=back,
                        type_label=document_type_label(document.type), date=day(document.date),
                        total=money(document.amount_due, document.currency),
                        heading=wording.agree(document.type, pgettext("masculine", "Delete the {doc}?"),
                                              pgettext("feminine", "Delete the {doc}?")).format(
                            doc=wording.document_name(document).lower() if not document.full_number
                            else wording.document_name(document)),
                        warnings=delete_warnings(document),
                        credit_note="credit_note" in CONVERSIONS.get(document.type, ()) and document.is_synced
                        and web.context.store.document_for(document.order_id, "credit_note") is None)

    def action() -> str:
        Documents(web.context).delete(document_id)
        return wording.agree(document.type, pgettext("masculine", "{doc} deleted."),
                             pgettext("feminine", "{doc} deleted.")).format(doc=wording.document_name(document))

    def later() -> None:
        _queue(web, "delete", f"delete:{document_id}", document.order_id, {"document_id": document_id})

    return web.act(request, document.order_id, action, web.order_url(request, document.order_id), later)


def delete_warnings(document: Document) -> list[str]:
    """What deleting means for this document, beyond "cannot be undone": the customer may hold it,
    it may be paid, and FiC keeps it in its bin."""
    warnings = []
    if document.sent_at:
        warnings.append(wording.agree(
            document.type,
            pgettext("masculine", "The customer already received it on {date}{to}: deleting it here does not take "
                                  "it back from them."),
            pgettext("feminine", "The customer already received it on {date}{to}: deleting it here does not take "
                                 "it back from them."),
        ).format(date=day(document.sent_at),
                 to=" " + wording.to_recipients(document.sent_to) if document.sent_to else ""))
    if document.type in ("invoice", "receipt") and document.status in ("paid", "partly_paid"):
        warnings.append(_("Payments of {amount} are recorded on it: they are deleted with it.").format(
            amount=money(document.amount_paid, document.currency)))
    if document.is_synced:
        warnings.append(wording.agree(
            document.type,
            pgettext("masculine", "In Fatture in Cloud it goes to the bin, and its number stays used."),
            pgettext("feminine", "In Fatture in Cloud it goes to the bin, and its number stays used.")))
    if document.type == "invoice" and (document.sent_at or document.status != "not_paid"):
        warnings.append(_("To cancel an invoice the customer has, issue a credit note instead: it keeps the "
                          "invoice and cancels its amount, as the law asks."))
    return warnings


def retry_document(web: Screens, request: Request, document_id: int) -> Response:
    """Queue again the failed jobs of a document, after the owner fixed what the error said."""
    document = web.document_or_404(document_id)

    def action() -> str:
        rows = web.context.store.jobs.list(document_id=document_id, states=("failed",))
        if not rows:
            raise NotFound(_("There is nothing to retry for this document."))
        count = sum(retry_jobs(web.context, job_id=job.id) for job in rows)
        return ngettext("{count} job queued again.", "{count} jobs queued again.", count).format(count=count)

    return web.act(request, document.order_id, action, web.order_url(request, document.order_id))


def retry_job(web: Screens, request: Request, job_id: int) -> Response:
    state = web.context.store.jobs.state_of(job_id)
    order_id = web.context.store.jobs.order_of(job_id)

    def action() -> str:
        if state is None:
            raise NotFound(_("Job {id} does not exist.").format(id=job_id))
        count = retry_jobs(web.context, job_id=job_id)
        return ngettext("{count} job queued again.", "{count} jobs queued again.", count).format(count=count)

    fallback = web.order_url(request, order_id) if order_id else f"{request.script_root}/settings"
    return web.act(request, order_id, action, fallback)


def send_sdi(web: Screens, request: Request, document_id: int) -> Response:
    """"Invia allo SdI": the worker verifies and sends the e-invoice (exactly once)."""
    document = web.document_or_404(document_id)

    def action() -> str:
        queue_send(web.context, document_id)
        return _("The e-invoice will be sent to the SdI in a moment.")

    return web.act(request, document.order_id, action, web.order_url(request, document.order_id))


def resend_sdi(web: Screens, request: Request, document_id: int) -> Response:
    """"Correggi e reinvia": the worker writes the invoice again from the order and sends it."""
    document = web.document_or_404(document_id)

    def action() -> str:
        queue_send(web.context, document_id, resend=True)
        return _("The corrected e-invoice will be sent to the SdI in a moment.")

    return web.act(request, document.order_id, action, web.order_url(request, document.order_id))


HANDLERS = {
    "send_sdi": send_sdi,
    "resend_sdi": resend_sdi,
    "order_page": order_page,
    "create": create,
    "totals_preview": totals_preview,
    "view": view,
    "convert": convert,
    "delete": delete,
    "retry_document": retry_document,
    "retry_job": retry_job,
}
