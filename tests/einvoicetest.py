"""Helpers for the sandbox's e-invoice tests: raw FiC calls, realistic e-invoices of each kind of
customer, the official schema from ``../shared/fatturapa`` and a webhook receiver on a real port."""

from __future__ import annotations

import os
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from fic_sandbox import jsonio

IBAN = "IT60X0542811101000000123456"


def fatturapa_dir() -> Path:
    """``../shared/fatturapa`` beside the checkout (or ``FATTURAPA_DIR``), as the other tests find shared/."""
    configured = os.environ.get("FATTURAPA_DIR")
    return Path(configured) if configured else Path(__file__).resolve().parents[1] / ".." / "shared" / "fatturapa"


def official_schema():
    """The official FatturaPA 1.2.2 schema, loaded offline; skips (one line) when shared/ is absent."""
    xsd = fatturapa_dir() / "Schema_del_file_xml_FatturaPA_v1.2.2.xsd"
    if not xsd.exists():
        pytest.skip(f"the FatturaPA schema is not on this machine ({xsd})")
    xmlschema = pytest.importorskip("xmlschema")
    return xmlschema.XMLSchema(str(xsd))


class Fic:
    """Raw HTTP against the sandbox's FiC paths and its side channel."""

    def __init__(self, sandbox):
        self.base = f"{sandbox.url}/c/{sandbox.company_id}"
        self.root = sandbox.url

    def __call__(self, method, path, **kwargs):
        headers = {"Authorization": "Bearer test-token", **kwargs.pop("headers", {})}
        if "json" in kwargs:  # Decimals go out as JSON numbers, never through float
            kwargs["data"] = jsonio.dumps(kwargs.pop("json"))
            headers["Content-Type"] = "application/json"
        return requests.request(method, self.base + path, headers=headers, timeout=15, **kwargs)

    def create(self, data):
        answer = self("POST", "/issued_documents", json={"data": data})
        assert answer.status_code == 200, answer.text
        return answer.json(parse_float=Decimal)["data"]

    def doc(self, document_id):
        return self("GET", f"/issued_documents/{document_id}").json(parse_float=Decimal)["data"]

    def verify(self, document_id):
        return self("GET", f"/issued_documents/{document_id}/e_invoice/xml_verify")

    def send(self, document_id, **options):
        return self("POST", f"/issued_documents/{document_id}/e_invoice/send", json={"data": {}, "options": options})

    def xml(self, document_id):
        return self("GET", f"/issued_documents/{document_id}/e_invoice/xml")

    def side(self, method, path, **kwargs):
        answer = requests.request(method, f"{self.root}/__sandbox__{path}", timeout=15, **kwargs)
        assert answer.status_code == 200, answer.text
        return answer.json()


def italian_company(**overrides):
    entity = {"name": "Rossi Forniture S.r.l.", "type": "company", "vat_number": "01234560017",
              "tax_code": "01234560017", "ei_code": "M5UXCR1", "certified_email": "rossi@pec.example.it",
              "address_street": "Via Torino 12", "address_postal_code": "20123", "address_city": "Milano",
              "address_province": "MI", "country": "Italia", "country_iso": "IT"}
    return {**entity, **overrides}


def private_person(**overrides):
    entity = {"name": "Laura Bianchi", "type": "person", "first_name": "Laura", "last_name": "Bianchi",
              "tax_code": "BNCLRA90D45F205B", "ei_code": "0000000", "address_street": "Corso Buenos Aires 5",
              "address_postal_code": "20124", "address_city": "Milano", "address_province": "MI",
              "country": "Italia", "country_iso": "IT"}
    return {**entity, **overrides}


def foreign_company(**overrides):
    entity = {"name": "Feinkost Muller GmbH", "type": "company", "vat_number": "DE123456788", "ei_code": "XXXXXXX",
              "address_street": "Friedrichstrasse 100", "address_postal_code": "00000", "address_city": "Berlin",
              "country": "Germania", "country_iso": "DE"}
    return {**entity, **overrides}


def public_administration(**overrides):
    entity = {"name": "Comune di Busseto", "type": "pa", "vat_number": "00170360341", "tax_code": "00170360341",
              "ei_code": "UFABCD", "address_street": "Piazza Verdi 10", "address_postal_code": "43011",
              "address_city": "Busseto", "address_province": "PR", "country": "Italia", "country_iso": "IT"}
    return {**entity, **overrides}


def e_invoice(entity=None, *, items=None, ei_data=None, **overrides):
    """An e-invoice like the demo shop's: goods at 22% and 10%, bank transfer with IBAN."""
    data = {"type": "invoice", "e_invoice": True, "entity": entity or italian_company(),
            "ei_data": {"payment_method": "MP05", "bank_iban": IBAN, "bank_name": "Banca Demo",
                        "bank_beneficiary": "Negozio Demo S.r.l.", **(ei_data or {})},
            "items_list": items or [
                {"name": "Olio extravergine di oliva 1 L", "code": "OLIO-1", "net_price": Decimal("8.90"), "qty": 12,
                 "vat": {"id": 0}},
                {"name": "Vino Chianti Classico DOCG", "net_price": Decimal("14.50"), "qty": 6, "discount": 10,
                 "vat": {"id": 0}},
                {"name": "Pasta di Gragnano 500 g", "net_price": Decimal("1.80"), "qty": 10, "vat": {"id": 3}},
            ]}
    data.update(overrides)
    return data


def wait_for(condition, what: str, timeout: float = 20.0):
    """Poll until ``condition()`` is truthy (not a timing assertion: a generous ceiling)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"gave up waiting for {what}")


class Receiver:
    """A webhook target on a real port: answers FiC's verification challenge and records events."""

    def __init__(self, status: int = 200, answer_challenge: bool = True):
        self.status = status
        self.answer_challenge = answer_challenge
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.socket.getsockname()[1]}/fic/webhooks"

    def _app(self, environ, start_response):
        request = Request(environ)
        record = {"method": request.method, "headers": dict(request.headers), "args": request.args.to_dict(),
                  "body": request.get_data(as_text=True)}
        with self._lock:
            self.requests.append(record)
        if request.method == "GET":
            challenge = request.headers.get("x-fic-verification-challenge") or request.args.get(
                "x-fic-verification-challenge")
            body = jsonio.dumps({"verification": challenge if self.answer_challenge else "no"})
            return Response(body, content_type="application/json")(environ, start_response)
        return Response("", status=self.status)(environ, start_response)

    def events(self, event_type: str | None = None) -> list[dict]:
        with self._lock:
            posts = [r for r in self.requests if r["method"] == "POST"]
        return [r for r in posts if event_type is None or r["headers"].get("Ce-Type") == event_type]

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._server.shutdown()
        self._server.server_close()
