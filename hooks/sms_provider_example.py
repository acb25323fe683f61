"""Example: send fic-plugin's SMS through your own gateway, a generic JSON webhook.

Copy this file into your project and register it (entry point group ``shop``, or
``get_plugin_manager([..., webhook_sms])``). Because it answers ``fic_send_sms`` with a
:class:`~fic_plugin.model.SentMessage`, the built-in Twilio and Skebby providers are not asked.

Configuration, from the environment so no secret sits in the shop database:

* ``SMS_WEBHOOK_URL``: where to POST ``{"to", "sender", "text", "order_id", "document_id"}``;
  unset means "not mine" (the hook returns ``None`` and the built-in providers answer).
* ``SMS_WEBHOOK_TOKEN``: optional, sent as ``Authorization: Bearer <token>``.

The gateway answers 2xx with JSON ``{"id": "..."}``; anything else is a refusal, reported to the
shop owner without the token.
"""

from __future__ import annotations

import os

import requests

from fic_plugin import hookimpl
from fic_plugin.errors import FicError
from fic_plugin.model import SentMessage, SmsMessage


@hookimpl
def fic_send_sms(message: SmsMessage) -> SentMessage | None:
    url = os.environ.get("SMS_WEBHOOK_URL")
    if not url:
        return None
    headers = {}
    token = os.environ.get("SMS_WEBHOOK_TOKEN")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    payload = {"to": message.to, "sender": message.sender, "text": message.text,
               "order_id": message.order_id, "document_id": message.document_id}
    try:
        response = requests.post(url, json=payload, headers=headers, timeout=(5, 20))
    except requests.RequestException as error:
        # The error text names the URL, never the token (it travels in a header).
        raise FicError(f"The SMS gateway at {url} did not answer ({type(error).__name__}): the SMS to "
                       f"{message.to} may not have been sent.") from None
    if not response.ok:
        raise FicError(f"The SMS gateway refused the SMS to {message.to} (HTTP {response.status_code}).")
    try:
        gateway_id = str(response.json().get("id") or "")
    except ValueError:
        gateway_id = ""
    return SentMessage(channel="sms", to=(message.to,), provider_id=gateway_id or None, provider="webhook")
