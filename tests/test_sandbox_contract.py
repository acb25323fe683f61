"""Contract tests: every answer the sandbox gives for the operations the plugin uses parses with
the official SDK's models and, when FiC's spec is at hand, validates against it (openapi-core).

If the sandbox drifted from FiC's shapes, the plugin could pass every test here and fail in
production; these tests are what ties the sandbox to the real API.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import requests

sdk = pytest.importorskip("fattureincloud_python_sdk")

FIC_BASE = "https://api-v2.fattureincloud.it"
AUTH = {"Authorization": "Bearer contract"}


def _spec_dir() -> Path:
    configured = os.environ.get("FIC_OPENAPI_DIR")
    return Path(configured) if configured else Path(__file__).resolve().parents[1] / ".." / "shared" / "fic-openapi"


@pytest.fixture(scope="module")
def openapi():
    """FiC's spec loaded once (2 MB); None when it is not on this machine."""
    path = _spec_dir() / "openapi-enriched.yaml"
    if not path.exists():
        return None
    yaml = pytest.importorskip("yaml")
    openapi_core = pytest.importorskip("openapi_core")
    with path.open(encoding="utf-8") as handle:
        spec = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    # The published spec has a few invalid defaults ('false' for a boolean): skip validating
    # the spec itself, validate our answers against it.
    return openapi_core.OpenAPI.from_dict(spec, config=openapi_core.Config(spec_validator_cls=None))


#: A sandbox of this module's own (tests/conftest.py): its knobs stay here.
OWN_SANDBOX: dict = {}


@pytest.fixture(scope="module")
def call(sandbox, openapi):
    """Do a request, check the answer against the spec, return it."""
    from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

    def do(method: str, path: str, *, expect: int = 200, **kwargs) -> requests.Response:
        response = requests.request(method, sandbox.url + path, headers=AUTH, timeout=10, **kwargs)
        assert response.status_code == expect, response.text
        if openapi is not None:
            # Validate as if FiC had answered: same path and query on FiC's server.
            query = f"?{response.request.url.split('?', 1)[1]}" if "?" in response.request.url else ""
            as_fic = requests.Request(method, FIC_BASE + path.split("?")[0] + query,
                                      json=kwargs.get("json"), headers=AUTH).prepare()
            try:
                openapi.validate_response(RequestsOpenAPIRequest(as_fic), RequestsOpenAPIResponse(response))
            except Exception as error:  # the schema errors, not a 2-page dump of the body
                cause = error.__cause__ or error
                details = [e.message[:300] for e in getattr(cause, "schema_errors", ())] or [str(cause)[:500]]
                pytest.fail(f"{method} {path} does not match FiC's spec: {details}")
        return response

    return do


def parse(model_name: str, response: requests.Response):
    model = getattr(sdk, model_name)
    parsed = model.from_dict(response.json())
    assert parsed is not None
    return parsed


DOCUMENT = {
    "type": "invoice", "numeration": "/A", "date": "2026-03-10", "use_gross_prices": True, "rivalsa": 4,
    "entity": {"name": "Rossi S.r.l.", "vat_number": "01234560017", "ei_code": "ABC1234", "email": "a@example.com",
               "address_street": "Via Roma 1", "address_postal_code": "20121", "address_city": "Milano",
               "address_province": "MI", "country": "Italia"},
    "e_invoice": True, "ei_data": {"payment_method": "MP05", "bank_iban": "IT60X0542811101000000123456"},
    "payment_method": {"id": 1},
    "items_list": [{"name": "Consulenza", "gross_price": 122, "qty": 1, "vat": {"id": 0},
                    "apply_withholding_taxes": True},
                   {"name": "Libro", "gross_price": 20.5, "qty": 2, "discount": 10, "vat": {"id": 54}}],
}


@pytest.fixture(scope="module")
def invoice(call):
    totals = call("POST", "/c/1/issued_documents/totals", json={"data": DOCUMENT})
    parse("GetNewIssuedDocumentTotalsResponse", totals)
    due = totals.json()["data"]["amount_due"]
    data = {**DOCUMENT, "payments_list": [{"amount": due, "due_date": "2026-04-10", "status": "not_paid",
                                           "payment_account": {"id": 1}}]}
    created = call("POST", "/c/1/issued_documents", json={"data": data})
    parsed = parse("CreateIssuedDocumentResponse", created)
    assert parsed.data.id and parsed.data.number == 1
    return created.json()["data"]


