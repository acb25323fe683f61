"""Built-in SMS providers (Twilio, Skebby) behind the ``fic_send_sms`` hook.

The module is registered as the built-in plugin ``fic-sms``; on ``shop_ready`` it binds an
:class:`SmsPlugin` to the manager, because choosing a provider needs the shop's settings and
secrets (``sms_provider``, ``twilio_account_sid`` + secret ``twilio_auth_token``,
``skebby_username`` + secret ``skebby_password``). Its ``fic_send_sms`` is ``trylast``: any
provider a developer registers answers first.

Base URLs can point elsewhere (a local fake, a proxy) with ``FIC_TWILIO_URL`` and
``FIC_SKEBBY_URL``. Errors never carry a credential: provider texts are scrubbed of them.
"""

from __future__ import annotations

import base64
import logging
import os
import uuid
from typing import TYPE_CHECKING, Any, Protocol

import requests
import urllib3.exceptions

from .errors import FicError
from .hookspecs import hookimpl
from .i18n import _
from .model import SentMessage, SmsMessage

if TYPE_CHECKING:
    import pluggy

    from .settings import Settings
    from .store import Store

log = logging.getLogger(__name__)

TWILIO_URL = "https://api.twilio.com"
SKEBBY_URL = "https://api.skebby.it/API/v1.0/REST"
PLUGIN_NAME = "fic-sms-providers"
TIMEOUT = (5, 20)  # (connect, read) seconds


class SmsRejected(FicError):
    """The provider answered and refused: wrong credentials, bad number, no credit. Not sent."""

    code = "sms_rejected"


class SmsOutcomeUnknown(FicError):
    """The request may have reached the provider but no answer came: the SMS may have left.

    Callers must not send again blindly (that could text the customer twice).
    """

    code = "sms_outcome_unknown"


class SmsProvider(Protocol):
    name: str

    def send(self, message: SmsMessage) -> SentMessage: ...


def _scrub(text: str, *secrets: str | None) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _basic_auth(user: str, password: str) -> str:
    """The credentials as an ``Authorization: Basic`` header carries them (a provider may echo it)."""
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def _never_reached(error: requests.RequestException) -> bool:
    """True when the request surely did not reach the provider (no connection was made)."""
    if isinstance(error, requests.ConnectTimeout):
        return True
    if isinstance(error, requests.ConnectionError):
        reason = getattr(error.args[0], "reason", None) if error.args else None
        return isinstance(reason, urllib3.exceptions.NewConnectionError)
    return False


def _post_failed(provider: str, error: requests.RequestException, to: str) -> FicError:
    if _never_reached(error):
        return SmsRejected(_("{provider} could not be reached, the SMS to {to} was not sent: check the "
                             "connection and try again.").format(provider=provider, to=to))
    return SmsOutcomeUnknown(_("{provider} did not answer: the SMS to {to} may or may not have been sent. "
                               "Check the {provider} console before sending it again.").format(
        provider=provider, to=to))


class TwilioProvider:
    """Twilio's Messages API: one POST per SMS, HTTP basic auth with the Account SID and token."""

    name = "twilio"

    def __init__(self, account_sid: str, auth_token: str, *, base_url: str | None = None,
                 session: requests.Session | None = None):
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.base_url = (base_url or os.environ.get("FIC_TWILIO_URL") or TWILIO_URL).rstrip("/")
        self.session = session or requests.Session()

    def send(self, message: SmsMessage) -> SentMessage:
        url = f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        form = {"To": message.to, "From": message.sender, "Body": message.text}
        try:
            response = self.session.post(url, data=form, auth=(self.account_sid, self.auth_token),
                                         timeout=TIMEOUT)
        except requests.RequestException as error:
            raise _post_failed("Twilio", error, message.to) from None
        answer = _json(response)
        if response.status_code in (401, 403):
            raise SmsRejected(_("Twilio refused the credentials (HTTP {status}): check twilio_account_sid "
                                "and the twilio_auth_token secret in the SMS settings.").format(
                status=response.status_code))
        if response.status_code >= 500:
            raise SmsOutcomeUnknown(_("Twilio failed (HTTP {status}): the SMS to {to} may or may not have "
                                      "been sent. Check the Twilio console before sending it again.").format(
                status=response.status_code, to=message.to))
        if response.status_code >= 400 or not answer.get("sid"):
            reason = _scrub(str(answer.get("message") or response.reason or ""), self.auth_token,
                            _basic_auth(self.account_sid, self.auth_token))
            raise SmsRejected(_("Twilio refused the SMS to {to}: {reason} (code {code}).").format(
                to=message.to, reason=reason, code=answer.get("code", response.status_code)))
        return SentMessage(channel="sms", to=(message.to,), provider_id=str(answer["sid"]), provider=self.name)


