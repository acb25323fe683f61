"""Sending documents end to end: FiC's email (local sandbox), the shop's SMTP (aiosmtpd), SMS
(Twilio cassette), idempotent keys, crash recovery, bad input and "send when paid"."""

from __future__ import annotations

import email
import email.policy
import smtplib
import socket
from email.message import EmailMessage as MimeMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread

import pytest
import requests
from aiosmtpd.controller import Controller

from fic_plugin import hookimpl
from fic_plugin.documents import Documents
from fic_plugin.errors import Conflict, FicError, InvalidInput
from fic_plugin.i18n import language
from fic_plugin.manager import get_plugin_manager
from fic_plugin.model import Customer, Document
from fic_plugin.plugin import CORE_NAME
from fic_plugin.send_config import MAX_BODY_BYTES, SendConfig
from fic_plugin.sending import SendFailed, Sending
from fic_plugin.settings import update_settings
from test_messages import TEST_TOKEN, make_order
from test_sms import RECORD, REPLAY_URL, TWILIO_SID, TWILIO_TOKEN, FakeProviders, cassette

VAT_MAPPING = {"22": 0, "10": 3, "4": 4, "0": 6}
PAYMENT_MAPPING = {"bank_transfer": {"payment_method_id": 1, "payment_account_id": 1}}


@pytest.fixture
def shop_database(any_backend):
    """Every test here runs on SQLite and on PostgreSQL: each email and SMS leaves once on both."""
    return any_backend


@pytest.fixture(autouse=True)
def english():
    with language("en"):
        yield


# --- a real SMTP server and a shop mailer that uses it ---------------------------------------------


class Inbox:
    def __init__(self):
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos),
                              email.message_from_bytes(envelope.content, policy=email.policy.default)))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def smtp():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield controller
    controller.stop()


class Mailer:
    """The shop's mailer: smtplib to the test's SMTP server."""

    def __init__(self, controller):
        self.controller = controller

    @hookimpl
    def shop_send_email(self, message):
        mime = MimeMessage()
        mime["From"] = "negozio@bottega.example.it"
        mime["To"] = ", ".join(message.to)
        mime["Subject"] = message.subject
        mime.set_content(message.text)
        mime.add_alternative(message.html, subtype="html")
        with smtplib.SMTP(self.controller.hostname, self.controller.port, timeout=5) as client:
            client.send_message(mime)
        return True


class Listener:
    def __init__(self):
        self.sent = []

    @hookimpl
    def fic_document_sent(self, order, document, sent):
        self.sent.append((order.id, document.id, sent.channel, sent.to))


def _connect(shop, sandbox, monkeypatch, *plugins):
    requests.post(sandbox.url + "/__sandbox__/reset", timeout=5).raise_for_status()
    requests.delete(sandbox.url + "/__sandbox__/faults", timeout=5).raise_for_status()
    for name in ("FIC_API_URL", "FIC_ACCESS_TOKEN", "FIC_COMPANY_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FIC_RATE_HOURLY", "1000000")
    monkeypatch.setenv("FIC_RATE_SHORT_TERM", "1000000")
    pm = get_plugin_manager([shop, *plugins], load_entrypoints=False)
    context = pm.get_plugin(CORE_NAME).context
    update_settings(context.store, {"fic_api_url": sandbox.url, "fic_company_id": sandbox.company_id,
                                    "fic_access_token": TEST_TOKEN, "vat_mapping": VAT_MAPPING,
                                    "payment_mapping": PAYMENT_MAPPING, "shop_name": "Bottega Rossi"})
    shop.add(make_order("7"))
    return context


@pytest.fixture
def listener():
    return Listener()


@pytest.fixture
def ctx(shop, sandbox, smtp, monkeypatch, listener):
    smtp.handler.messages.clear()
    return _connect(shop, sandbox, monkeypatch, Mailer(smtp), listener)


def fic_emails(sandbox) -> list[dict]:
    return requests.get(sandbox.url + "/__sandbox__/emails", timeout=5).json()["data"]


