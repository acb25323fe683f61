"""The built-in SMS providers (Twilio, Skebby) and the example webhook provider.

The providers are tested against vcrpy cassettes, replay-only: ``cassettes/sms_*.yaml``. The
cassettes were recorded against the small fake providers below (they imitate Twilio's and
Skebby's answers), with ``FIC_RECORD_CASSETTES=1 pytest tests/test_sms.py``. Secrets are
scrubbed before anything is written, and a test greps the cassettes for them.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import vcr

from fic_plugin import sms
from fic_plugin.errors import FicError
from fic_plugin.i18n import language
from fic_plugin.manager import get_plugin_manager
from fic_plugin.model import SentMessage, SmsMessage
from fic_plugin.plugin import CORE_NAME
from fic_plugin.settings import update_settings
from fic_plugin.sms import SkebbyProvider, SmsOutcomeUnknown, SmsRejected, TwilioProvider

ROOT = Path(__file__).resolve().parents[1]
CASSETTES = ROOT / "cassettes"
RECORD = os.environ.get("FIC_RECORD_CASSETTES") == "1"

TWILIO_SID = "AC00000000000000000000000000test1"
TWILIO_TOKEN = "twilio-token-7c1e-SECRET"
SKEBBY_USER = "bottega.rossi"
SKEBBY_PASSWORD = "skebby-pass-93ab-SECRET"
SKEBBY_USER_KEY = "USERKEY-11aa-SECRET"
SKEBBY_SESSION_KEY = "SESSION-5d2f-SECRET"
WRONG = "wrong-secret-0000-SECRET"
SECRETS = (TWILIO_TOKEN, SKEBBY_PASSWORD, SKEBBY_USER_KEY, SKEBBY_SESSION_KEY, WRONG)
#: Where the providers point when replaying: never contacted, vcrpy answers first.
REPLAY_URL = "http://127.0.0.1:9"


@pytest.fixture(autouse=True)
def english():
    """Messages are asserted in their English source; shop owners read them in Italian."""
    with language("en"):
        yield


# --- the fake providers (used only to record) ------------------------------------------------------


def _basic(header: str | None) -> tuple[str, str]:
    if not header or not header.startswith("Basic "):
        return "", ""
    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    return user, password


class FakeProviders(BaseHTTPRequestHandler):
    """Answers like Twilio (``/2010-04-01/...``) and Skebby (``/API/v1.0/REST/...``) do."""

    def log_message(self, *args):
        pass

    def _answer(self, status: int, body: str | dict, content_type: str = "application/json") -> None:
        data = (json.dumps(body) if isinstance(body, dict) else body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/API/v1.0/REST/login":
            if _basic(self.headers.get("Authorization")) != (SKEBBY_USER, SKEBBY_PASSWORD):
                return self._answer(401, "", "text/plain")
            return self._answer(200, f"{SKEBBY_USER_KEY};{SKEBBY_SESSION_KEY}", "text/plain")
        self._answer(404, {"error": "not found"})

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        match = re.fullmatch(r"/2010-04-01/Accounts/(\w+)/Messages\.json", self.path)
        if match:
            if _basic(self.headers.get("Authorization")) != (TWILIO_SID, TWILIO_TOKEN):
                return self._answer(401, {"code": 20003, "message": "Authenticate", "status": 401,
                                          "more_info": "https://www.twilio.com/docs/errors/20003"})
            form = {k: v[0] for k, v in parse_qs(body).items()}
            if not re.fullmatch(r"\+[1-9]\d{7,14}", form.get("To", "")):
                return self._answer(400, {"code": 21211, "status": 400,
                                          "message": f"The 'To' number {form.get('To')} is not a valid phone number."})
            return self._answer(201, {"sid": "SM5f3c0a9d2b7e4c1f8a6d0e9b3c2a1f07", "status": "queued",
                                      "to": form["To"], "from": form["From"], "body": form["Body"],
                                      "account_sid": TWILIO_SID, "num_segments": "1"})
        if self.path == "/API/v1.0/REST/sms":
            if (self.headers.get("user_key"), self.headers.get("Session_key")) != (SKEBBY_USER_KEY, SKEBBY_SESSION_KEY):
                return self._answer(401, "", "text/plain")
            data = json.loads(body)
            return self._answer(201, {"result": "OK", "order_id": "20261128-SKB-0001",
                                      "total_sent": len(data["recipient"]), "internal_order_id": "20261128-SKB-0001"})
        self._answer(404, {"error": "not found"})


@pytest.fixture(scope="module")
def provider_url():
    """The fake providers' base URL when recording; an address never contacted when replaying."""
    if not RECORD:
        yield REPLAY_URL
        return
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeProviders)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


# --- cassettes -----------------------------------------------------------------------------------------

