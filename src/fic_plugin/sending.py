"""Sending documents: by email through FiC (synced documents) or the shop's mailer, and by SMS.

Every send is idempotent per ``key``: one ``fic_sends`` row per channel and recipients, keyed
``{key}:email`` or ``{key}:sms:{phone}``, is written *before* calling out (``queued``) and marked
``sent`` after, so a retried job never emails or texts twice. A row still ``queued`` from a
crashed or unanswered attempt is resolved by looking in FiC's email log (same recipient and
subject since the row was written) before sending again. The shop's mailer and SMS providers
offer no such look-up: for them we choose *at most once* and mark the row ``unknown`` for the
owner to check (the residual risk is a message that never left and is not retried).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs

from . import messages, wording
from .delivery import Channels, Outcome, find_fic_email, sent_phrase
from .errors import Conflict, FicError, NotFound
from .i18n import _, pgettext
from .labels import document_type_label
from .model import Document, Order, SentMessage
from .outbox import is_transient
from .send_config import SendConfig, check_body_size, sanitized_body

if TYPE_CHECKING:
    from .context import Context

log = logging.getLogger(__name__)

class SendFailed(FicError):
    """At least one channel failed; ``sent`` lists what did leave (it is recorded as sent)."""

    code = "send_failed"

    def __init__(self, message: str, *, sent: Iterable[SentMessage] = (), order_id: str | None = None):
        super().__init__(message, order_id=order_id)
        self.sent = tuple(sent)


class Sending:
    """Send documents now, on payment, or from jobs (:meth:`deliver`)."""

    def __init__(self, context: Context):
        self.context = context
        self.store = context.store

    # --- configurations ----------------------------------------------------------------------------

    def default_config(self, order: Order, document_type: str = "invoice") -> SendConfig:
        """The template from the settings, to the customer's email (and phone when SMS is on)."""
        settings = self.context.settings
        phone = order.customer.phone
        return SendConfig(
            emails=(order.customer.email,) if order.customer.email else (),
            phones=(phone,) if phone and settings.sms_enabled else (),
            subject=settings.email_subject, body=settings.email_body,
            sms=bool(settings.sms_enabled and phone), sms_text=settings.sms_text,
            sms_sender=settings.sms_senders[0] if settings.sms_senders else None,
            attach_pdf=settings.email_attach_pdf, sender_email=settings.email_sender,
            document_type=document_type)

    def config_for(self, document: Document, config_id: int | None = None) -> SendConfig:
        """The "send when paid" config saved for this document's order and type, else the defaults."""
        if config_id is not None:
            found = self.store.sends.config(config_id)
        else:
            plan = self.store.sends.on_paid_config(document.order_id, document.type)
            found = (plan["id"], plan["config"]) if plan else None
        if found:
            return SendConfig.from_dict(found[1], id=found[0])
        return self.default_config(self.context.order(document.order_id), document.type)

    def _configure(self, base: SendConfig, *, emails: Iterable[str], phones: Iterable[str],
                   sms_sender: str | None, subject: str | None, body: str | None,
                   sms_text: str | None, sms_default: bool) -> SendConfig:
        emails, phones = tuple(e for e in emails if e), tuple(p for p in phones if p)
        return attrs.evolve(
            base, emails=emails or base.emails, phones=phones or (base.phones if sms_default else ()),
            sms=bool(phones) or (sms_default and base.sms), sms_sender=sms_sender or base.sms_sender,
            subject=subject or base.subject, body=sanitized_body(body) if body else base.body,
            sms_text=sms_text or base.sms_text)

    # --- the owner's actions -----------------------------------------------------------------------

    def send_now(self, document_id: int, *, emails: Iterable[str] = (), phones: Iterable[str] = (),
                 sms_sender: str | None = None, subject: str | None = None, body: str | None = None,
                 sms_text: str | None = None, key: str | None = None) -> dict[str, Any]:
        """Send the document now; emails default to the customer's, SMS only to ``phones``.

        ``key`` makes a repeated request (double click) harmless; without it every call sends.
        """
        document = self.store.document(document_id)
        if document is None:
            raise NotFound(_("Document {id} does not exist.").format(id=document_id))
        order = self.context.order(document.order_id)
        config = self._configure(self.default_config(order, document.type), emails=emails, phones=phones,
                                 sms_sender=sms_sender, subject=subject, body=body, sms_text=sms_text,
                                 sms_default=False)
        key = key or f"manual:{document.id}:{uuid.uuid4().hex}"
        # A second send to the customer is the owner's explicit choice; the message says so.
        again = bool(self.store.sends.sent_not_under(document.id, key))
        sent = self.deliver(document, config, key)
        return {"summary": self._summary(document, sent, again=again), "document_id": document.id, "key": key,
                "again": again,
                "sent": [_sent_dict(s) for s in sent]}

    def schedule_on_paid(self, order_id: str, *, emails: Iterable[str] = (), phones: Iterable[str] = (),
                         sms_sender: str | None = None, subject: str | None = None, body: str | None = None,
                         sms_text: str | None = None) -> dict[str, Any]:
        """Save how to send the invoice that will be created when ``order_id`` is paid."""
        order = self.context.order(order_id)
        settings = self.context.settings
        document_type = self.context.pm.hook.fic_auto_document_type(order=order) or settings.auto_document_type
        if order.paid_at is not None:
            raise Conflict(_("Order {order} is already paid: create its document and send it now instead.").format(
                order=order.number), order_id=order.id)
        existing = self.store.document_for(order.id, document_type)
        if existing is not None:
            raise Conflict(wording.agree(
                document_type,
                pgettext("masculine", "Order {order} already has its {doc}: send it with \"Send…\" instead."),
                pgettext("feminine", "Order {order} already has its {doc}: send it with \"Send…\" instead."),
            ).format(order=order.number, doc=wording.document_name(existing)), order_id=order.id)
        config = self._configure(self.default_config(order, document_type), emails=emails, phones=phones,
                                 sms_sender=sms_sender, subject=subject, body=body, sms_text=sms_text,
                                 sms_default=True)
        config = config.validated(settings, messages.known_shortcodes(self.context.pm))
        config_id = self.store.sends.replace_on_paid_config(order.id, document_type, config.to_dict())
        return {"summary": self.plan_summary(order, document_type, config),
                "order_id": order.id, "config_id": config_id, "document_type": document_type,
                "config": config.to_dict()}

    def without_what_left(self, document: Document, config: SendConfig, key: str) -> SendConfig | None:
        """``config`` without the channels by which ``document`` already reached the customer under
        another key (the owner's "Invia…", usually); ``None`` when nothing is left to send.

        The automatic send (and a scheduled one) asks this first: a customer who got the invoice by
        hand at 23:22 does not get it again at 23:25 because the order became paid. A plan that
        ends up with nothing to send is closed, and the activity log says why.
        """
        earlier = self.store.sends.sent_not_under(document.id, key)
        if not earlier:
            return config
        emailed = any(row["channel"] in ("fic_email", "smtp") for row in earlier)
        texted = {phone for row in earlier if row["channel"] == "sms" for phone in row["recipients"].split(",")}
        emails = () if emailed else config.emails
        phones = tuple(p for p in config.phones if p not in texted) if config.sms else ()
        if emails or phones:
            return attrs.evolve(config, emails=emails, phones=phones, sms=bool(phones))
        if config.id is not None:
            self.store.sends.mark_config_used(config.id, document.id)
        last = earlier[-1]
        sent_at = datetime.fromisoformat(last["sent_at"]) if last["sent_at"] else None
        self.store.audit("send", wording.agree(
            document.type,
            pgettext("masculine", "{doc} not sent again: it was already sent on {date} {to}."),
            pgettext("feminine", "{doc} not sent again: it was already sent on {date} {to}.")).format(
                doc=wording.document_name(document), date=sent_at.strftime("%d/%m/%Y %H:%M") if sent_at else "",
                to=wording.to_recipients(last["recipients"].replace(",", ", "))),
            order_id=document.order_id, document_id=document.id)
        return None

    def plan(self, order: Order) -> SendConfig | None:
        """The order's "send when paid" plan not used yet (the panel shows it with Modifica/Annulla)."""
        row = self.store.sends.on_paid_config(order.id)
        return SendConfig.from_dict(row["config"], id=row["id"]) if row else None

    def cancel_plan(self, order: Order) -> str:
        """Drop the order's plan; returns the message for the owner."""
        plan = self.plan(order)
        if plan is None or not self.store.sends.cancel_on_paid_configs(order.id):
            raise NotFound(_("Order {order} has no scheduled sending to cancel.").format(order=order.number),
                           order_id=order.id)
        self.store.audit("send", _("Scheduled sending cancelled."), order_id=order.id)
        return wording.agree(
            plan.document_type,
            pgettext("masculine", "Scheduled sending cancelled: the {type} of order {order} will not be sent "
                                  "when it is paid."),
            pgettext("feminine", "Scheduled sending cancelled: the {type} of order {order} will not be sent "
                                 "when it is paid."),
        ).format(type=_document_type_word(plan.document_type), order=order.number)

    @staticmethod
    def plan_summary(order: Order, document_type: str, config: SendConfig) -> str:
        """"When order 107 is paid, its invoice will be sent to …" (in the type's gender)."""
        recipients = ", ".join([*config.emails, *config.phones])
        return wording.full_stop(wording.agree(
            document_type,
            pgettext("masculine", "When order {order} is paid, its {type} will be sent {to}."),
            pgettext("feminine", "When order {order} is paid, its {type} will be sent {to}."),
        ).format(order=order.number, type=_document_type_word(document_type), to=wording.to_recipients(recipients)))

    # --- delivery --------------------------------------------------------------------------------------

    def deliver(self, document: Document, config: SendConfig, key: str) -> list[SentMessage]:
        """Send ``document`` as ``config`` says, once per ``key``; returns what left now or before.

        Raises InvalidInput before sending anything when the config is wrong; after trying every
        channel, re-raises a transient failure (so a job retries) or :class:`SendFailed`.
        """
        order = self.context.order(document.order_id)
        values = messages.shortcode_values(self.context, order, document)
        config = config.validated(self.context.settings, values)
        texts = {"subject": messages.render(config.subject, order, document, html=False, values=values,
                                            field="subject"),
                 "body": messages.render(config.body, order, document, html=True, values=values, field="body"),
                 "sms_text": messages.render(config.sms_text, order, document, html=False, values=values,
                                             field="sms_text") if config.sms else ""}
        check_body_size(texts["body"])
        outcome = Channels(self.context, document, order, config, texts).run(key)
        self._record_on_document(document, outcome.sent)
        for sent in outcome.sent:
            self._notify(order, document, sent)
        if config.id is not None and not outcome.failed:
            self.store.sends.mark_config_used(config.id, document.id)
        if outcome.failed or outcome.unknown:
            self._raise(document, outcome)
        return outcome.already + outcome.sent

    def _raise(self, document: Document, outcome: Outcome) -> None:
        for _what, error in outcome.failed:
            if is_transient(error):
                raise error
        # Each channel's own outcome: "email sent to x; SMS to +39… not sent: refused", never a
        # bare "not sent" for a document the customer did receive by email.
        parts = [*(sent_phrase(s.channel, s.to) for s in outcome.sent + outcome.already),
                 *(what for what, _error in outcome.failed), *outcome.unknown]
        message = wording.full_stop(_("{doc}: {outcomes}.").format(doc=wording.document_name(document),
                                                                     outcomes="; ".join(parts)))
        raise SendFailed(message, sent=outcome.sent + outcome.already, order_id=document.order_id)

    def _record_on_document(self, document: Document, sent: list[SentMessage]) -> None:
        if not sent:
            return
        with self.store.transaction():
            fresh = self.store.document(document.id) or document
            fresh.sent_at = max(s.sent_at for s in sent)
            fresh.sent_to = ", ".join(dict.fromkeys(to for s in sent for to in s.to))
            fresh.sent_channel = "+".join(dict.fromkeys(s.channel for s in sent))
            fresh.delivery_state = None  # FiC's state of this new email is not known yet
            self.store.update_document(fresh)
        document.sent_at, document.sent_to, document.sent_channel = fresh.sent_at, fresh.sent_to, fresh.sent_channel

    def _notify(self, order: Order, document: Document, sent: SentMessage) -> None:
        try:
            self.context.pm.hook.fic_document_sent(order=order, document=document, sent=sent)
        except Exception:  # a listener's bug must not turn a sent email into a failed send
            log.exception("A fic_document_sent plugin failed for document %s", document.id)

    def _summary(self, document: Document, sent: list[SentMessage], *, again: bool = False) -> str:
        outcomes = "; ".join(sent_phrase(s.channel, s.to) for s in sent)
        if again:
            text = wording.agree(document.type, pgettext("masculine", "{doc} sent again: {outcomes}."),
                                 pgettext("feminine", "{doc} sent again: {outcomes}."))
        else:
            text = _("{doc}: {outcomes}.")
        return wording.full_stop(text.format(doc=wording.document_name(document), outcomes=outcomes))

    # --- FiC's delivery state ------------------------------------------------------------------------

    def refresh_delivery_state(self, document: Document) -> str | None:
        """Read FiC's email log for the last email sent through FiC: ``status/recipient_status``."""
        row = self.store.sends.last_fic_email(document.id)
        if row is None:
            return document.delivery_state
        found = find_fic_email(self.context.client, row["recipients"].split(","), row["subject"],
                               since=row["created_at"])
        if found is None:
            return document.delivery_state
        state = f"{found.get('status') or 'unknown'}/{found.get('recipient_status') or 'unknown'}"
        with self.store.transaction():
            fresh = self.store.document(document.id) or document
            fresh.delivery_state = state
            self.store.update_document(fresh)
        document.delivery_state = state
        return state

    def sends(self, document_id: int) -> list[dict[str, Any]]:
        """The document's send attempts, newest first (for the panel and ``fic status``)."""
        return self.store.sends.for_document(document_id)


def _document_type_word(document_type: str) -> str:
    """The type as a common noun inside a sentence: "its invoice", "la fattura"."""
    return document_type_label(document_type).lower()


def _sent_dict(sent: SentMessage) -> dict[str, Any]:
    return {"channel": sent.channel, "to": list(sent.to), "sent_at": sent.sent_at.isoformat(timespec="seconds"),
            "provider": sent.provider, "provider_id": sent.provider_id}