def sends(context) -> list[tuple]:
    return [tuple(r) for r in context.store.execute(
        "SELECT key, channel, recipients, status, error FROM fic_sends ORDER BY id").fetchall()]


def unsynced(context, order_id="7") -> Document:
    """A document the shop knows but FiC does not have yet (fic_id still empty)."""
    return context.store.insert_document(Document(id=None, order_id=order_id, type="proforma"))


# --- through FiC ---------------------------------------------------------------------------------------


def test_synced_invoice_is_emailed_through_fic_once(ctx, sandbox, smtp, listener):
    invoice = Documents(ctx).create("7", "invoice")
    result = Sending(ctx).send_now(
        invoice.id, emails=["anna@example.it", " luca@example.it"], subject="Fattura {document_number} - {shop_name}",
        body='<p onclick="x()">Ciao {customer_name}</p><script>steal()</script><p>{{allegati}}</p>')
    [sent] = fic_emails(sandbox)
    assert sent["document_id"] == invoice.fic_id
    assert sent["recipients"] == ["anna@example.it", "luca@example.it"]
    assert sent["subject"] == f"Fattura {invoice.full_number} - Bottega Rossi"
    assert sent["body"] == "<p>Ciao Mario Rossi</p><p>{{allegati}}</p>"
    assert sent["sender"] == "no-reply@fattureincloud.it" and sent["attach_pdf"] is True
    stored = ctx.store.document(invoice.id)
    assert stored.sent_to == "anna@example.it, luca@example.it" and stored.sent_channel == "fic_email"
    assert stored.sent_at is not None
    assert result["summary"] == (f"Invoice n. {invoice.full_number}: email sent through Fatture in Cloud to "
                                 "anna@example.it, luca@example.it.")
    assert result["again"] is False
    assert [s[1:4] for s in sends(ctx)] == [("fic_email", "anna@example.it,luca@example.it", "sent")]
    assert listener.sent == [("7", invoice.id, "fic_email", ("anna@example.it", "luca@example.it"))]
    assert smtp.handler.messages == []
    assert Sending(ctx).refresh_delivery_state(stored) == "sent/unknown"
    assert ctx.store.document(invoice.id).delivery_state == "sent/unknown"


def test_hook_fic_document_sent(ctx, sandbox, listener):
    """The same key twice sends once, and listeners hear of it once."""
    invoice = Documents(ctx).create("7", "invoice")
    sending = Sending(ctx)
    config = sending.config_for(invoice)
    first = sending.deliver(invoice, config, key="auto:7")
    again = sending.deliver(invoice, config, key="auto:7")
    assert len(fic_emails(sandbox)) == 1
    assert [s.to for s in first] == [s.to for s in again] == [("mario.rossi@example.it",)]
    assert listener.sent == [("7", invoice.id, "fic_email", ("mario.rossi@example.it",))]


def test_a_send_interrupted_after_fic_accepted_it_is_found_not_repeated(ctx, sandbox):
    invoice = Documents(ctx).create("7", "invoice")
    sending = Sending(ctx)
    sending.deliver(invoice, sending.config_for(invoice), key="job:1")
    # As if the worker died after FiC queued the email but before the row said so.
    ctx.store.execute("UPDATE fic_sends SET status = 'queued', sent_at = NULL")
    [sent] = sending.deliver(invoice, sending.config_for(invoice), key="job:1")
    assert sent.channel == "fic_email" and sent.provider_id == str(fic_emails(sandbox)[0]["id"])
    assert len(fic_emails(sandbox)) == 1
    assert [s[3] for s in sends(ctx)] == ["sent"]


def test_a_send_interrupted_before_fic_got_it_is_sent_once(ctx, sandbox):
    invoice = Documents(ctx).create("7", "invoice")
    ctx.store.execute(
        "INSERT INTO fic_sends (key, order_id, document_id, channel, recipients, subject, status, created_at)"
        " VALUES ('job:2:email', '7', ?, 'fic_email', 'mario.rossi@example.it', 'x', 'queued', '2026-01-01T00:00:00')",
        [invoice.id])
    sending = Sending(ctx)
    sending.deliver(invoice, sending.config_for(invoice), key="job:2")
    sending.deliver(invoice, sending.config_for(invoice), key="job:2")
    assert len(fic_emails(sandbox)) == 1


