"""Secrets audit: after every flow that handles a secret, no secret is anywhere it could leak.

The flows, on one reference-shop database against real servers on 127.0.0.1: OAuth from the
settings screen (code exchange, then a refresh when the token expires, in this process and in a
``fic sync`` subprocess), a revoked token (401) in-process and in a worker, the shop's SMTP mail
with a password (accepted, then refused), Twilio and Skebby SMS through a hostile provider that
echoes credentials back in its errors, the settings screen rendered and re-rendered after a
failed save that carried new secrets, the panel and the send screen.

The places searched: log records at DEBUG (every logger), the workers' stderr (logging at DEBUG),
exception texts and tracebacks, the audit log and every error column, rendered HTML, the
committed cassettes and a fresh recording made with the project's own scrubbing. The secrets
searched: the OAuth client secret, authorization code, access and refresh tokens (each
generation), the revoked token, the SMTP password, the Twilio auth token, the Skebby password and
session keys.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import logging
import os
import re
import secrets
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from werkzeug.test import Client

from fic_plugin.cli_shop import cli_context
from fic_plugin.documents import Documents
from fic_plugin.errors import FicError
from fic_plugin.i18n import language
from fic_plugin.model import Document
from fic_plugin.sending import Sending
from fic_plugin.settings import update_settings
from fic_plugin.web.app import make_wsgi_app
from fic_plugin.web.panel import render_panel
from fic_sandbox.server import SandboxServer

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from campaign import create_shop, free_port  # noqa: E402 - bench/ holds scripts

SHOP = "http://localhost"  # werkzeug test client host


def secret(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(12)}"


CLIENT_SECRET = secret("cs-audit")
REVOKED_TOKEN = "a/" + secret("revoked-audit")
VALID_TOKEN = "a/" + secret("valid-audit")
SMTP_PASSWORD = secret("smtp-audit")
TWILIO_SID = "AC" + secrets.token_hex(16)
TWILIO_TOKEN = secret("twilio-audit")
SKEBBY_PASSWORD = secret("skebby-audit")
SKEBBY_USER_KEY = secret("uk-audit")
SKEBBY_SESSION_KEY = secret("sess-audit")
#: Also looked for: what leaks when a secret is sent as HTTP basic auth.
BASIC_TWILIO = base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
BASIC_SKEBBY = base64.b64encode(f"bottega:{SKEBBY_PASSWORD}".encode()).decode()


class Evidence:
    """Every text a secret could have leaked into, by place; every secret seen, by name."""

    def __init__(self) -> None:
        self.places: dict[str, list[str]] = {}
        self.secrets: dict[str, str] = {
            "client secret": CLIENT_SECRET, "revoked token": REVOKED_TOKEN, "valid token": VALID_TOKEN,
            "smtp password": SMTP_PASSWORD, "twilio token": TWILIO_TOKEN, "skebby password": SKEBBY_PASSWORD,
            "skebby user key": SKEBBY_USER_KEY, "skebby session key": SKEBBY_SESSION_KEY,
            "twilio basic auth": BASIC_TWILIO, "skebby basic auth": BASIC_SKEBBY,
        }

    def add(self, place: str, text: str) -> None:
        self.places.setdefault(place, []).append(text)

    def error(self, place: str, error: BaseException) -> None:
        self.add(place, str(error))
        self.add(place, repr(error))
        self.add(place, "".join(traceback.format_exception(error)))

    def remember(self, name: str, value: str | None) -> None:
        assert value, f"the flow should have produced a {name}"
        self.secrets[name] = value

    def hits(self, place: str) -> list[str]:
        texts = self.places.get(place, [])
        return [f"{name} in {place}" for name, value in self.secrets.items() for text in texts if value in text]


class Records(logging.Handler):
    """Every log record of every logger, as a handler sees it (after the plugin's redaction)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.texts.append(self.format(record))
        if record.exc_info:
            self.texts.append(logging.Formatter().formatException(record.exc_info))


# --- a hostile SMS provider: it echoes credentials back in its error messages --------------------------


class EchoingProvider(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def _answer(self, status: int, body: str | dict) -> None:
        data = (json.dumps(body) if isinstance(body, dict) else body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if isinstance(body, dict) else "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _basic(self) -> str:
        return base64.b64decode(self.headers.get("Authorization", "Basic ").split()[-1] or b"").decode()

    def do_GET(self) -> None:  # Skebby's login
        self._answer(200, f"{SKEBBY_USER_KEY};{SKEBBY_SESSION_KEY}")

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if "/Messages.json" in self.path:  # Twilio
            self._answer(400, {"code": 21211, "message": f"Rejected for {self._basic()} ({self.headers})"})
        else:  # Skebby's send
            self._answer(400, {"result": "KO", "message": f"bad session {self.headers.get('Session_key')} "
                                                          f"for {self.headers.get('user_key')}"})


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), EchoingProvider)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[int, list]]:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    class Inbox:
        def __init__(self) -> None:
            self.messages: list[bytes] = []

        async def handle_DATA(self, server, session, envelope):
            self.messages.append(envelope.content)
            return "250 OK"

    def login(server, session, envelope, mechanism, auth_data):
        return AuthResult(success=auth_data.login == b"bottega" and auth_data.password == SMTP_PASSWORD.encode(),
                          handled=False)

    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, authenticator=login, auth_require_tls=False)
    controller.start()
    yield port, inbox.messages
    controller.stop()


