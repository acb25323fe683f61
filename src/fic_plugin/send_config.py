"""How one document is sent: recipients, texts with shortcodes, SMS, PDF and buttons, checked.

Apart from :mod:`fic_plugin.sending` (the owner's actions) and :mod:`fic_plugin.delivery` (the
channels), which both use it, so neither has to import the other's module for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

from . import messages, wording
from .errors import InvalidInput
from .i18n import _
from .settings import DEFAULT_EMAIL_BODY, DEFAULT_EMAIL_SUBJECT, DEFAULT_SMS_TEXT, Settings
from .validation import check_email, check_phone

#: FiC refuses email bodies over 50 KiB.
MAX_BODY_BYTES = 50 * 1024


def sanitized_body(value: str) -> str:
    return messages.sanitize_html(value)


@attrs.frozen(kw_only=True)
class SendConfig:
    """How one document is sent: recipients, texts (with shortcodes), SMS, PDF and buttons."""

    emails: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    phones: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    subject: str = DEFAULT_EMAIL_SUBJECT
    body: str = attrs.field(default=DEFAULT_EMAIL_BODY, converter=sanitized_body)  # stored sanitised
    sms: bool = False
    sms_sender: str | None = None
    sms_text: str = DEFAULT_SMS_TEXT
    attach_pdf: bool = True
    include_buttons: bool = True  # FiC's buttons, drawn where {{allegati}} is
    sender_email: str = ""  # FiC sender address; empty: FiC's default sender
    document_type: str = "invoice"
    id: int | None = attrs.field(default=None, eq=False)  # its fic_send_configs row, if saved

    def to_dict(self) -> dict[str, Any]:
        data = attrs.asdict(self)
        data.pop("id")
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], id: int | None = None) -> SendConfig:
        known = {f.name for f in attrs.fields(cls)} - {"id"}
        return cls(**{k: v for k, v in data.items() if k in known}, id=id)

    def validated(self, settings: Settings, shortcodes: Iterable[str]) -> SendConfig:
        """The config with normalised recipients, or InvalidInput naming what is wrong."""
        names = list(shortcodes)
        emails = tuple(dict.fromkeys(check_email(e, field="emails") for e in self.emails))
        phones = tuple(dict.fromkeys(check_phone(p, field="phones") for p in self.phones))
        sms = self.sms and bool(phones)
        if not emails and not sms:
            raise InvalidInput(_("No recipient: add at least one email address, or a phone number with "
                                 "SMS on."), field="emails")
        subject = " ".join(self.subject.splitlines()).strip()  # a newline would forge mail headers
        if emails:
            if not subject:
                raise InvalidInput(_("The email subject is empty."), field="subject")
            messages.check_template(subject, "subject", extra=names)
            messages.check_template(self.body, "body", extra=names)
            check_body_size(self.body)
        sender = self.sms_sender
        if sms:
            sender = _check_sms_sender(self.sms_sender, settings)
            if not self.sms_text.strip():
                raise InvalidInput(_("The SMS text is empty."), field="sms_text")
            messages.check_template(self.sms_text, "sms_text", extra=names)
        return attrs.evolve(self, emails=emails, phones=phones if sms else (), sms=sms, subject=subject,
                            sms_sender=sender)


def check_body_size(body: str) -> None:
    size = len(body.encode("utf-8"))
    if size > MAX_BODY_BYTES:
        raise InvalidInput(_("The email body is {size} KiB: Fatture in Cloud accepts at most 50 KiB. Shorten "
                             "it or remove pasted images.").format(size=round(size / 1024, 1)), field="body")


def _check_sms_sender(sender: str | None, settings: Settings) -> str:
    allowed = settings.sms_senders
    if not allowed:
        raise InvalidInput(_("No SMS sender is configured: add one (a name of at most 11 characters or a "
                             "number) in {where}.").format(where=wording.setting_place("sms_senders")),
                           field="sms_sender")
    chosen = sender or allowed[0]
    if chosen not in allowed:
        raise InvalidInput(_("The SMS sender \"{sender}\" is not configured: choose one of {allowed} (or add it "
                             "in {where}).").format(sender=chosen, allowed=", ".join(allowed),
                                                     where=wording.setting_place("sms_senders")),
                           field="sms_sender")
    if not chosen.startswith("+") and len(chosen) > 11:
        raise InvalidInput(_("The SMS sender \"{sender}\" is longer than 11 characters: operators refuse it. "
                             "Shorten it in {where}.").format(sender=chosen, where=wording.setting_place("sms_senders")),
                           field="sms_sender")
    return chosen


