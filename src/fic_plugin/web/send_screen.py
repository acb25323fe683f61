"""The send screen: subject, body, recipients, SMS, with a live preview for this order.

Two doors lead here: a document's "Invia…" (send now, or when paid) and the order's "Programma
l'invio alla ricezione del pagamento" before any invoice exists. Both end in
:class:`fic_plugin.sending.Sending`; a refused value comes back next to its field
(``InvalidInput.field``) with everything the owner typed still there.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any

from markupsafe import Markup
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from .. import messages
from ..errors import FicError, InvalidInput
from ..i18n import _
from ..labels import N_, document_type_label
from ..model import Document, Order
from ..sending import SendFailed, Sending
from .actions import UPDATED
from .base import caught
from .budget import IN_PROGRESS, StillRunning, run_within_budget
from .panel import sent_state
from .templating import render

if TYPE_CHECKING:
    from .base import Screens

log = logging.getLogger(__name__)

SCHEDULED = N_("Sending scheduled: the invoice will be sent when the payment is received.")


def send(web: Screens, request: Request, document_id: int) -> Response:
    document = web.document_or_404(document_id)
    order = web.context.order(document.order_id)
    return send_form(web, request, order, document)


def schedule(web: Screens, request: Request, order_id: str) -> Response:
    order = web.context.order(order_id)
    return send_form(web, request, order, None)


def cancel_schedule(web: Screens, request: Request, order_id: str) -> Response:
    """"Annulla" beside the scheduled sending on the panel."""
    def action() -> str:
        return Sending(web.context).cancel_plan(web.context.order(order_id))

    return web.act(request, order_id, action, web.order_url(request, order_id))


def send_form(web: Screens, request: Request, order: Order, document: Document | None) -> Response:
    back = web.back(request, web.order_url(request, order.id))
    if request.method == "GET":
        return draw(web, request, order, document, defaults(web, order, document), {}, back)
    typed = typed_values(request)
    errors: dict[str, str] = {}
    wants_schedule = document is None or request.form.get("action") == "schedule"
    if not typed["emails"] and not typed["phones"]:
        errors["emails"] = _("Add at least one recipient.")
    if not errors:
        with caught(f"sending for order {order.id}") as failure:
            try:
                result = run_within_budget(lambda: deliver(web, order, document, typed, wants_schedule),
                                           web.action_budget)
            except StillRunning:
                # The send goes on in the background (each send is keyed: never twice).
                result = _(IN_PROGRESS)
            except SendFailed as error:
                if not error.sent:
                    raise
                # Part of it reached the customer: that is done, and the panel says what did not.
                web.flash(order.id, error.message, "warn")
                return redirect(back, code=303)
        if failure:
            # A refused value goes next to its field; anything else above the form.
            field = failure.field if isinstance(failure.error, InvalidInput) else None
            errors[field or "_form"] = failure.message
    if errors:
        return draw(web, request, order, document, typed, errors, back, status=400)
    web.flash(order.id, result)
    return redirect(back, code=303)


def deliver(web: Screens, order: Order, document: Document | None, typed: dict[str, Any],
            wants_schedule: bool) -> str:
    """Send or schedule; returns the summary for the flash message."""
    options = {
        "emails": typed["emails"],
        "phones": typed["phones"] if typed["sms"] else (),
        "sms_sender": (typed["sms_sender"] or None) if typed["sms"] else None,
        "subject": typed["subject"],
        "body": typed["body"],
        "sms_text": typed["sms_text"] if typed["sms"] else None,
    }
    sending = Sending(web.context)
    if wants_schedule:
        return sending.schedule_on_paid(order.id, **options).get("summary") or _(SCHEDULED)
    # The form's one-time key makes a double click send once.
    key = f"web:{document.id}:{typed['send_key']}" if typed["send_key"] else None
    return sending.send_now(document.id, key=key, **options).get("summary") or _(UPDATED)


def typed_values(request: Request) -> dict[str, Any]:
    form = request.form
    return {
        "emails": [e.strip() for e in form.getlist("emails") if e.strip()],
        "phones": [p.strip() for p in form.getlist("phones") if p.strip()],
        "sms": form.get("sms") == "1",
        "sms_sender": form.get("sms_sender", ""),
        "subject": form.get("subject", ""),
        "body": form.get("body", ""),
        "sms_text": form.get("sms_text", ""),
        "send_key": "".join(c for c in form.get("send_key", "") if c.isalnum())[:40],
    }


def defaults(web: Screens, order: Order, document: Document | None) -> dict[str, Any]:
    """What the form starts with: the saved "when paid" plan, else the customer and the settings."""
    sending = Sending(web.context)
    if document is not None:
        config = sending.config_for(document)
    else:
        # "Modifica" on the panel's scheduled sending opens this door again: start from the plan.
        config = sending.plan(order) or sending.default_config(order, planned_type(web, order))
    return {
        "emails": list(config.emails),
        "phones": list(config.phones) or ([order.customer.phone] if order.customer.phone else []),
        "sms": config.sms,
        "sms_sender": config.sms_sender or "",
        "subject": config.subject,
        "body": config.body,
        "sms_text": config.sms_text,
        "send_key": uuid.uuid4().hex,
    }


def draw(web: Screens, request: Request, order: Order, document: Document | None,
         values: dict[str, Any], errors: dict[str, str], back: str, status: int = 200) -> Response:
    settings = web.context.settings
    base = f"{request.script_root}/documents/{document.id}" if document else \
        web.order_url(request, order.id)
    _encoding, length, parts = messages.sms_parts(rendered_sms(web, order, document, values["sms_text"]))
    return web.page(
        request, "send.html", status=status, order=order, document=document, values=values,
        errors=errors, back=back, action=f"{base}/send" if document else f"{base}/schedule",
        preview_url=f"{base}/preview", senders=settings.sms_senders,
        type_label=document_type_label(document.type if document else planned_type(web, order)),
        shortcodes=shortcode_help(web), sms_length=length, sms_parts=parts,
        # Scheduling is for the document the payment will create: the door without a document.
        can_schedule=document is None and order.paid_at is None,
        already_sent=already_sent(web, document),
        preview=preview_html(web, order, document or planned_document(web, order), values),
    )


def rendered_sms(web: Screens, order: Order, document: Document | None, text: str) -> str:
    """The SMS as the customer gets it: the counter under the text counts this, like the preview
    (a shortcode's name is not its value's length)."""
    try:
        return messages.render(text, order, document or planned_document(web, order), html=False,
                               context=web.context, field="sms_text")
    except FicError:
        return text


def planned_type(web: Screens, order: Order) -> str:
    return web.context.pm.hook.fic_auto_document_type(order=order) or web.context.settings.auto_document_type


def already_sent(web: Screens, document: Document | None) -> str:
    """Shown above "Invia di nuovo": the customer has it already, a second send is a choice."""
    if document is None or not document.sent_at:
        return ""
    return sent_state(document)


def shortcode_help(web: Screens) -> list[tuple[str, str]]:
    names = messages.known_shortcodes(web.context.pm)
    return [(name, _(messages.BUILTIN_SHORTCODES[name]) if name in messages.BUILTIN_SHORTCODES else "")
            for name in names]


def preview(web: Screens, request: Request, document_id: int) -> Response:
    document = web.document_or_404(document_id)
    order = web.context.order(document.order_id)
    return preview_response(web, request, order, document)


def order_preview(web: Screens, request: Request, order_id: str) -> Response:
    order = web.context.order(order_id)
    return preview_response(web, request, order, planned_document(web, order))


def planned_document(web: Screens, order: Order) -> Document:
    """The document a scheduled send will carry, as far as it is known now: its type, today's
    date and the order's total (FiC gives the number when it creates it)."""
    from datetime import date

    return Document(id=None, order_id=order.id, type=planned_type(web, order), date=date.today(),
                    amount_due=messages.order_total(order, web.context.settings), currency=order.currency)


