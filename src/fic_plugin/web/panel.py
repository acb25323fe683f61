"""The order panel: the fragment the shop inserts in its order page.

It shows the order's fiscal documents (payment, sending and e-invoice state, the last error), the
jobs still queued or failed, the recent audit log, and the forms that act on them. The hook only
passes the order, so its messages come from a per-order flash kept in the database, and its forms'
CSRF tokens are bound to the order and, when the host says which browser it is drawn for
(``FicApp.panel(order, request=...)``, :func:`~fic_plugin.web.csrf.browser`), to that browser.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from .. import einvoice, wording
from ..errors import FicError
from ..formatting import clock, day, money, total_difference
from ..i18n import _, current_language, language, pgettext
from ..labels import (
    JOB_STATE_LABELS,
    PAYMENT_STATUS_LABELS,
    UNEXPECTED,
    activity_detail,
    activity_label,
    document_type_label,
    ei_state,
)
from ..model import CONVERSIONS, PANEL_DOCUMENT_TYPES, Document, Order
from ..payload import PAYMENT_TYPES
from ..store import clock as store_clock
from . import csrf
from .templating import render

if TYPE_CHECKING:
    from ..context import Context

log = logging.getLogger(__name__)

#: Where the host mounts the plugin's WSGI app; the fragment's forms post there.
MOUNT = "/fic"
FLASH_TTL = timedelta(minutes=5)


def render_panel(context: Context, order: Order, *, mount: str = MOUNT, lang: str | None = None,
                 csrf_token: str | None = None, csrf_field: str = csrf.FIELD, flash: bool = True) -> str:
    """The panel's HTML for ``order``; never raises, never shows a traceback.

    ``lang`` is the language of the page around it when known; the hook gives none, so the
    panel then follows the setting (Italian by default). A host with its own CSRF protection and
    messages (Django) passes its token and field name, and ``flash=False``.
    """
    try:
        with language(lang or screen_language(context)):
            view = panel_view(context, order, mount=mount, csrf_token=csrf_token, flash=flash)
            return render("panel.html", panel={**view, "csrf_field": csrf_field})
    except Exception as error:
        with language(lang or screen_language(context, safe=True)):
            message = error.message if isinstance(error, FicError) else _(UNEXPECTED)
        if not isinstance(error, FicError):
            log.exception("fic-plugin: cannot draw the panel of order %s", getattr(order, "id", "?"))
        from markupsafe import escape

        return f'<div class="fic-panel"><p class="fic-flash fic-error">{escape(message)}</p></div>'


def screen_language(context: Context, accept: Any = None, *, asked: str | None = None, safe: bool = False) -> str:
    """The ``language`` setting when the owner set it, else the one a form or link ``asked`` for
    (the panel sends its own, so what follows a click speaks like the panel), else the browser's,
    else Italian."""
    try:
        stored = context.store.raw_settings().get("language")
    except Exception:
        if not safe:
            raise
        stored = None
    if stored in ("it", "en"):
        return stored
    if asked in ("it", "en"):
        return asked
    if accept is not None:
        return accept.best_match(["it", "en"], default="it")
    return "it"


# --- flash messages ---------------------------------------------------------------------------------


def flash(context: Context, order_id: str, text: str, kind: str = "ok") -> None:
    """Keep a message for the next drawing of this order's panel (after the redirect)."""
    value = json.dumps({"text": wording.full_stop(text), "kind": kind, "at": store_clock.now_iso()})
    context.store.set_meta(f"web_flash:{order_id}", value)


def pop_flash(context: Context, order_id: str) -> dict[str, str] | None:
    key = f"web_flash:{order_id}"
    raw = context.store.get_meta(key)
    if not raw:
        return None
    context.store.set_meta(key, None)
    message = json.loads(raw)
    if store_clock.utc_now() - store_clock.parse(message["at"]) > FLASH_TTL:
        return None
    return message


# --- the view model -------------------------------------------------------------------------------------


