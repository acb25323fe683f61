"""Contract: every body the client sends is one FiC accepts, judged by FiC's own SDK models and,
when the spec is on this machine, by the OpenAPI spec itself (openapi-core).

Bodies are captured as they leave (a recording requests.Session, real HTTP to the sandbox), so
what is checked is the exact JSON text FiC would receive, Decimal amounts included.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
import requests
from fic_scripted import FAST_BACKOFF, RELAXED_LIMITS, TOKEN, openapi_dir

from fic_plugin.fic.client import FicClient
from fic_plugin.fic.errors import ValidationFailed
from fic_plugin.model import Customer, Line, Order
from fic_plugin.payload import build_document
from fic_plugin.settings import Settings
from fic_sandbox.server import SandboxServer

sdk = pytest.importorskip("fattureincloud_python_sdk")

FIC_BASE = "https://api-v2.fattureincloud.it"

#: Which SDK request model describes the body of each operation.
MODELS = {
    ("POST", "/c/1/issued_documents"): "CreateIssuedDocumentRequest",
    ("PUT", "/c/1/issued_documents/{id}"): "ModifyIssuedDocumentRequest",
    ("POST", "/c/1/issued_documents/{id}/email"): "ScheduleEmailRequest",
    ("POST", "/c/1/issued_documents/totals"): "GetNewIssuedDocumentTotalsRequest",
    ("POST", "/c/1/issued_documents/{id}/totals"): "GetExistingIssuedDocumentTotalsRequest",
    ("POST", "/c/1/issued_documents/{id}/e_invoice/send"): "SendEInvoiceRequest",
}


class RecordingSession(requests.Session):
    """Keeps every prepared request it sends (still sends it for real)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[requests.PreparedRequest] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        self.sent.append(request)
        return super().send(request, **kwargs)


@pytest.fixture(scope="module")
def openapi():
    folder = openapi_dir()
    if folder is None or not (folder / "openapi-enriched.yaml").exists():
        return None
    yaml = pytest.importorskip("yaml")
    openapi_core = pytest.importorskip("openapi_core")
    with (folder / "openapi-enriched.yaml").open(encoding="utf-8") as handle:
        spec = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    # The published spec has a few invalid defaults; validate our requests, not the spec.
    return openapi_core.OpenAPI.from_dict(spec, config=openapi_core.Config(spec_validator_cls=None))


@pytest.fixture(scope="module")
def sent() -> Iterator[list[requests.PreparedRequest]]:
    """Drive every writing operation once against a sandbox; return what left the client."""
    session = RecordingSession()
    with SandboxServer(port=0) as sandbox:
        client = FicClient(sandbox.url, TOKEN, 1, limits=RELAXED_LIMITS, backoff=FAST_BACKOFF, session=session)
        settings = Settings(vat_mapping={"22": 0, "10": 3}, numeration="/A", rivalsa_inps=True,
                            payment_mapping={"bank_transfer": {"payment_method_id": 1, "payment_account_id": 1,
                                                              "ei_payment_method": "MP05"}})
        document = build_document(_order(), "invoice", settings, today=date(2026, 11, 20),
                                  payment_methods={1: "Bonifico bancario"})
        totals = client.new_document_totals(document)
        created = client.create_document(document, {"fix_payments": True})
        client.document_totals(created["id"], {"items_list": document["items_list"]})
        client.modify_document(created["id"], {"payments_list": [
            {"amount": totals["amount_due"], "due_date": "2026-11-20", "status": "paid",
             "paid_date": "2026-11-20", "payment_account": {"id": 1}}]})
        defaults = client.email_data(created["id"])
        client.schedule_email(created["id"], {
            "sender_id": defaults["default_sender_email"]["id"], "recipient_email": "cliente@example.it",
            "subject": "Fattura n. 1/A", "body": "<p>Gentile cliente,</p><p>{{allegati}}</p>",
            "include": {"document": True, "delivery_note": False, "attachment": False,
                        "accompanying_invoice": False}, "attach_pdf": True, "send_copy": False})
        # Not an e-invoice, so FiC answers 422; only the body that left matters here.
        with contextlib.suppress(ValidationFailed):
            client.send_e_invoice(created["id"], {}, dry_run=True)
    return [r for r in session.sent if r.body]