def preview_response(web: Screens, request: Request, order: Order, document: Document | None) -> Response:
    values = {key: request.form.get(key) for key in ("subject", "body", "sms_text")}
    if document is None:
        document = planned_document(web, order)
    response = Response(preview_html(web, order, document, values), mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


def preview_html(web: Screens, order: Order, document: Document | None, values: dict[str, Any]) -> str:
    """The texts as the customer reads them; a wrong shortcode shows its message instead."""
    try:
        planned = document is not None and document.id is None
        shown = messages.preview(web.context, order, document, subject=values.get("subject"),
                                 body=values.get("body"), sms_text=values.get("sms_text"),
                                 known={"document_number": _("[number given by Fatture in Cloud]")} if planned
                                 else None)
        return render("preview.html", preview=shown, body=_with_attachments(shown["body"], document),
                      error=None, field=None)
    except InvalidInput as error:
        return render("preview.html", preview=None, body="", error=error.message, field=error.field)
    except FicError as error:
        return render("preview.html", preview=None, body="", error=error.message, field=None)


def _with_attachments(body: str, document: Document | None) -> Markup:
    """FiC draws the document's PDF link and buttons where ``{{allegati}}`` stands; the preview
    says so instead of showing the placeholder. A document not in FiC goes by the shop's mailer,
    which drops it (the PDF is not attached there), and so does the preview."""
    if document is not None and document.id is not None and document.fic_id is None:
        return Markup(body.replace(messages.ALLEGATI, ""))
    chip = Markup('<span class="fic-allegati">{}</span>').format(
        _("[the document's PDF and buttons, added by Fatture in Cloud]"))
    return Markup(body.replace(messages.ALLEGATI, str(chip)))


HANDLERS = {
    "send": send,
    "schedule": schedule,
    "preview": preview,
    "order_preview": order_preview,
    "cancel_schedule": cancel_schedule,
}
