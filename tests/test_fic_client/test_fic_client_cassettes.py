"""The client replayed from vcrpy cassettes (``cassettes/fic_*.yaml``), and the cassettes' hygiene.

Replay-only by default: no network, FiC's answers come from the files. To re-record:

- ``FIC_RECORD=sandbox``: against a local sandbox started by the test (how the committed files
  were made);
- ``FIC_RECORD=1`` with ``FIC_API_URL``, ``FIC_ACCESS_TOKEN``, ``FIC_COMPANY_ID`` (and for OAuth
  ``FIC_CLIENT_ID``, ``FIC_CLIENT_SECRET``, ``FIC_OAUTH_CODE``, ``FIC_REDIRECT_URI``): against a
  real FiC account. Use a test company: an invoice is created (then deleted).

Whatever the source, requests and answers are scrubbed before they are written: Authorization,
cookies, tokens, client secrets, authorization codes, e-mail addresses, VAT numbers and tax codes,
and the host and company id are normalised to FiC's and 1.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
import vcr
from fic_scripted import FAST_BACKOFF, RELAXED_LIMITS

from fic_plugin.fic.auth import OAuthApp
from fic_plugin.fic.client import FicClient

CASSETTES = Path(__file__).resolve().parents[2] / "cassettes"
FIC_BASE = "https://api-v2.fattureincloud.it"
RECORD = os.environ.get("FIC_RECORD", "")
#: What the sandbox recordings used; the hygiene test greps the files for these.
RECORD_TOKEN = "a/cassette-recording-token-2b7e91d4"
SANDBOX_CLIENT_ID = "fic-sandbox-client"
SANDBOX_SECRET = "fic-sandbox-secret"
SCRUBBED = "SCRUBBED"
SCRUBBED_URL = "https://example.invalid/scrubbed"

_SECRET_KEYS = {"access_token", "refresh_token", "client_secret", "id_token"}
#: In a token request everything but these is a secret (the code, whatever its format).
_OAUTH_PUBLIC = {"grant_type", "client_id", "redirect_uri"}
_PERSONAL_KEYS = {"vat_number", "tax_code", "email", "certified_email", "recipient_email", "cc_email",
                  "to_email", "sender_email", "phone", "bank_iban", "iban"}
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_TAX_CODE = re.compile(r"\b[A-Z]{6}\d{2}[A-Z]\d{2}[A-Z]\d{3}[A-Z]\b")
_VAT = re.compile(r"\b(IT)?\d{11}\b")
_COMPANY_PATH = re.compile(r"^/c/\d+/")
_TOKEN_LIKE = re.compile(r"\b[acr]/[A-Za-z0-9_-]{16,}")


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: (SCRUBBED if k in _SECRET_KEYS and v else
                    # document links are signed, temporary and name the host: never keep them
                    SCRUBBED_URL if k.endswith("url") and isinstance(v, str) and v else
                    (_scrub_personal(v) if k in _PERSONAL_KEYS else _scrub(v))) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    if isinstance(value, str):
        text = _EMAIL.sub("redacted@example.invalid", value)
        text = _TAX_CODE.sub("RSSMRA00A01H501X", text)
        text = _VAT.sub("00000000000", text)
        return _TOKEN_LIKE.sub(SCRUBBED, text)
    return value


def _scrub_personal(value: Any) -> Any:
    if isinstance(value, dict):
        return _scrub(value)  # e.g. sender_email: {"id", "email"}
    return _scrub(value) if isinstance(value, (list, str)) else value


def _scrub_body(body: bytes | str | None) -> bytes | str | None:
    if not body:
        return body
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    try:
        cleaned = json.dumps(_scrub(json.loads(text)), ensure_ascii=False)
    except ValueError:
        cleaned = _scrub(text)
    return cleaned.encode("utf-8") if isinstance(body, bytes) else cleaned


def _before_record_request(request):
    parts = urlsplit(request.uri)
    request.uri = urlunsplit(("https", urlsplit(FIC_BASE).netloc, _COMPANY_PATH.sub("/c/1/", parts.path),
                              _scrub(parts.query), ""))
    if parts.path.endswith("/oauth/token") and request.body:
        grant = json.loads(request.body)
        request.body = json.dumps({k: v if k in _OAUTH_PUBLIC else SCRUBBED for k, v in grant.items()}).encode()
    else:
        request.body = _scrub_body(request.body)
    return request


def _before_record_response(response):
    headers = {k: v for k, v in response["headers"].items() if k.lower() not in ("set-cookie", "server", "date")}
    body = _scrub_body(response["body"].get("string"))
    response["body"]["string"] = body
    for name in list(headers):
        if name.lower() == "content-length":
            headers[name] = [str(len(body or b""))]
    response["headers"] = headers
    return response


def fic_vcr() -> vcr.VCR:
    return vcr.VCR(
        cassette_library_dir=str(CASSETTES),
        record_mode="all" if RECORD else "none",
        match_on=["method", "path", "query"],
        filter_headers=["Authorization", "Cookie", "Set-Cookie", "User-Agent"],
        before_record_request=_before_record_request,
        before_record_response=_before_record_response,
        decode_compressed_response=True,
    )


@pytest.fixture(scope="module")
def target() -> Iterator[dict[str, Any]]:
    """Where requests go: nowhere when replaying (vcrpy answers), else sandbox or real FiC."""
    if RECORD == "sandbox":
        from fic_sandbox.server import SandboxServer

        with SandboxServer(port=0) as sandbox:
            yield {"url": sandbox.url, "token": RECORD_TOKEN, "company": sandbox.company_id,
                   "client_id": SANDBOX_CLIENT_ID, "client_secret": SANDBOX_SECRET, "code": None}
        return
    if RECORD:
        yield {"url": os.environ["FIC_API_URL"], "token": os.environ["FIC_ACCESS_TOKEN"],
               "company": int(os.environ["FIC_COMPANY_ID"]), "client_id": os.environ.get("FIC_CLIENT_ID"),
               "client_secret": os.environ.get("FIC_CLIENT_SECRET"), "code": os.environ.get("FIC_OAUTH_CODE")}
        return
    yield {"url": FIC_BASE, "token": RECORD_TOKEN, "company": 1, "client_id": SANDBOX_CLIENT_ID,
           "client_secret": SANDBOX_SECRET, "code": "c/replayed-code"}


@pytest.fixture
def client(target) -> FicClient:
    return FicClient(target["url"], target["token"], target["company"], limits=RELAXED_LIMITS, backoff=FAST_BACKOFF)


INVOICE = {
    "type": "invoice",
    "entity": {"name": "Mario Rossi", "type": "person", "tax_code": "RSSMRA85M01H501Q",
               "email": "mario.rossi@example.it", "vat_number": "IT01234567890", "country_iso": "IT"},
    "items_list": [{"name": "Olio extravergine 1 L", "qty": 2, "net_price": Decimal("12.50"), "vat": {"id": 0}}],
}


def test_list_vat_types(client):
    with fic_vcr().use_cassette("fic_vat_types.yaml"):
        vat_types = client.vat_types()
    by_id = {v["id"]: v for v in vat_types}
    assert by_id[0]["value"] == 22 and by_id[3]["value"] == 10


def test_create_get_and_delete_an_invoice(client):
    with fic_vcr().use_cassette("fic_create_invoice.yaml"):
        created = client.create_document(INVOICE)
        fetched = client.get_document(created["id"])
        client.delete_document(created["id"])
    assert fetched["id"] == created["id"] and fetched["type"] == "invoice"
    assert str(fetched["amount_net"]) in ("25", "25.0", "25.00")
    if not RECORD:  # what the cassette holds was scrubbed
        assert fetched["entity"]["tax_code"] != INVOICE["entity"]["tax_code"]


def test_email_data_and_schedule(client):
    with fic_vcr().use_cassette("fic_schedule_email.yaml"):
        created = client.create_document(INVOICE)
        defaults = client.email_data(created["id"])
        client.schedule_email(created["id"], {
            "sender_id": defaults["default_sender_email"]["id"], "recipient_email": "mario.rossi@example.it",
            "subject": "Fattura", "body": "<p>Gentile cliente</p><p>{{allegati}}</p>",
            "include": {"document": True}, "attach_pdf": True})
        client.delete_document(created["id"])
    assert defaults["default_sender_email"]["id"] is not None and defaults["subject"]


def test_oauth_token_exchange_and_refresh(target):
    app = OAuthApp(base_url=target["url"], client_id=target["client_id"] or "", client_secret=target["client_secret"] or "")
    redirect_uri = os.environ.get("FIC_REDIRECT_URI", "http://127.0.0.1:8977/callback")
    code = target["code"]
    if code is None:  # recording against the sandbox: its authorize page approves at once
        answer = requests.get(app.authorize_url(redirect_uri, "cassette"), allow_redirects=False, timeout=10)
        code = dict(p.split("=", 1) for p in urlsplit(answer.headers["Location"]).query.split("&"))["code"]
        code = requests.utils.unquote(code)
    elif RECORD and not code:
        pytest.skip("set FIC_OAUTH_CODE (and FIC_CLIENT_ID/SECRET) to record OAuth against FiC")
    with fic_vcr().use_cassette("fic_oauth_token.yaml"):
        tokens = app.exchange_code(code, redirect_uri)
        refreshed = app.refresh(tokens.refresh_token)
    assert tokens.access_token and refreshed.access_token and refreshed.refresh_token
    assert refreshed.expires_at and tokens.expires_at


def test_no_cassette_holds_a_secret_or_personal_data():
    files = sorted(CASSETTES.glob("fic_*.yaml"))
    assert {f.name for f in files} >= {"fic_vat_types.yaml", "fic_create_invoice.yaml", "fic_schedule_email.yaml",
                                       "fic_oauth_token.yaml"}
    for path in files:
        text = path.read_text(encoding="utf-8")
        for secret in (RECORD_TOKEN, SANDBOX_SECRET, "Bearer", "RSSMRA85M01H501Q", "01234567890",
                       "mario.rossi@example.it", "Set-Cookie"):
            assert secret not in text, f"{path.name} holds {secret!r}"
        assert not _TOKEN_LIKE.search(text), f"{path.name} holds something like a token"
        # The recording host (the OAuth redirect URI on :8977 is public, and the same everywhere).
        assert not re.search(r"127\.0\.0\.1:(?!8977\b)\d+", text), f"{path.name} names the recording host"
        assert not _EMAIL.search(text.replace("redacted@example.invalid", "")), f"{path.name} holds an e-mail"
