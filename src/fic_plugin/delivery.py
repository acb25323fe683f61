"""The channels a document leaves by, each guarded by its ``fic_sends`` row.

:class:`Channels` is :meth:`fic_plugin.sending.Sending.deliver`'s engine: it claims the row of
each channel and recipient set, calls FiC, the shop's mailer or the SMS provider, and records
what happened. See :mod:`fic_plugin.sending` for the idempotency rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import attrs

from . import messages, wording
from .errors import FicError
from .fic.errors import OutcomeUnknown
from .i18n import _
from .model import Document, EmailMessage, Order, SentMessage, SmsMessage
from .send_config import SendConfig
from .store import clock

if TYPE_CHECKING:
    from .context import Context

#: Clock difference tolerated between the shop and FiC when matching FiC's email log.
CLOCK_SKEW = timedelta(minutes=15)
#: How long a send written but not yet answered shows as "in corso" (FiC's slowest answer with
#: its retries); after that the panel says it may or may not have left.
IN_FLIGHT = timedelta(minutes=2)
#: How far back in FiC's email log (newest first) a lost send is looked for.
LOOKUP_LIMIT = 500


@attrs.define
class Outcome:
    sent: list[SentMessage] = attrs.field(factory=list)  # left in this attempt
    already: list[SentMessage] = attrs.field(factory=list)  # left in an earlier attempt
    failed: list[tuple[str, Exception]] = attrs.field(factory=list)
    unknown: list[str] = attrs.field(factory=list)  # became 'unknown' in this attempt


def parse_fic_time(value: Any) -> datetime | None:
    """FiC's ``2026-11-28 10:42:00`` (or ISO) as a naive datetime; ``None`` when absent or odd."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "")).replace(tzinfo=None)
    except ValueError:
        return None


def find_fic_email(client: Any, recipients: Iterable[str], subject: str, *, since: str | datetime) -> dict | None:
    """The newest email in FiC's log to one of ``recipients`` with ``subject``, sent after ``since``.

    FiC's log has no document id, so recipient + subject is what identifies our email; ``since``
    keeps an older send of the same document from counting.
    """
    start = datetime.fromisoformat(since) if isinstance(since, str) else since
    if start.tzinfo is not None:  # the store's UTC; FiC's log is in local time without an offset
        start = start.astimezone().replace(tzinfo=None)
    wanted = {r.strip().lower() for r in recipients if r.strip()}
    rows: Iterator[dict] = client.list_emails(sort="-id")
    for count, row in enumerate(rows):
        if count >= LOOKUP_LIMIT:
            break
        when = parse_fic_time(row.get("sent_date"))
        if when is not None and when < start - CLOCK_SKEW:
            break  # newest first: everything from here on is older
        to = {p.strip().lower() for p in str(row.get("to_email") or "").split(",")}
        if row.get("subject") == subject and wanted & to:
            return row
    return None