# --- through the shop's mailer -----------------------------------------------------------------------


def test_hook_shop_send_email(ctx, smtp, sandbox):
    """A document FiC does not have yet goes out by the shop's SMTP, without FiC's placeholder."""
    proforma = unsynced(ctx)
    Sending(ctx).send_now(proforma.id, subject="Ordine {order_number}",
                          body="<p>Gentile {customer_name},</p><p>{{allegati}}</p><p>totale {order_total}</p>")
    [(sender, rcpt, message)] = smtp.handler.messages
    assert rcpt == ["mario.rossi@example.it"] and message["Subject"] == "Ordine 107"
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    assert "<p>Gentile Mario Rossi,</p>" in html and "allegati" not in html
    assert "totale 45,16 €" in text and "<p>" not in text
    assert fic_emails(sandbox) == []
    stored = ctx.store.document(proforma.id)
    assert (stored.sent_channel, stored.sent_to) == ("smtp", "mario.rossi@example.it")


def test_without_a_mailer_nothing_is_marked_sent(shop, sandbox, monkeypatch):
    context = _connect(shop, sandbox, monkeypatch)
    proforma = unsynced(context)
    with pytest.raises(SendFailed, match="the shop has no mailer"):
        Sending(context).send_now(proforma.id, key="k")
    assert [s[3] for s in sends(context)] == ["failed"]
    assert "the shop has no mailer" in sends(context)[0][4]
    assert context.store.document(proforma.id).sent_at is None


def test_an_smtp_send_cut_short_is_marked_unknown_and_never_repeated(ctx, smtp):
    proforma = unsynced(ctx)
    ctx.store.execute(
        "INSERT INTO fic_sends (key, order_id, document_id, channel, recipients, subject, status, created_at)"
        " VALUES ('job:3:email', '7', ?, 'smtp', 'mario.rossi@example.it', 'x', 'queued', '2026-01-01T00:00:00')",
        [proforma.id])
    sending = Sending(ctx)
    with pytest.raises(SendFailed, match="may or may not have left"):
        sending.deliver(proforma, sending.config_for(proforma), key="job:3")
    assert sending.deliver(proforma, sending.config_for(proforma), key="job:3") == []
    assert smtp.handler.messages == []
    assert [s[3] for s in sends(ctx)] == ["unknown"]


# --- SMS -----------------------------------------------------------------------------------------------


@pytest.fixture
def twilio(monkeypatch):
    if not RECORD:
        yield REPLAY_URL
        return
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeProviders)
    Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_sms_failure_is_kept_then_retried_through_the_provider(ctx, sandbox, twilio, monkeypatch):
    invoice = Documents(ctx).create("7", "invoice")
    update_settings(ctx.store, {"sms_senders": "Bottega", "sms_text": "{shop_name}: ordine {order_number} fatturato"})
    sending = Sending(ctx)
    with pytest.raises(SendFailed) as error:
        sending.send_now(invoice.id, phones=["+39 333 123 4567"], key="manual:1")
    assert "No SMS provider is configured" in str(error.value)
    assert "Settings > SMS > SMS provider" in str(error.value) and "sms_provider" not in str(error.value)
    # Each channel's outcome: the email did leave, the SMS did not.
    assert str(error.value).startswith("Invoice n. 1: email sent through Fatture in Cloud to mario.rossi@example.it; "
                                       "SMS to +393331234567 not sent: No SMS provider")
    assert [s[1:4] for s in sends(ctx)] == [("fic_email", "mario.rossi@example.it", "sent"),
                                            ("sms", "+393331234567", "failed")]
    monkeypatch.setenv("FIC_TWILIO_URL", twilio)
    update_settings(ctx.store, {"sms_provider": "twilio", "twilio_account_sid": TWILIO_SID,
                                "twilio_auth_token": TWILIO_TOKEN})
    with cassette("sms_twilio_document.yaml") as tape:
        result = sending.send_now(invoice.id, phones=["+393331234567"], key="manual:1")
    assert [s["channel"] for s in result["sent"]] == ["fic_email", "sms"]
    assert tape.requests[0].body == b"To=%2B393331234567&From=Bottega&Body=Bottega+Rossi%3A+ordine+107+fatturato"
    assert len(fic_emails(sandbox)) == 1  # the retry did not email again
    assert [s[3] for s in sends(ctx)] == ["sent", "sent"]