# --- the flows -----------------------------------------------------------------------------------------


def new_paid_order(db: Path) -> None:
    """A paid order the worker has not seen: the next round must call FiC for it."""

    from fic_demo.parse import NewOrder
    from fic_demo.shop import DemoShop
    from fic_plugin.model import Customer, Line

    shop = DemoShop(db, seed=False)
    order = shop.create_order(NewOrder(
        customer=Customer(name="Anna Neri", first_name="Anna", last_name="Neri", tax_code="NRENNA80A41H501T",
                          email="anna.neri@example.it"),
        lines=(Line(name="Miele di acacia 500 g", qty="1", unit_price="7.00", vat_rate="10"),)))
    shop.record_payment(order.id, shop.totals(order).gross, "bank_transfer", fire=False)


def worker(db: Path, env: dict[str, str]) -> str:
    """``fic sync --once`` as a subprocess with every logger at DEBUG on stderr; its stderr."""
    code = ("import logging, sys; logging.basicConfig(level=logging.DEBUG); "
            "from fic_plugin.cli import main; sys.exit(main())")
    result = subprocess.run([sys.executable, "-c", code, "--db", str(db), "sync", "--once", "--no-progress"],
                            env=env, capture_output=True, text=True, timeout=120)
    return result.stderr


def oauth_flow(web: Client, sandbox: SandboxServer, evidence: Evidence) -> None:
    """Connect from the settings screen: /fic/oauth/start → FiC's authorize → our callback."""
    start = web.get("/fic/oauth/start")
    assert start.status_code == 302
    grant = requests.get(start.headers["Location"], allow_redirects=False, timeout=10)
    callback = urlsplit(grant.headers["Location"])
    evidence.remember("authorization code", parse_qs(callback.query)["code"][0])
    done = web.get(callback.path + "?" + callback.query)
    assert done.status_code == 303
    evidence.add("html", done.get_data(as_text=True))
    evidence.add("html", web.get("/fic/settings").get_data(as_text=True))


@pytest.fixture(scope="module")
def evidence(tmp_path_factory, provider, smtp) -> Iterator[Evidence]:
    evidence = Evidence()
    work = tmp_path_factory.mktemp("audit")
    db = work / "shop.db"
    records = Records()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(records)
    root.setLevel(logging.DEBUG)
    saved_env = {k: os.environ.get(k) for k in ("FIC_API_URL", "FIC_ACCESS_TOKEN", "FIC_COMPANY_ID", "FIC_TWILIO_URL",
                                                  "FIC_SKEBBY_URL", "FIC_LANGUAGE")}
    try:
        for name in ("FIC_API_URL", "FIC_ACCESS_TOKEN", "FIC_COMPANY_ID"):
            os.environ.pop(name, None)
        os.environ.update(FIC_TWILIO_URL=provider, FIC_SKEBBY_URL=provider + "/API/v1.0/REST", FIC_LANGUAGE="en")
        with SandboxServer(port=0, client_secret=CLIENT_SECRET) as fic, \
                SandboxServer(port=0, token=VALID_TOKEN) as guarded, language("en"):
            run_flows(evidence, db, fic, guarded, smtp)
    finally:
        root.removeHandler(records)
        root.setLevel(old_level)
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    evidence.places["logs"] = records.texts
    yield evidence