class Channels:
    """Sends one document's email and SMS for one key, recording each in ``fic_sends``."""

    def __init__(self, context: Context, document: Document, order: Order, config: SendConfig,
                 texts: dict[str, str]):
        self.context = context
        self.sends = context.store.sends
        self.document = document
        self.order = order
        self.config = config
        self.texts = texts

    def run(self, key: str) -> Outcome:
        outcome = Outcome()
        if self.config.emails:
            channel = "fic_email" if self.document.fic_id else "smtp"
            # Keyed by family, not channel: an email that went by SMTP is not sent again by FiC
            # once the document is synced.
            self._one(outcome, f"{key}:email", channel, self.config.emails)
        for phone in self.config.phones:
            self._one(outcome, f"{key}:sms:{phone}", "sms", (phone,))
        return outcome

    # --- one row -----------------------------------------------------------------------------------

    def _one(self, outcome: Outcome, key: str, channel: str, recipients: tuple[str, ...]) -> None:
        row, fresh = self._claim(key, channel, recipients)
        what = unknown_phrase(channel, recipients)
        if row["status"] == "sent":
            outcome.already.append(self._sent_from_row(row))
            return
        if row["status"] == "unknown":
            return  # the owner checks it (fic status); sending again could duplicate it
        if row["status"] == "queued" and not fresh:
            # An earlier attempt stopped between writing the row and recording the answer.
            if channel == "fic_email" and row["channel"] == "fic_email":
                if self._recover(outcome, row, recipients):
                    return
            else:
                self._mark(row, "unknown", error=_(
                    "An earlier attempt stopped while sending: it may or may not have left. Check with the "
                    "recipient (or the provider's console) and send again if needed."))
                outcome.unknown.append(what)
                return
        self._mark(row, "queued", channel=channel)
        try:
            sent = self._send(channel, recipients)
        except Exception as error:  # noqa: BLE001 - every failure is kept on its row
            if channel == "fic_email" and isinstance(error, OutcomeUnknown):
                if self._recover(outcome, row, recipients):
                    return
                # Stays queued: the next attempt looks in FiC's log again before resending.
                self._mark(row, "queued", error=str(error))
                outcome.failed.append((failed_phrase(channel, recipients, error), error))
            elif getattr(error, "code", "") == "sms_outcome_unknown":
                self._mark(row, "unknown", error=str(error))
                outcome.unknown.append(what)
            else:
                self._mark(row, "failed", error=_reason(error))
                outcome.failed.append((failed_phrase(channel, recipients, error), error))
            self._audit(channel, _("failed: {error}").format(error=_reason(error)))
            return
        self._mark_sent(row, sent)
        outcome.sent.append(sent)
        self._audit(channel, _("sent to {recipients}").format(recipients=", ".join(recipients)))

    def _recover(self, outcome: Outcome, row: dict, recipients: tuple[str, ...]) -> bool:
        try:
            found = find_fic_email(self.context.client, recipients, row["subject"] or "", since=row["created_at"])
        except FicError:
            return False
        if found is None:
            return False
        sent = SentMessage(channel="fic_email", to=recipients, provider="fattureincloud",
                           provider_id=str(found.get("id") or "") or None)
        self._mark_sent(row, sent)
        outcome.sent.append(sent)
        self._audit("fic_email", _("found in FiC's email log: sent to {recipients}").format(
            recipients=", ".join(recipients)))
        return True

    def _claim(self, key: str, channel: str, recipients: tuple[str, ...]) -> tuple[dict, bool]:
        return self.sends.claim(key, order_id=self.order.id, document_id=self.document.id, channel=channel,
                                recipients=recipients, subject=self.texts["subject"] if channel != "sms" else None)

    def _mark(self, row: dict, status: str, *, error: str | None = None, channel: str | None = None) -> None:
        self.sends.mark(row["id"], status, error=error, channel=channel)

    def _mark_sent(self, row: dict, sent: SentMessage) -> None:
        self.sends.mark_sent(row["id"], provider_id=sent.provider_id, sent_at=sent.sent_at.isoformat())

    @staticmethod
    def _sent_from_row(row: dict) -> SentMessage:
        return SentMessage(channel=row["channel"], to=tuple(row["recipients"].split(",")),
                           sent_at=clock.parse(row["sent_at"]) if row["sent_at"] else clock.utc_now(),
                           provider_id=row["provider_id"])

    def _audit(self, channel: str, outcome: str) -> None:
        self.context.store.audit(f"send_{channel}", outcome, order_id=self.order.id, document_id=self.document.id)

    # --- the channels ------------------------------------------------------------------------------

    def _send(self, channel: str, recipients: tuple[str, ...]) -> SentMessage:
        if channel == "fic_email":
            return self._fic_email(recipients)
        if channel == "smtp":
            return self._smtp(recipients)
        return self._sms(recipients[0])

    def _fic_email(self, recipients: tuple[str, ...]) -> SentMessage:
        client = self.context.client
        fic_id = self.document.fic_id
        # The texts always come from the shop's template; only the senders are FiC's (cached).
        defaults = client.email_senders(fic_id)
        data: dict[str, Any] = {
            **self._fic_sender(defaults),
            "recipient_email": ",".join(recipients),
            "subject": self.texts["subject"],
            "body": self.texts["body"],
            "include": {"document": bool(self.config.include_buttons),
                        "delivery_note": False, "attachment": False, "accompanying_invoice": False},
            "attach_pdf": bool(self.config.attach_pdf),
            "send_copy": False,
        }
        client.schedule_email(fic_id, data)
        return SentMessage(channel="fic_email", to=recipients, provider="fattureincloud")

    def _fic_sender(self, defaults: dict) -> dict[str, Any]:
        """FiC wants ``sender_id`` or ``sender_email``: the owner's choice, else FiC's default."""
        wanted = (self.config.sender_email or "").strip().lower()
        senders = defaults.get("sender_emails_list") or []
        if wanted:
            for sender in senders:
                if str(sender.get("email", "")).lower() == wanted:
                    return {"sender_id": sender["id"]}
            return {"sender_email": self.config.sender_email.strip()}
        default = defaults.get("default_sender_email") or (senders[0] if senders else None)
        if default and default.get("id") is not None:
            return {"sender_id": default["id"]}
        if default and default.get("email"):
            return {"sender_email": default["email"]}
        raise FicError(_("Fatture in Cloud has no sender address for emails: add one in FiC (Impostazioni > "
                         "Email) or in {where}.").format(where=wording.setting_place("email_sender")),
                       field="email_sender", order_id=self.order.id)

    def _smtp(self, recipients: tuple[str, ...]) -> SentMessage:
        # No FiC buttons outside FiC: the placeholder would reach the customer as text.
        html = self.texts["body"].replace(messages.ALLEGATI, "")
        message = EmailMessage(to=recipients, subject=self.texts["subject"], html=html,
                               text=messages.html_to_text(html), order_id=self.order.id,
                               document_id=self.document.id)
        accepted = self.context.pm.hook.shop_send_email(message=message)
        if accepted is None:
            raise FicError(_("This document is not in Fatture in Cloud yet and the shop has no mailer: wait for "
                             "the document to reach Fatture in Cloud, or configure the shop's email."),
                           order_id=self.order.id)
        if accepted is False:
            raise FicError(_("The shop's mailer did not accept the email to {to}.").format(to=", ".join(recipients)),
                           order_id=self.order.id)
        return SentMessage(channel="smtp", to=recipients, provider="shop")

    def _sms(self, phone: str) -> SentMessage:
        message = SmsMessage(to=phone, sender=self.config.sms_sender or "", text=self.texts["sms_text"],
                             order_id=self.order.id, document_id=self.document.id)
        sent = self.context.pm.hook.fic_send_sms(message=message)
        if sent is None:
            raise FicError(_("No SMS provider is configured: choose one in {where} (Twilio or Skebby) or "
                             "install a provider plugin.").format(where=wording.setting_place("sms_provider")),
                           field="sms_provider", order_id=self.order.id)
        return attrs.evolve(sent, channel="sms") if sent.channel != "sms" else sent


