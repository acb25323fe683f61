"""Every payload we build is a valid ``CreateIssuedDocumentRequest`` for FiC's official SDK.

The SDK (test-only oracle) is generated from FiC's spec with strict types: a string quantity, a
bad enum or a bad date fails here. It drops unknown keys silently, so the test also checks that
every key we send survives its round trip, i.e. that FiC's schema knows it.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal as D
from typing import Any

import pytest

from fic_plugin import json_codec
from fic_plugin.model import DOCUMENT_TYPES, Customer, Line, Order, Payment
from fic_plugin.payload import build_document
from fic_plugin.settings import Settings

sdk = pytest.importorskip("fattureincloud_python_sdk")

SETTINGS = Settings.from_mapping({
    "vat_mapping": {"22": 0, "10": 3, "4": 4, "0": 1010},
    "payment_mapping": {"bank_transfer": {"payment_method_id": 11, "payment_account_id": 21, "ei_payment_method": "MP05"}},
    "rivalsa_inps": True, "stamp_duty": True, "numeration": "/WEB", "payment_due_days": 30,
    "default_notes": "Grazie per l'acquisto!\n\nIBAN IT60X0542811101000000123456",
})

CUSTOMERS = {
    "person": Customer(name="Mario Rossi", first_name="Mario", last_name="Rossi", tax_code="RSSMRA80A01H501U",
                       email="mario@example.it", phone="+393331234567", address_street="Via Roma 1",
                       address_postal_code="00184", address_city="Roma", address_province="RM"),
    "company": Customer(name="Rossi S.r.l.", type="company", vat_number="00905811006", sdi_code="M5UXCR1",
                        pec="rossi@pec.it", address_street="Via Torino 12", address_postal_code="20123",
                        address_city="Milano", address_province="MI"),
    "foreign": Customer(name="Müller GmbH", type="company", vat_number="DE136695976", country_iso="DE",
                        address_street="Friedrichstraße 100", address_postal_code="10117", address_city="Berlin"),
}


def _order(customer: str, gross: bool, paid: str | None) -> Order:
    lines = (Line("Consulenza", "1.5", "60.125", "0", code="CONS"), Line("Libro", "2", "19.90", "4", discount="5"),
             Line("Vaso", "1", "35", "22"), Line("Spedizione", "1", "6.90", "22", kind="shipping"))
    payments = (Payment(paid, paid_at=datetime(2026, 3, 2, 18)),) if paid else ()
    return Order(id="9", number="2009", customer=CUSTOMERS[customer], lines=lines, prices_include_vat=gross,
                 payments=payments)


def _wire(payload: dict[str, Any]) -> dict[str, Any]:
    """What FiC receives: the payload as JSON numbers."""
    return json.loads(json_codec.dumps({"data": payload}))


def _survived(sent: Any, parsed: Any, path: str = "data") -> None:
    if isinstance(sent, dict):
        for key, value in sent.items():
            assert key in parsed, f"{path}.{key} was dropped by the SDK: FiC's schema does not know it"
            _survived(value, parsed[key], f"{path}.{key}")
    elif isinstance(sent, list):
        assert len(sent) == len(parsed)
        for index, (a, b) in enumerate(zip(sent, parsed, strict=True)):
            _survived(a, b, f"{path}[{index}]")
    else:
        assert sent == parsed, f"{path}: sent {sent!r}, the SDK read {parsed!r}"


@pytest.mark.parametrize("document_type", sorted(DOCUMENT_TYPES))
@pytest.mark.parametrize(("customer", "gross", "paid"), [
    ("person", False, None), ("company", True, "50"), ("foreign", False, "100000")])
def test_payload_is_a_valid_sdk_request(document_type, customer, gross, paid):
    payload = build_document(_order(customer, gross, paid), document_type, SETTINGS, today=date(2026, 3, 10),
                             marker="fic-plugin:order-9:" + document_type + ":1")
    wire = _wire(payload)
    request = sdk.CreateIssuedDocumentRequest.from_dict(wire)
    parsed = sdk.ApiClient().sanitize_for_serialization(request)
    _survived(wire["data"], parsed["data"])
    assert request.data.type == document_type
    assert request.data.var_date == date(2026, 3, 10)


def test_wire_numbers_are_the_decimal_digits():
    payload = build_document(_order("person", False, "50"), "invoice", SETTINGS, today=date(2026, 3, 10))
    text = json_codec.dumps(payload)
    assert '"net_price": 60.125' in text
    assert '"amount": 50' in text
    amounts = [D(str(p["amount"])) for p in _wire(payload)["data"]["payments_list"]]
    assert sum(amounts) == sum(p["amount"] for p in payload["payments_list"])