def run_flows(evidence: Evidence, db: Path, fic: SandboxServer, guarded: SandboxServer, smtp) -> None:
    create_shop(db, 3, sandbox_url=fic.url)
    context = cli_context(db)
    store = context.store
    store.set_secret("fic_access_token", None)  # connected by OAuth below, not by a manual token
    update_settings(store, {"fic_client_id": "fic-sandbox-client", "fic_client_secret": CLIENT_SECRET,
                            "fic_redirect_uri": f"{SHOP}/fic/oauth/callback", "auto_invoice": False})
    context.reset_client()
    from werkzeug.middleware.dispatcher import DispatcherMiddleware

    app = DispatcherMiddleware(lambda e, s: [], {"/fic": make_wsgi_app(context)})
    # The demo shop's owner is whoever browses from this machine.
    web = Client(lambda environ, start: app({**environ, "REMOTE_ADDR": "127.0.0.1"}, start))

    # OAuth: the code exchange, then a refresh because the access token expired.
    oauth_flow(web, fic, evidence)
    evidence.remember("first access token", store.get_secret("fic_access_token"))
    evidence.remember("first refresh token", store.get_secret("fic_refresh_token"))
    store.set_meta("fic_token_expires_at", repr(time.time() - 60))
    context.reset_client()
    invoice = Documents(context).create("1", "invoice")
    evidence.remember("second access token", store.get_secret("fic_access_token"))
    evidence.remember("second refresh token", store.get_secret("fic_refresh_token"))
    assert evidence.secrets["second refresh token"] != evidence.secrets["first refresh token"]
    Sending(context).send_now(invoice.id)

    # The worker refreshes too (its own process): expired again, it must rotate the pair.
    store.set_meta("fic_token_expires_at", repr(time.time() - 60))
    update_settings(store, {"auto_invoice": True})
    env = {**os.environ, "FIC_RATE_HOURLY": "1000000", "FIC_RATE_SHORT_TERM": "1000000"}
    evidence.add("stderr", worker(db, env))
    evidence.remember("third access token", store.get_secret("fic_access_token"))
    evidence.remember("third refresh token", store.get_secret("fic_refresh_token"))
    assert store.db.execute("SELECT COUNT(*) FROM fic_documents WHERE fic_id IS NOT NULL").fetchone()[0] == 3

    # A revoked token: in-process, and in a worker.
    revoked = {**env, "FIC_API_URL": guarded.url, "FIC_ACCESS_TOKEN": REVOKED_TOKEN, "FIC_COMPANY_ID": "1"}
    os.environ.update(FIC_API_URL=guarded.url, FIC_ACCESS_TOKEN=REVOKED_TOKEN, FIC_COMPANY_ID="1")
    context.reset_client()
    try:
        Documents(context).view_url(invoice.id)
    except FicError as error:
        evidence.error("exceptions", error)
    else:
        raise AssertionError("a revoked token must be refused")
    for name in ("FIC_API_URL", "FIC_ACCESS_TOKEN", "FIC_COMPANY_ID"):
        os.environ.pop(name)
    context.reset_client()
    new_paid_order(db)
    evidence.add("stderr", worker(db, revoked))
    assert "401" in evidence.places["stderr"][-1]

    # The shop's own mail, with a password: accepted, then refused.
    port, inbox = smtp
    update_settings(store, {"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_security": "none",
                            "smtp_username": "bottega", "smtp_from": "negozio@bottega.example",
                            "smtp_password": SMTP_PASSWORD})
    draft = store.insert_document(Document(id=None, order_id="3", type="proforma"))  # not in FiC: SMTP
    Sending(context).send_now(draft.id, emails=["cliente@example.it"])
    assert inbox, "the SMTP server received nothing"
    evidence.add("mail", "\n".join(m.decode(errors="replace") for m in inbox))
    update_settings(store, {"smtp_password": SMTP_PASSWORD + "-wrong"})
    evidence.secrets["wrong smtp password"] = SMTP_PASSWORD + "-wrong"
    try:
        Sending(context).send_now(draft.id, emails=["cliente@example.it"])
    except FicError as error:
        evidence.error("exceptions", error)

    # SMS through providers that echo credentials.
    update_settings(store, {"sms_provider": "twilio", "twilio_account_sid": TWILIO_SID,
                            "twilio_auth_token": TWILIO_TOKEN, "sms_senders": "Bottega"})
    for provider_settings in ({}, {"sms_provider": "skebby", "skebby_username": "bottega",
                                   "skebby_password": SKEBBY_PASSWORD}):
        update_settings(store, provider_settings)
        try:
            Sending(context).send_now(invoice.id, phones=["+393331234567"], emails=[])
        except FicError as error:
            evidence.error("exceptions", error)
        else:
            raise AssertionError("the provider refuses every SMS")

    # The screens: panel, send screen, settings (and settings re-drawn after a refused save).
    order = context.order("1")
    evidence.add("html", render_panel(context, order))
    evidence.add("html", web.get(f"/fic/documents/{invoice.id}/send").get_data(as_text=True))
    page = web.get("/fic/settings")
    html = page.get_data(as_text=True)
    evidence.add("html", html)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    typed = {"smtp_password": SMTP_PASSWORD + "-typed", "twilio_auth_token": TWILIO_TOKEN + "-typed",
             "fic_client_secret": CLIENT_SECRET + "-typed", "fic_access_token": VALID_TOKEN + "-typed"}
    evidence.secrets.update({f"typed {k}": v for k, v in typed.items()})
    refused = web.post("/fic/settings", data={"csrf_token": token, "numeration": "/A B", **typed},
                       headers={"Cookie": page.headers.get("Set-Cookie", "")})
    assert refused.status_code == 400
    evidence.add("html", refused.get_data(as_text=True))

    # What the shop keeps: the audit log and every error column.
    db_ = store.db
    for table, columns in (("fic_audit", "action, method, path, outcome"), ("fic_jobs", "key, args, last_error"),
                           ("fic_sends", "key, recipients, subject, error"),
                           ("fic_documents", "marker, last_error, sent_to")):
        rows = db_.execute(f"SELECT {columns} FROM {table}").fetchall()  # noqa: S608
        evidence.add("database", json.dumps(rows, default=str))
    evidence.add("database", json.dumps(db_.execute("SELECT * FROM fic_settings").fetchall()))

    # A recording of FiC calls made with the project's own cassette scrubbing.
    evidence.add("cassettes", record_cassette(fic, evidence, db.parent))