def test_documents_parse_and_validate(call, invoice):
    doc_id = invoice["id"]
    got = parse("GetIssuedDocumentResponse", call("GET", f"/c/1/issued_documents/{doc_id}"))
    assert got.data.items_list[0].net_price == 100 and got.data.amount_rivalsa == 4
    changed = call("PUT", f"/c/1/issued_documents/{doc_id}", json={"data": {"visible_subject": "Ordine 1"}})
    assert parse("ModifyIssuedDocumentResponse", changed).data.visible_subject == "Ordine 1"
    for fieldset in ("basic", "detailed"):
        listed = parse("ListIssuedDocumentsResponse", call(
            "GET", "/c/1/issued_documents", params={"type": "invoice", "fieldset": fieldset,
                                                    "q": "numeration = '/A'"}))
        assert listed.total == 1 and (listed.data[0].items_list is None) == (fieldset == "basic")
    totals = call("POST", f"/c/1/issued_documents/{doc_id}/totals", json={"data": {"rivalsa": 0}})
    assert parse("GetExistingIssuedDocumentTotalsResponse", totals).data.amount_rivalsa == 0
    info = parse("GetIssuedDocumentPreCreateInfoResponse",
                 call("GET", "/c/1/issued_documents/info", params={"type": "invoice"}))
    assert info.data.numerations["2026"]["/A"] == 1


def test_transform_and_join_parse_and_validate(call):
    quote = call("POST", "/c/1/issued_documents", json={"data": {**DOCUMENT, "type": "quote"}}).json()["data"]
    transformed = call("GET", "/c/1/issued_documents/transform", params={
        "original_document_id": quote["id"], "new_type": "proforma", "type": "quote"})
    parsed = parse("TransformIssuedDocumentResponse", transformed)
    assert parsed.options.create_from == [str(quote["id"])] and parsed.options.transform is True
    notes = [call("POST", "/c/1/issued_documents", json={"data": {**DOCUMENT, "type": "delivery_note",
                                                                 "numeration": ""}}).json()["data"]["id"]
             for _ in range(2)]
    joined = call("GET", "/c/1/issued_documents/join", params={"ids": f"{notes[0]},{notes[1]}",
                                                               "type": "delivery_notes"})
    assert len(parse("JoinIssuedDocumentsResponse", joined).data.items_list) == 4


def test_email_parse_and_validate(call, invoice):
    doc_id = invoice["id"]
    data = parse("GetEmailDataResponse", call("GET", f"/c/1/issued_documents/{doc_id}/email")).data
    schedule = {"data": {"sender_id": data.default_sender_email.id, "recipient_email": data.recipient_email,
                         "subject": data.subject, "body": data.body, "attach_pdf": True,
                         "include": {"document": True, "delivery_note": False, "attachment": False,
                                     "accompanying_invoice": False}, "send_copy": False}}
    sdk.ScheduleEmailRequest.from_dict(schedule)  # what we send is what FiC accepts
    call("POST", f"/c/1/issued_documents/{doc_id}/email", json=schedule)
    emails = parse("ListEmailsResponse", call("GET", "/c/1/emails"))
    assert emails.data[0].to_email == "a@example.com"


def test_lookups_and_company_parse_and_validate(call):
    vat_types = parse("ListVatTypesResponse", call("GET", "/c/1/info/vat_types")).data
    assert {v.value for v in vat_types} >= {22, 10, 5, 4, 0}
    assert parse("ListPaymentMethodsResponse", call("GET", "/c/1/info/payment_methods")).data
    assert parse("ListPaymentAccountsResponse", call("GET", "/c/1/info/payment_accounts")).data
    companies = parse("ListUserCompaniesResponse", call("GET", "/user/companies"))
    assert companies.data.companies[0].id == 1
    assert parse("GetCompanyInfoResponse", call("GET", "/c/1/company/info")).data.id == 1