def panel_view(context: Context, order: Order, *, mount: str = MOUNT, csrf_token: str | None = None,
               flash: bool = True) -> dict[str, Any]:
    documents = context.store.documents(order.id)
    existing = {d.type for d in documents}
    jobs = jobs_view(context, order.id)
    shown = [dict(document_view(d, documents, public_administration=order.customer.type == "pa"),
                  channels=channel_states(context, d)) for d in documents]
    return {
        "order": order,
        "mount": mount,
        "lang": current_language.get(),
        "csrf": csrf_token or csrf.issue(context.store, order_id=order.id, nonce=csrf.browser_nonce()),
        "csrf_field": csrf.FIELD,
        "flash": pop_flash(context, order.id) if flash else None,
        "documents": shown,
        "create_types": [(t, document_type_label(t)) for t in PANEL_DOCUMENT_TYPES if t not in existing],
        "jobs": jobs,
        # A job, or a send still waiting for its answer (the send screen's budget ran out): the
        # panel reloads itself until it is done.
        "in_progress": any(job["state"] in ("pending", "running") for job in jobs)
        or any(c["kind"] == "busy" for d in shown for c in d["channels"]),
        "audit": [audit_view(row) for row in context.store.audit_log(order.id, limit=30)],
        # "Send when paid" plans the automatic document; once it exists, "Invia…" is the way.
        "can_schedule": order.paid_at is None and auto_document_type(context, order) not in existing,
        "plan": plan_view(context, order),
    }


def plan_view(context: Context, order: Order) -> dict[str, Any] | None:
    """The order's "send when paid" plan, so the owner sees it after a reload and can change or
    cancel it."""
    from ..sending import Sending

    sending = Sending(context)
    plan = sending.plan(order)
    if plan is None:
        return None
    return {"summary": sending.plan_summary(order, plan.document_type, plan)}


def audit_view(row: dict) -> dict[str, Any]:
    """An activity log row: what happened in words; a FiC request's raw call (``POST
    /c/1/issued_documents: 200, 6 ms``) goes in ``raw``, shown behind a details toggle."""
    if row.get("action") == "fic_request" and row.get("method"):
        ok = row.get("status") and 200 <= int(row["status"]) < 300
        return {"at": row["at"], "what": activity_label(row["action"]),
                "detail": _("answered") if ok else _("refused or unanswered"), "raw": activity_detail(row)}
    return {"at": row["at"], "what": activity_label(row["action"]), "detail": activity_detail(row), "raw": ""}


def auto_document_type(context: Context, order: Order) -> str:
    return context.pm.hook.fic_auto_document_type(order=order) or context.settings.auto_document_type


def document_view(document: Document, siblings: list[Document], *, public_administration: bool = False
                  ) -> dict[str, Any]:
    taken = {d.type for d in siblings if d.id != document.id}
    return {
        "id": document.id,
        "type_label": document_type_label(document.type),
        "number": document.full_number,
        "date": day(document.date),
        "total": money(document.amount_due, document.currency),
        # FiC settles the totals; when its total is not what the shop charged, say so in words.
        "total_note": total_difference(document) if document.total_differs else "",
        "payment": payment_state(document) if document.type in PAYMENT_TYPES else "—",
        "paid": document.status == "paid" or document.type not in PAYMENT_TYPES,
        "sent": sent_state(document),
        **sdi_view(document, public_administration=public_administration),
        "converted_from": converted_from(document),
        "last_error": document.last_error,
        "synced": document.fic_id is not None,
        "conversions": [(t, document_type_label(t)) for t in CONVERSIONS.get(document.type, ())
                        if t not in taken],
    }