def record_cassette(fic: SandboxServer, evidence: Evidence, folder: Path) -> str:
    """Record an OAuth refresh and a manual-token call as the FiC cassettes are recorded."""
    here = REPO / "tests" / "test_fic_client"
    sys.path.insert(0, str(here))
    spec = importlib.util.spec_from_file_location("fic_cassettes_for_audit", here / "test_fic_client_cassettes.py")
    cassettes = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cassettes)
    from fic_plugin.fic.auth import OAuthApp
    from fic_plugin.fic.client import FicClient
    from fic_plugin.fic.http_pool import drop_connections

    recorder = cassettes.fic_vcr()
    recorder.cassette_library_dir = str(folder)
    recorder.record_mode = "all"
    # vcrpy records what goes through the connections opened while it records: none of the ones
    # this process's earlier calls to the sandbox left in its pool (fic_plugin.fic.http_pool).
    drop_connections()
    with recorder.use_cassette("audit.yaml"):
        app = OAuthApp(base_url=fic.url, client_id="fic-sandbox-client", client_secret=CLIENT_SECRET)
        tokens = app.refresh(evidence.secrets["third refresh token"])
        evidence.remember("recorded access token", tokens.access_token)
        evidence.remember("recorded refresh token", tokens.refresh_token)
        FicClient(fic.url, tokens.access_token, 1).vat_types()
    recording = (folder / "audit.yaml").read_text()
    assert "/info/vat_types" in recording, "the manual-token call went round the recorder"
    return recording


# --- the verdict, place by place -------------------------------------------------------------------------


@pytest.mark.parametrize("place", ["logs", "stderr", "exceptions", "html", "database", "mail", "cassettes"])
def test_no_secret_appears(evidence, place):
    assert evidence.places.get(place), f"the flows left nothing to search in {place}"
    assert evidence.hits(place) == []


def test_the_flows_did_handle_every_secret(evidence):
    """The audit means something only if the secrets went where they could leak."""
    logs = "\n".join(evidence.places["logs"])
    assert "/oauth/token" in logs and "POST" in logs  # token requests were logged (without secrets)
    stderr = "\n".join(evidence.places["stderr"])
    assert "DEBUG" in stderr and "401" in stderr  # the workers logged, and the revoked one was refused
    errors = "\n".join(evidence.places["exceptions"])
    assert "fic connect" in errors and "smtp_password" in errors and "Twilio refused" in errors
    assert "Skebby refused" in errors
    assert "Rejected for" in errors  # the provider's echo reached us, scrubbed
    assert len([k for k in evidence.secrets if "token" in k]) >= 8


def test_committed_cassettes_hold_no_secret_or_live_token():
    files = sorted((REPO / "cassettes").glob("*.yaml"))
    assert files
    patterns = [re.compile(p) for p in (
        r"Bearer\s+\S", r"Basic\s+[A-Za-z0-9+/=]{8,}", r'"(access|refresh)_token":\s*"(?!SCRUBBED)',
        r'"client_secret":\s*"(?!SCRUBBED)', r"\b[acr]/[A-Za-z0-9_-]{16,}", r"fic-sandbox-secret",
        r"test-access-token", r"[?&](password|auth_token|token)=(?!SCRUBBED)")]
    leaks = [f"{path.name}: {p.pattern}" for path in files for p in patterns if p.search(path.read_text())]
    assert leaks == []