# --- refused before anything leaves ------------------------------------------------------------------


@pytest.mark.parametrize(("options", "field", "text"), [
    ({"emails": ["mario@@example"]}, "emails", "'mario@@example' is not valid"),
    ({"phones": ["333"]}, "phones", "'333' is not valid"),
    ({"body": "<p>" + "x" * MAX_BODY_BYTES + "</p>"}, "body", "Fatture in Cloud accepts at most 50 KiB"),
    ({"phones": ["+393331234567"], "sms_sender": "Nessuno"}, "sms_sender", "\"Nessuno\" is not configured"),
    ({"subject": "Ciao {custmer_name}"}, "subject", "Unknown shortcode {custmer_name}"),
    ({"body": "{{ ''.__class__.__mro__ }}"}, "body", "Template syntax {{ is not allowed"),
    ({"sms_text": "{% for x in y %}", "phones": ["+393331234567"]}, "sms_text", "Template syntax {% is not allowed"),
])
def test_bad_input_is_refused_before_sending(ctx, sandbox, smtp, options, field, text):
    update_settings(ctx.store, {"sms_senders": "Bottega"})
    invoice = Documents(ctx).create("7", "invoice")
    with pytest.raises(InvalidInput) as error:
        Sending(ctx).send_now(invoice.id, **options)
    assert error.value.field == field and text in str(error.value)
    assert sends(ctx) == [] and fic_emails(sandbox) == [] and smtp.handler.messages == []
    assert ctx.store.document(invoice.id).sent_at is None


def test_no_recipient_at_all(ctx, shop, sandbox):
    shop.add(make_order("8", customer=Customer(
        name="Senza Email Srl", type="company", vat_number="01234567897", sdi_code="M5UXCR1",
        address_street="Via Torino 12", address_postal_code="20123", address_city="Milano", address_province="MI")))
    invoice = Documents(ctx).create("8", "invoice")
    with pytest.raises(InvalidInput, match="No recipient"):
        Sending(ctx).send_now(invoice.id)
    assert fic_emails(sandbox) == []


def test_no_sms_sender_configured(ctx):
    invoice = Documents(ctx).create("7", "invoice")
    with pytest.raises(InvalidInput, match="No SMS sender is configured"):
        Sending(ctx).send_now(invoice.id, phones=["+393331234567"])


# --- send when paid ------------------------------------------------------------------------------------


def test_schedule_on_paid_is_used_once_for_the_invoice(ctx, sandbox):
    sending = Sending(ctx)
    scheduled = sending.schedule_on_paid("7", emails=["amministrazione@example.it"], subject="Pagato: {order_number}")
    assert scheduled["document_type"] == "invoice"
    assert scheduled["summary"] == "When order 107 is paid, its invoice will be sent to amministrazione@example.it."
    invoice = Documents(ctx).create("7", "invoice")  # what the lead's job does when the order is paid
    config = sending.config_for(invoice)
    assert config.id == scheduled["config_id"] and config.emails == ("amministrazione@example.it",)
    sending.deliver(invoice, config, key="auto:7")
    [sent] = fic_emails(sandbox)
    assert sent["subject"] == "Pagato: 107" and sent["recipients"] == ["amministrazione@example.it"]
    # used: the next send of this document falls back to the template and the customer
    assert sending.config_for(invoice).id is None
    assert sending.config_for(invoice).emails == ("mario.rossi@example.it",)


def test_schedule_refuses_what_cannot_happen(ctx, shop):
    shop.add(make_order("9", paid=True))
    with pytest.raises(Conflict, match="already paid"):
        Sending(ctx).schedule_on_paid("9")
    with pytest.raises(InvalidInput, match="not valid"):
        Sending(ctx).schedule_on_paid("7", emails=["nobody"])
    assert ctx.store.execute("SELECT COUNT(*) FROM fic_send_configs").fetchone()[0] == 0