def test_bin_and_e_invoice_parse_and_validate(call, invoice):
    doc_id = invoice["id"]
    assert parse("VerifyEInvoiceXmlResponse",
                 call("GET", f"/c/1/issued_documents/{doc_id}/e_invoice/xml_verify")).data.success is True
    sent = call("POST", f"/c/1/issued_documents/{doc_id}/e_invoice/send",
                json={"data": {}, "options": {"dry_run": True}})
    assert parse("SendEInvoiceResponse", sent).data.name == "CARICATO"
    reason = call("GET", f"/c/1/issued_documents/{doc_id}/e_invoice/error_reason")
    assert parse("GetEInvoiceRejectionReasonResponse", reason).data.ei_status == "not_sent"
    spare = call("POST", "/c/1/issued_documents", json={"data": {**DOCUMENT, "numeration": "/Z"}}).json()["data"]
    call("DELETE", f"/c/1/issued_documents/{spare['id']}")
    binned = parse("ListBinIssuedDocuments", call("GET", "/c/1/bin/issued_documents"))
    assert [d.id for d in binned.data] == [spare["id"]]
    assert parse("GetBinIssuedDocumentResponse", call("GET", f"/c/1/bin/issued_documents/{spare['id']}")).data


def test_errors_have_fic_shape(call):
    bad = {"data": {**DOCUMENT, "payments_list": [{"amount": 1, "due_date": "2026-04-10"}]}}
    refused = call("POST", "/c/1/issued_documents", json=bad, expect=422)
    body = refused.json()
    assert set(body) == {"error", "extra"} and set(body["error"]) >= {"message", "validation_result"}
    sdk.IssuedDocumentTotals.from_dict(body["extra"]["totals"])
    failed = call("GET", "/c/1/issued_documents/999/e_invoice/xml_verify", expect=404)
    assert failed.json()["error"]["message"]


def test_the_spec_check_can_fail(openapi):
    """A wrong shape must be caught, or the checks above prove nothing."""
    if openapi is None:
        pytest.skip("FiC's spec is not on this machine")
    from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

    wrong = requests.Response()
    wrong.status_code = 200
    wrong._content = b'{"data": [{"id": "zero", "value": "22%"}]}'
    wrong.headers["Content-Type"] = "application/json"
    request = requests.Request("GET", f"{FIC_BASE}/c/1/info/vat_types", headers=AUTH).prepare()
    with pytest.raises(Exception, match="(?i)invalid"):
        openapi.validate_response(RequestsOpenAPIRequest(request), RequestsOpenAPIResponse(wrong))


def test_e_invoice_xml_refusals_and_webhook_subscriptions_parse_and_validate(sandbox, call, invoice):
    from einvoicetest import Receiver

    # openapi-core cannot read a text/xml body as the spec's string: the XML's own tests validate it.
    xml = requests.get(f"{sandbox.url}/c/1/issued_documents/{invoice['id']}/e_invoice/xml", headers=AUTH, timeout=10)
    assert xml.headers["Content-Type"].startswith("text/xml") and b"FatturaElettronica" in xml.content
    wrong = call("POST", "/c/1/issued_documents", json={"data": {**DOCUMENT, "numeration": "/V", "entity": {
        **DOCUMENT["entity"], "vat_number": "01234567890"}}}).json()["data"]
    refused = call("GET", f"/c/1/issued_documents/{wrong['id']}/e_invoice/xml_verify", expect=422)
    parsed = sdk.VerifyEInvoiceXmlErrorResponse.from_dict(refused.json())
    assert any("00305" in error for error in parsed.error.validation_result.xml_errors)
    with Receiver() as receiver:
        types = ["it.fattureincloud.webhooks.issued_documents.e_invoices.status_update"]
        created = parse("CreateWebhooksSubscriptionResponse", call(
            "POST", "/c/1/subscriptions", json={"data": {"sink": receiver.url, "types": types}}))
        assert created.data.verified is True and created.data.types == types
        listed = parse("ListWebhooksSubscriptionsResponse", call("GET", "/c/1/subscriptions"))
        assert [s.id for s in listed.data] == [created.data.id]
        got = parse("GetWebhooksSubscriptionResponse", call("GET", f"/c/1/subscriptions/{created.data.id}"))
        assert got.data.sink == receiver.url
        modified = parse("ModifyWebhooksSubscriptionResponse", call(
            "PUT", f"/c/1/subscriptions/{created.data.id}", json={"data": {"config": {"mapping": "structured"}}}))
        assert modified.data.config.mapping == "structured"
        call("POST", f"/c/1/subscriptions/{created.data.id}/verify", json={"data": {"verification_method": "header"}})
        call("DELETE", f"/c/1/subscriptions/{created.data.id}")