def _order() -> Order:
    customer = Customer(name="Mario Rossi", type="person", first_name="Mario", last_name="Rossi",
                        tax_code="RSSMRA85M01H501Q", email="mario.rossi@example.it", address_street="Via Roma 1",
                        address_postal_code="00100", address_city="Roma", address_province="RM", country_iso="IT")
    lines = (Line(name="Olio extravergine 1 L", qty="2", unit_price="12.50", vat_rate="22"),
             Line(name="Pasta di Gragnano 500 g", qty="3", unit_price="2.10", vat_rate="10", discount="10"))
    return Order(id="7", number="107", customer=customer, lines=lines)


def _operation(request: requests.PreparedRequest) -> tuple[str, str]:
    path = requests.utils.urlparse(request.url).path
    parts = ["{id}" if part.isdigit() and i > 2 else part for i, part in enumerate(path.split("/"))]
    return request.method, "/".join(parts)


def _keys(value: Any, prefix: str = "") -> set[str]:
    if isinstance(value, dict):
        return {k for key, item in value.items() for k in {f"{prefix}{key}", *_keys(item, f"{prefix}{key}.")}}
    if isinstance(value, list):
        return {k for item in value for k in _keys(item, f"{prefix}[].")}
    return set()


def test_every_writing_operation_was_exercised(sent):
    assert {_operation(r) for r in sent} == set(MODELS)


def test_bodies_parse_with_the_sdk_models_and_lose_no_field(sent):
    for request in sent:
        body = json.loads(request.body)
        model = getattr(sdk, MODELS[_operation(request)])
        parsed = model.from_dict(body)  # pydantic: raises on a wrong type or enum value
        # The SDK silently drops unknown keys; a key it dropped is one FiC does not know either.
        round_trip = sdk.ApiClient().sanitize_for_serialization(parsed)  # to_json chokes on dates
        missing = _keys(body) - _keys(round_trip)
        assert not missing, f"{request.method} {request.url}: FiC's models have no {sorted(missing)}"


def test_amounts_leave_as_exact_json_numbers(sent):
    create = next(r for r in sent if _operation(r) == ("POST", "/c/1/issued_documents"))
    body = json.loads(create.body, parse_float=Decimal)
    prices = [item["net_price"] for item in body["data"]["items_list"]]
    assert prices == [Decimal("12.50"), Decimal("2.10")] or all(isinstance(p, Decimal) for p in prices)
    assert b"{{allegati}}" in next(r.body for r in sent if r.url.endswith("/email"))


@pytest.mark.parametrize("operation", MODELS, ids=lambda op: f"{op[0]} {op[1]}")
def test_bodies_validate_against_the_openapi_spec(sent, openapi, operation):
    if openapi is None:
        pytest.skip("FiC's OpenAPI spec is not on this machine (set FIC_OPENAPI_DIR)")
    from openapi_core.contrib.requests import RequestsOpenAPIRequest

    request = next(r for r in sent if _operation(r) == operation)
    parsed = requests.utils.urlparse(request.url)
    as_fic = requests.Request(request.method, FIC_BASE + parsed.path + (f"?{parsed.query}" if parsed.query else ""),
                              data=request.body, headers={"Authorization": f"Bearer {TOKEN}",
                                                          "Content-Type": "application/json"}).prepare()
    try:
        openapi.validate_request(RequestsOpenAPIRequest(as_fic))
    except Exception as error:
        cause = error.__cause__ or error
        details = [e.message[:300] for e in getattr(cause, "schema_errors", ())] or [str(cause)[:500]]
        pytest.fail(f"{request.method} {parsed.path} does not match FiC's spec: {details}")