def sent_phrase(channel: str, recipients: Iterable[str]) -> str:
    """"SMS sent to +39…": one channel's outcome, in words that agree (email is feminine in Italian)."""
    to = wording.to_recipients(", ".join(recipients))
    if channel == "sms":
        return _("SMS sent {to}").format(to=to)
    if channel == "fic_email":
        return _("email sent through Fatture in Cloud {to}").format(to=to)
    return _("email sent {to}").format(to=to)


def failed_phrase(channel: str, recipients: Iterable[str], error: Exception | str) -> str:
    to = wording.to_recipients(", ".join(recipients))
    reason = _reason(error) if isinstance(error, Exception) else error
    reason = reason[:-1] if reason.endswith(".") else reason
    if channel == "sms":
        return _("SMS {to} not sent: {reason}").format(to=to, reason=reason)
    return _("email {to} not sent: {reason}").format(to=to, reason=reason)


def unknown_phrase(channel: str, recipients: Iterable[str]) -> str:
    to = wording.to_recipients(", ".join(recipients))
    if channel == "sms":
        return _("SMS {to}: it may or may not have left, check before sending again").format(to=to)
    return _("email {to}: it may or may not have left, check before sending again").format(to=to)


def in_flight_phrase(channel: str, recipients: Iterable[str]) -> str:
    to = wording.to_recipients(", ".join(recipients))
    if channel == "sms":
        return _("SMS being sent {to}").format(to=to)
    return _("email being sent {to}").format(to=to)


def _reason(error: Exception) -> str:
    if isinstance(error, FicError):
        return str(error)
    return f"{type(error).__name__}: {error}"