def sdi_view(document: Document, *, public_administration: bool = False) -> dict[str, Any]:
    """The SdI side of a row: the state in words and since when, FiC's reason for a discard,
    which of "Invia allo SdI" / "Correggi e reinvia" applies, and whether it may still be deleted."""
    status = document.ei_status
    sent = status in einvoice.SENT_STATES
    if document.e_invoice or status:
        ei = _("E-invoice: {state}").format(state=ei_state(status, public_administration=public_administration))
        if document.ei_status_at:
            ei = _("{state} (since {date} at {time})").format(
                state=ei, date=day(document.ei_status_at), time=clock(document.ei_status_at))
    else:
        ei = ""
    return {
        "ei": ei,
        "ei_error": document.ei_error if status in einvoice.FAILED_STATES or document.ei_error else None,
        "can_send_sdi": bool(document.e_invoice and document.fic_id is not None and not sent
                             and status not in einvoice.RESENDABLE_STATES),
        "can_resend_sdi": bool(document.e_invoice and status in einvoice.RESENDABLE_STATES),
        "locked_by_sdi": sent,
    }


def payment_state(document: Document) -> str:
    label = _(PAYMENT_STATUS_LABELS.get(document.status, document.status))
    if document.status == "partly_paid":
        return _("{state}: {amount}").format(state=label, amount=money(document.amount_paid, document.currency))
    return label


def sent_state(document: Document) -> str:
    if not document.sent_at:
        return wording.agree(document.type, pgettext("masculine", "Not sent"), pgettext("feminine", "Not sent"))
    when = {"date": day(document.sent_at), "time": clock(document.sent_at)}
    if document.sent_to:
        return wording.agree(
            document.type, pgettext("masculine", "Sent on {date} at {time} {to}"),
            pgettext("feminine", "Sent on {date} at {time} {to}"),
        ).format(**when, to=wording.to_recipients(document.sent_to))
    return wording.agree(document.type, pgettext("masculine", "Sent on {date} at {time}"),
                         pgettext("feminine", "Sent on {date} at {time}")).format(**when)


def channel_states(context: Context, document: Document) -> list[dict[str, str]]:
    """The last attempt of each channel and recipient (email, SMS to each number): a send that
    reached the customer by email but not by SMS shows both, not one "Non inviato"."""
    from ..delivery import IN_FLIGHT, failed_phrase, in_flight_phrase, sent_phrase, unknown_phrase

    latest: dict[str, dict] = {}
    for row in reversed(context.store.sends.for_document(document.id)):
        family = "sms:" + row["recipients"] if row["channel"] == "sms" else "email"
        latest[family] = row
    if not any(row["status"] != "sent" for row in latest.values()):
        return []  # all delivered: the "Inviata il …" line says it
    states = []
    for row in latest.values():
        recipients = row["recipients"].split(",")
        if row["status"] == "sent":
            states.append({"kind": "ok", "text": sent_phrase(row["channel"], recipients)})
        elif row["status"] == "unknown":
            states.append({"kind": "warn", "text": unknown_phrase(row["channel"], recipients)})
        elif row["status"] == "failed":
            states.append({"kind": "error", "text": failed_phrase(row["channel"], recipients, row["error"] or "")})
        elif row["status"] == "queued" and not row["error"] and \
                store_clock.utc_now() - store_clock.parse(row["created_at"]) < IN_FLIGHT:
            states.append({"kind": "busy", "text": in_flight_phrase(row["channel"], recipients)})
        else:
            # Written but never answered (the process stopped mid-send, or FiC's answer was lost):
            # the next send of this key looks in FiC's log first; the owner should check.
            states.append({"kind": "warn", "text": unknown_phrase(row["channel"], recipients)})
    return states


def converted_from(document: Document) -> str:
    if not document.converted_from_label and document.converted_from is None:
        return ""
    return wording.agree(document.type, pgettext("masculine", "Converted from {document}"),
                         pgettext("feminine", "Converted from {document}")).format(
        document=document.converted_from_label or "")


def jobs_view(context: Context, order_id: str) -> list[dict[str, Any]]:
    """The order's jobs still waiting or failed: what the owner should know is "in coda"."""
    return [{
        "id": job.id,
        "kind": activity_label(job.kind),
        "state": job.state,
        "state_label": _(JOB_STATE_LABELS.get(job.state, job.state)),
        "attempts": job.attempts,
        "last_error": job.last_error,
        "run_after": job.run_after,
        "document_id": job.document_id,
    } for job in context.store.jobs.list(order_id=order_id, states=("pending", "running", "failed"))]
