"""Issue 14 in the demo's JSON API: a public administration customer (``type: "pa"``, its office
code in ``sdi_code``), a PA's order references (``cig``, ``cup``, ``po_number``, ``po_date``), and
each document's ``e_invoice`` and ``ei_status``."""

from __future__ import annotations

from datetime import date

import pytest

from fic_demo.parse import parse_order
from fic_demo.shop import DemoShop
from fic_plugin.errors import InvalidInput
from fic_plugin.i18n import language
from fic_plugin.model import Document
from fic_plugin.payload import build_document
from fic_plugin.settings import Settings

COMUNE = {"name": "Comune di Busseto", "type": "pa", "tax_code": "00170360341", "sdi_code": "uf3k9b",
          "address_street": "Piazza Verdi 10", "address_postal_code": "43011", "address_city": "Busseto",
          "address_province": "PR", "country_iso": "IT"}
LINE = {"name": "Olio extravergine di oliva 1 L", "qty": "3", "unit_price": "9.90", "vat_rate": "22"}


def body(**changes) -> dict:
    return {"customer": dict(COMUNE), "lines": [dict(LINE)], "payment_method": "bank_transfer", **changes}


@pytest.fixture(autouse=True)
def english():
    with language("en"):
        yield


def test_a_pa_order_with_its_references_is_kept_and_becomes_a_split_payment_e_invoice(tmp_path):
    shop = DemoShop(tmp_path / "shop.db", seed=False)
    new = parse_order(body(cig="z1a2b3c4d5", cup="J41E20000010001", po_number="DET-42/2026", po_date="2026-11-02"))
    order = shop.shop_get_order(shop.create_order(new).id)
    assert order.customer.type == "pa" and order.customer.sdi_code == "UF3K9B"
    assert (order.cig, order.cup, order.po_number, order.po_date) == (
        "Z1A2B3C4D5", "J41E20000010001", "DET-42/2026", date(2026, 11, 2))
    settings = Settings.from_mapping({"vat_mapping": {"22": 0}, "payment_mapping": {
        "bank_transfer": {"payment_method_id": 1, "payment_account_id": 1, "ei_payment_method": "MP05"}}})
    data = build_document(order, "invoice", settings, today=date(2026, 11, 30))
    assert data["entity"]["type"] == "pa" and data["entity"]["ei_code"] == "UF3K9B"
    assert data["use_split_payment"] is True
    assert {k: data["ei_data"][k] for k in ("cig", "cup", "od_number", "od_date")} == {
        "cig": "Z1A2B3C4D5", "cup": "J41E20000010001", "od_number": "DET-42/2026", "od_date": "2026-11-02"}
    from fic_demo.api import order_json

    shown = order_json(shop, order)
    assert shown["customer"]["type"] == "pa" and shown["cig"] == "Z1A2B3C4D5" and shown["po_date"] == "2026-11-02"


@pytest.mark.parametrize(("changes", "field"), [
    ({"customer": {**COMUNE, "sdi_code": "M5UXCR1"}}, "customer.sdi_code"),
    ({"customer": {k: v for k, v in COMUNE.items() if k != "sdi_code"}}, "customer.sdi_code"),
    ({"customer": {**COMUNE, "type": "ente"}}, "customer.type"),
    ({"cig": "123"}, "cig"),
    ({"cup": "J41E2"}, "cup"),
    ({"po_number": "x" * 21}, "po_number"),
    ({"po_date": "02/11/2026"}, "po_date"),
])
def test_bad_pa_data_is_refused_naming_the_field(changes, field):
    with pytest.raises(InvalidInput) as error:
        parse_order(body(**changes))
    assert error.value.field == field


def test_documents_in_the_api_carry_e_invoice_and_ei_status(tmp_path):
    from fic_demo.api import document_json

    shown = document_json(Document(id=1, order_id="1", type="invoice", fic_id=7, e_invoice=True, ei_status="sent"))
    assert (shown["e_invoice"], shown["ei_status"]) == (True, "sent")
    shown = document_json(Document(id=2, order_id="1", type="quote", fic_id=8))
    assert (shown["e_invoice"], shown["ei_status"]) == (False, None)