_SECRET_FIELDS = re.compile(r'("?(?:password|auth_token|token|session_key|user_key)"?\s*[:=]\s*)"?[^",&}]+"?',
                            re.IGNORECASE)


def scrub_request(request):
    if request.body:
        text = request.body.decode() if isinstance(request.body, bytes) else request.body
        request.body = _SECRET_FIELDS.sub(r"\1SCRUBBED", text).encode()
    return request


def scrub_response(response):
    response["headers"] = {k: v for k, v in response["headers"].items() if k.lower() != "set-cookie"}
    text = response["body"]["string"].decode()
    if re.fullmatch(r"[^;\s]+;[^;\s]+", text.strip()):  # Skebby's login answer: user key;session key
        text = "USER_KEY;SESSION_KEY"
    body = _SECRET_FIELDS.sub(r"\1SCRUBBED", text).encode()
    response["body"]["string"] = body
    for name in response["headers"]:
        if name.lower() == "content-length":
            response["headers"][name] = [str(len(body))]
    return response


recorder = vcr.VCR(
    cassette_library_dir=str(CASSETTES),
    record_mode="all" if RECORD else "none",
    match_on=["method", "path", "query", "body"],
    filter_headers=["authorization", "user_key", "session_key", "cookie"],
    filter_query_parameters=["password", "username"],
    before_record_request=scrub_request,
    before_record_response=scrub_response,
    decode_compressed_response=True,
)


def cassette(name: str):
    """The cassette ``name``; when recording, a fresh one (vcrpy would append to the old one)."""
    if RECORD:
        (CASSETTES / name).unlink(missing_ok=True)
    return recorder.use_cassette(name)


# --- the shop ------------------------------------------------------------------------------------------


@pytest.fixture
def sms_context(context, provider_url, monkeypatch):
    monkeypatch.setenv("FIC_TWILIO_URL", provider_url)
    monkeypatch.setenv("FIC_SKEBBY_URL", f"{provider_url}/API/v1.0/REST")
    update_settings(context.store, {"sms_senders": "Bottega,+393330000001", "twilio_account_sid": TWILIO_SID,
                                    "twilio_auth_token": TWILIO_TOKEN, "skebby_username": SKEBBY_USER,
                                    "skebby_password": SKEBBY_PASSWORD})
    return context


MESSAGE = SmsMessage(to="+393331234567", sender="Bottega", text="Bottega: la Fattura n. 12/A è stata inviata.",
                     order_id="7", document_id=3)


def test_twilio_sends_through_the_hook(sms_context):
    update_settings(sms_context.store, {"sms_provider": "twilio"})
    with cassette("sms_twilio_send.yaml") as tape:
        sent = sms_context.pm.hook.fic_send_sms(message=MESSAGE)
    assert isinstance(sent, SentMessage)
    assert (sent.channel, sent.to, sent.provider) == ("sms", ("+393331234567",), "twilio")
    assert sent.provider_id == "SM5f3c0a9d2b7e4c1f8a6d0e9b3c2a1f07"
    request = tape.requests[0]
    assert request.path == f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
    assert parse_qs(request.body.decode()) == {"To": ["+393331234567"], "From": ["Bottega"],
                                               "Body": ["Bottega: la Fattura n. 12/A è stata inviata."]}
    assert RECORD or tape.play_count == 1


def test_twilio_wrong_credentials_are_reported_without_the_secret(provider_url):
    provider = TwilioProvider(TWILIO_SID, WRONG, base_url=provider_url)
    with cassette("sms_twilio_bad_credentials.yaml"), pytest.raises(SmsRejected) as error:
        provider.send(MESSAGE)
    assert "Twilio refused the credentials (HTTP 401)" in str(error.value)
    assert "twilio_auth_token" in str(error.value) and WRONG not in str(error.value)


def test_twilio_invalid_number_names_it(provider_url):
    provider = TwilioProvider(TWILIO_SID, TWILIO_TOKEN, base_url=provider_url)
    message = SmsMessage(to="+39333", sender="Bottega", text="x")
    with cassette("sms_twilio_bad_number.yaml"), pytest.raises(SmsRejected) as error:
        provider.send(message)
    assert str(error.value) == ("Twilio refused the SMS to +39333: The 'To' number +39333 is not a valid "
                                "phone number. (code 21211).")


def test_skebby_logs_in_then_sends_through_the_hook(sms_context):
    update_settings(sms_context.store, {"sms_provider": "skebby"})
    with cassette("sms_skebby_send.yaml") as tape:
        sent = sms_context.pm.hook.fic_send_sms(message=MESSAGE)
    assert (sent.provider, sent.provider_id, sent.to) == ("skebby", "20261128-SKB-0001", ("+393331234567",))
    login, send = tape.requests
    assert (login.method, login.path) == ("GET", "/API/v1.0/REST/login")
    assert json.loads(send.body) == {"message_type": "GP", "message": MESSAGE.text,
                                     "recipient": ["+393331234567"], "sender": "Bottega", "returnCredits": False}
    assert RECORD or tape.play_count == 2


