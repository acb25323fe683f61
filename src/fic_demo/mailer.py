"""The demo shop's mailer: plain smtplib with the plugin's SMTP settings.

It sends what fic-plugin cannot send through FiC (``shop_send_email``). A real shop plugs in its
own mailer; this one shows the contract: return True once the server accepted the message,
raise a readable :class:`~fic_plugin.errors.FicError` otherwise, never with the password in it.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from email.message import EmailMessage as MimeMessage
from email.utils import formatdate, make_msgid
from typing import Any

from fic_plugin.errors import FicError, SettingsError
from fic_plugin.i18n import _
from fic_plugin.model import EmailMessage, SentMessage
from fic_plugin.settings import load_settings
from fic_plugin.store import Store

TIMEOUT = 20


def build_message(message: EmailMessage, sender: str) -> MimeMessage:
    """A multipart/alternative message: the text part for old clients, the HTML for the rest."""
    mime = MimeMessage()
    mime["From"] = sender
    mime["To"] = ", ".join(message.to)
    mime["Subject"] = message.subject
    mime["Date"] = formatdate(localtime=True)
    mime["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    mime.set_content(message.text or _("This message is in HTML: open it in a mail program that shows HTML."))
    mime.add_alternative(message.html, subtype="html")
    return mime


def send_email(store: Store, message: EmailMessage) -> bool:
    settings = load_settings(store)
    if not settings.smtp_host:
        raise SettingsError(_("The shop cannot send e-mail: set the SMTP server in the settings "
                              "(fic settings set smtp_host HOST smtp_from ADDRESS)."), field="smtp_host")
    sender = settings.smtp_from or settings.smtp_username
    if not sender:
        raise SettingsError(_("Set the sender address of the shop's e-mail (fic settings set smtp_from ADDRESS)."),
                            field="smtp_from")
    if not message.to:
        raise FicError(_("The e-mail has no recipient."), order_id=message.order_id)
    password = store.get_secret("smtp_password")
    where = f"{settings.smtp_host}:{settings.smtp_port}"
    try:
        if settings.smtp_security == "ssl":
            client: smtplib.SMTP = smtplib.SMTP_SSL(settings.smtp_host, settings.smtp_port, timeout=TIMEOUT,
                                                    context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=TIMEOUT)
        with client:
            if settings.smtp_security == "starttls":
                client.starttls(context=ssl.create_default_context())
            if settings.smtp_username:
                client.login(settings.smtp_username, password or "")
            client.send_message(build_message(message, sender))
    except smtplib.SMTPAuthenticationError:
        raise FicError(_("The SMTP server {where} refused the username {user} and its password: check "
                         "smtp_username and smtp_password.").format(where=where, user=settings.smtp_username),
                       order_id=message.order_id) from None
    except smtplib.SMTPRecipientsRefused as error:
        raise FicError(_("The SMTP server {where} refused the recipient(s) {to}: check the address.").format(
            where=where, to=", ".join(error.recipients)), order_id=message.order_id) from None
    except smtplib.SMTPNotSupportedError:
        raise FicError(_("The SMTP server {where} does not support STARTTLS: set smtp_security to ssl or none.")
                       .format(where=where), order_id=message.order_id) from None
    except (smtplib.SMTPException, OSError, ssl.SSLError) as error:
        # The server's own words help, but never smtplib's arguments: they could hold the password.
        reason = error.smtp_error.decode(errors="replace") if isinstance(error, smtplib.SMTPResponseException) \
            else (_("timed out") if isinstance(error, socket.timeout) else type(error).__name__ + ": " + str(error))
        if password:
            reason = reason.replace(password, "***")
        raise FicError(_("The e-mail could not be sent through the SMTP server {where}: {reason}. "
                         "Check the SMTP settings and that the server is reachable.").format(where=where, reason=reason),
                       order_id=message.order_id) from None
    return True


def log_sms(url: str, message: Any) -> SentMessage:
    """The test provider's SMS, shown in the sandbox's SMS log (nothing is sent to any phone)."""
    import requests

    from fic_plugin.sms import TestProvider

    sent = TestProvider().send(message)
    try:
        requests.post(url, json={"to": message.to, "sender": message.sender, "text": message.text,
                                 "order_id": message.order_id, "document_id": message.document_id},
                      timeout=5).raise_for_status()
    except requests.RequestException as error:
        raise FicError(_("The demo's SMS log (the sandbox) did not answer: {error}").format(error=error)) from None
    return sent