class SkebbyProvider:
    """Skebby's REST API: log in (basic auth) for a user key and session key, then POST the SMS."""

    name = "skebby"

    def __init__(self, username: str, password: str, *, base_url: str | None = None,
                 session: requests.Session | None = None, message_type: str = "GP"):
        self.username = username
        self.password = password
        self.base_url = (base_url or os.environ.get("FIC_SKEBBY_URL") or SKEBBY_URL).rstrip("/")
        self.session = session or requests.Session()
        self.message_type = message_type  # GP: "Classic+" quality, the one that allows a sender

    def _login(self, to: str) -> tuple[str, str]:
        try:
            # Basic auth rather than ?username=&password=: keeps the password out of URLs and logs.
            response = self.session.get(f"{self.base_url}/login", auth=(self.username, self.password),
                                        timeout=TIMEOUT)
        except requests.RequestException:
            raise SmsRejected(_("Skebby could not be reached, the SMS to {to} was not sent: check the "
                                "connection and try again.").format(to=to)) from None
        if response.status_code in (401, 403, 404):
            raise SmsRejected(_("Skebby refused the credentials (HTTP {status}): check skebby_username and "
                                "the skebby_password secret in the SMS settings.").format(
                status=response.status_code))
        keys = response.text.strip().split(";")
        if response.status_code != 200 or len(keys) < 2 or not all(keys[:2]):
            raise SmsRejected(_("Skebby's login answered HTTP {status} without keys: the SMS to {to} was "
                                "not sent; try again later.").format(status=response.status_code, to=to))
        return keys[0], keys[1]

    def send(self, message: SmsMessage) -> SentMessage:
        user_key, session_key = self._login(message.to)
        body = {"message_type": self.message_type, "message": message.text, "recipient": [message.to],
                "sender": message.sender, "returnCredits": False}
        headers = {"user_key": user_key, "Session_key": session_key}
        try:
            response = self.session.post(f"{self.base_url}/sms", json=body, headers=headers, timeout=TIMEOUT)
        except requests.RequestException as error:
            raise _post_failed("Skebby", error, message.to) from None
        answer = _json(response)
        if response.status_code >= 500:
            raise SmsOutcomeUnknown(_("Skebby failed (HTTP {status}): the SMS to {to} may or may not have "
                                      "been sent. Check Skebby's history before sending it again.").format(
                status=response.status_code, to=message.to))
        if response.status_code >= 400 or answer.get("result") != "OK":
            reason = _scrub(str(answer.get("message") or answer.get("result") or response.text[:200]),
                            self.password, session_key, user_key)
            raise SmsRejected(_("Skebby refused the SMS to {to} (HTTP {status}): {reason}").format(
                to=message.to, status=response.status_code, reason=reason))
        return SentMessage(channel="sms", to=(message.to,), provider_id=str(answer.get("order_id") or ""),
                           provider=self.name)


class TestProvider:
    """Sends nothing: writes the SMS in the log, so SMS can be tried end to end without an account
    (the demo shop also shows them in its FiC sandbox, ``GET /__sandbox__/sms``)."""

    name = "test"

    def send(self, message: SmsMessage) -> SentMessage:
        log.info("SMS (test provider, not sent) from %s to %s: %s", message.sender, message.to, message.text)
        return SentMessage(channel="sms", to=(message.to,), provider_id=f"test-{uuid.uuid4().hex[:12]}",
                           provider=self.name)


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def provider_from_settings(settings: Settings, store: Store) -> SmsProvider | None:
    """The provider chosen in the settings, or ``None`` when SMS is not configured.

    A chosen provider with missing credentials is an error the owner can fix, not a silent skip.
    """
    if settings.sms_provider == "twilio":
        token = store.get_secret("twilio_auth_token")
        if not settings.twilio_account_sid or not token:
            raise SmsRejected(_("Twilio is the SMS provider but twilio_account_sid or the twilio_auth_token "
                                "secret is not set: complete the SMS settings."), field="twilio_account_sid")
        return TwilioProvider(settings.twilio_account_sid, token)
    if settings.sms_provider == "test":
        return TestProvider()
    if settings.sms_provider == "skebby":
        password = store.get_secret("skebby_password")
        if not settings.skebby_username or not password:
            raise SmsRejected(_("Skebby is the SMS provider but skebby_username or the skebby_password "
                                "secret is not set: complete the SMS settings."), field="skebby_username")
        return SkebbyProvider(settings.skebby_username, password)
    return None


class SmsPlugin:
    """The built-in providers bound to one shop (its settings and secrets, read at each send)."""

    def __init__(self, pm: pluggy.PluginManager):
        self.pm = pm

    @hookimpl(trylast=True)
    def fic_send_sms(self, message: SmsMessage) -> SentMessage | None:
        context = self.pm.get_plugin("fic-core").context
        provider = provider_from_settings(context.settings, context.store)
        return None if provider is None else provider.send(message)


@hookimpl
def shop_ready(pm: pluggy.PluginManager) -> None:
    if pm.get_plugin(PLUGIN_NAME) is None:
        pm.register(SmsPlugin(pm), name=PLUGIN_NAME)