def test_skebby_wrong_password_is_reported_without_the_secret(provider_url):
    provider = SkebbyProvider(SKEBBY_USER, WRONG, base_url=f"{provider_url}/API/v1.0/REST")
    with cassette("sms_skebby_bad_credentials.yaml"), pytest.raises(SmsRejected) as error:
        provider.send(MESSAGE)
    assert "Skebby refused the credentials (HTTP 401)" in str(error.value)
    assert "skebby_password" in str(error.value) and WRONG not in str(error.value)


def test_cassettes_hold_no_secret():
    files = sorted(CASSETTES.glob("sms_*.yaml"))
    assert len(files) == 6  # 5 here, sms_twilio_document.yaml in test_sending.py
    for path in files:
        text = path.read_text()
        for secret in SECRETS:
            assert secret not in text, f"{path.name} holds a secret"
        assert base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode() not in text
        assert "Authorization" not in text and "Session_key" not in text


def test_not_configured_means_not_mine(context):
    assert context.pm.hook.fic_send_sms(message=MESSAGE) is None


def test_missing_secret_is_a_clear_error(context):
    update_settings(context.store, {"sms_provider": "skebby", "skebby_username": SKEBBY_USER})
    with pytest.raises(SmsRejected, match="skebby_password secret is not set"):
        context.pm.hook.fic_send_sms(message=MESSAGE)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_provider_means_not_sent():
    provider = TwilioProvider(TWILIO_SID, TWILIO_TOKEN, base_url=f"http://127.0.0.1:{_free_port()}")
    with pytest.raises(SmsRejected, match="could not be reached, the SMS to \\+393331234567 was not sent"):
        provider.send(MESSAGE)


def test_silent_provider_means_outcome_unknown(monkeypatch):
    """The request left and no answer came: the SMS may have gone, so it must not be resent blindly."""
    monkeypatch.setattr(sms, "TIMEOUT", (2, 0.3))
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    try:
        provider = TwilioProvider(TWILIO_SID, TWILIO_TOKEN, base_url=f"http://127.0.0.1:{listener.getsockname()[1]}")
        with pytest.raises(SmsOutcomeUnknown, match="may or may not have been sent"):
            provider.send(MESSAGE)
    finally:
        listener.close()


# --- a developer's provider: hooks/sms_provider_example.py ---------------------------------------------


def _load_example():
    spec = importlib.util.spec_from_file_location("sms_provider_example", ROOT / "hooks" / "sms_provider_example.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Gateway(BaseHTTPRequestHandler):
    received: list = []

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Gateway.received.append((self.headers.get("Authorization"), json.loads(body)))
        status = 403 if json.loads(body)["to"] == "+390000000000" else 200
        data = json.dumps({"id": f"gw-{len(Gateway.received)}"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def gateway(monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Gateway)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Gateway.received = []
    monkeypatch.setenv("SMS_WEBHOOK_URL", f"http://127.0.0.1:{server.server_address[1]}/sms")
    monkeypatch.setenv("SMS_WEBHOOK_TOKEN", "gw-token-SECRET")
    yield Gateway
    server.shutdown()
    server.server_close()


def test_hook_fic_send_sms(shop, gateway):
    """A provider registered as a plugin answers before the built-in ones (configured for Twilio)."""
    pm = get_plugin_manager([shop, _load_example()], load_entrypoints=False)
    context = pm.get_plugin(CORE_NAME).context
    update_settings(context.store, {"sms_provider": "twilio", "twilio_account_sid": TWILIO_SID,
                                    "twilio_auth_token": TWILIO_TOKEN})
    sent = pm.hook.fic_send_sms(message=MESSAGE)
    assert (sent.provider, sent.provider_id) == ("webhook", "gw-1")
    assert gateway.received == [("Bearer gw-token-SECRET", {"to": "+393331234567", "sender": "Bottega",
                                                            "text": MESSAGE.text, "order_id": "7",
                                                            "document_id": 3})]


def test_example_provider_refusal_and_opt_out(gateway, monkeypatch):
    example = _load_example()
    with pytest.raises(FicError) as error:
        example.fic_send_sms(SmsMessage(to="+390000000000", sender="Bottega", text="x"))
    assert "HTTP 403" in str(error.value) and "gw-token" not in str(error.value)
    monkeypatch.delenv("SMS_WEBHOOK_URL")
    assert example.fic_send_sms(MESSAGE) is None