def test_config_round_trip_keeps_only_safe_html():
    config = SendConfig(emails=("a@b.it",), body='<p style="x">ok</p><img src=x onerror=alert(1)>')
    assert config.body == "<p>ok</p>"
    assert SendConfig.from_dict(config.to_dict()) == config


def test_errors_never_leave_a_row_marked_sent(ctx):
    with pytest.raises(FicError):
        Sending(ctx).send_now(999)


# --- FiC's answer lost: OutcomeUnknown ----------------------------------------------------------------


class LossyProxy(BaseHTTPRequestHandler):
    """Forwards to the sandbox; the email POST either reaches FiC and its answer is lost (``commit``)
    or never reaches it (``drop``), and the plugin gets a 502 either way."""

    target = ""
    mode = "commit"

    def log_message(self, *args):
        pass

    def _forward(self, method):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) or None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
        lossy = method == "POST" and self.path.split("?")[0].endswith("/email")
        if lossy and LossyProxy.mode == "drop":
            answer = None
        else:
            answer = requests.request(method, LossyProxy.target + self.path, data=body, headers=headers, timeout=10)
        status, content = (502, b"Bad Gateway") if lossy else (answer.status_code, answer.content)
        self.send_response(status)
        self.send_header("Content-Type", "text/plain" if lossy else answer.headers.get("Content-Type", "text/plain"))
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    def do_GET(self):
        self._forward("GET")

    def do_POST(self):
        self._forward("POST")


@pytest.fixture
def lossy(ctx, sandbox):
    server = ThreadingHTTPServer(("127.0.0.1", 0), LossyProxy)
    Thread(target=server.serve_forever, daemon=True).start()
    LossyProxy.target = sandbox.url
    yield server
    server.shutdown()
    server.server_close()


def _through(ctx, proxy):
    # The token goes with the URL: moving the URL alone forgets it (issue 13).
    update_settings(ctx.store, {"fic_api_url": f"http://127.0.0.1:{proxy.server_address[1]}",
                                "fic_access_token": ctx.store.get_secret("fic_access_token")})
    ctx.reset_client()


def _direct(ctx, sandbox):
    update_settings(ctx.store, {"fic_api_url": sandbox.url,
                                "fic_access_token": ctx.store.get_secret("fic_access_token")})
    ctx.reset_client()


def test_email_whose_answer_was_lost_is_found_in_fics_log(ctx, sandbox, lossy, listener):
    invoice = Documents(ctx).create("7", "invoice")
    LossyProxy.mode = "commit"
    _through(ctx, lossy)
    [sent] = Sending(ctx).send_now(invoice.id, key="k1")["sent"]
    assert sent["channel"] == "fic_email" and sent["provider_id"] == str(fic_emails(sandbox)[0]["id"])
    assert len(fic_emails(sandbox)) == 1 and [s[3] for s in sends(ctx)] == ["sent"]
    assert ctx.store.document(invoice.id).sent_channel == "fic_email"


def test_email_that_never_reached_fic_stays_queued_then_goes_once(ctx, sandbox, lossy):
    from fic_plugin.fic.errors import OutcomeUnknown

    invoice = Documents(ctx).create("7", "invoice")
    LossyProxy.mode = "drop"
    _through(ctx, lossy)
    sending = Sending(ctx)
    with pytest.raises(OutcomeUnknown):  # transient: the job that called deliver retries
        sending.deliver(invoice, sending.config_for(invoice), key="job:9")
    assert fic_emails(sandbox) == [] and [s[3] for s in sends(ctx)] == ["queued"]
    assert ctx.store.document(invoice.id).sent_at is None
    _direct(ctx, sandbox)
    sending.deliver(invoice, sending.config_for(invoice), key="job:9")
    sending.deliver(invoice, sending.config_for(invoice), key="job:9")
    assert len(fic_emails(sandbox)) == 1 and [s[3] for s in sends(ctx)] == ["sent"]
