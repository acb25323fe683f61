"""Issue 14, the document side: which documents are e-invoices and what the SdI needs in them.

Pure: the payload with FiC's lists passed in (as ``Documents`` does from the client's cache).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from fic_plugin.einvoice import mapping_problems
from fic_plugin.errors import InvalidInput, SettingsError
from fic_plugin.i18n import language
from fic_plugin.labels import setting_label
from fic_plugin.model import Customer, Line, Order
from fic_plugin.payload import build_document
from fic_plugin.settings import Settings

TODAY = date(2026, 3, 10)
VAT_TYPES = {
    0: {"id": 0, "value": "22", "ei_type": None},
    6: {"id": 6, "value": "0", "ei_type": "N2.2"},
    28: {"id": 28, "value": "0", "ei_type": "N3.2"},
    40: {"id": 40, "value": "0", "ei_type": None},
    41: {"id": 41, "value": "0", "ei_type": "N3"},
}
METHODS = {
    1: {"id": 1, "name": "Bonifico bancario", "ei_payment_method": "MP05", "bank_beneficiary": "Negozio Demo S.r.l."},
    2: {"id": 2, "name": "Carta di credito", "ei_payment_method": "MP08"},
    9: {"id": 9, "name": "Altro", "ei_payment_method": None},
}
ACCOUNTS = {1: {"id": 1, "name": "Banca Demo", "iban": "IT60 X054 2811 1010 0000 0123 456"},
            2: {"id": 2, "name": "Carta", "iban": None}}
MAPPINGS = {"vat_mapping": {"22": 0, "0": 6, "0:EU": 28},
            "payment_mapping": {"bank_transfer": {"payment_method_id": 1, "payment_account_id": 1},
                                "card": {"payment_method_id": 2, "payment_account_id": 2},
                                "other": {"payment_method_id": 9, "payment_account_id": 2}}}


@pytest.fixture(autouse=True)
def english():
    with language("en"):
        yield


def rossi(**changes) -> Customer:
    values = dict(name="Rossi Forniture S.r.l.", type="company", vat_number="01234567897", sdi_code="M5UXCR1",
                  address_street="Via Torino 12", address_postal_code="20123", address_city="Milano",
                  address_province="mi")
    return Customer(**{**values, **changes})


def bianchi(**changes) -> Customer:
    values = dict(name="Laura Bianchi", first_name="Laura", last_name="Bianchi", tax_code="BNCLRA90D45F205B",
                  address_street="Corso Buenos Aires 5", address_postal_code="20124", address_city="Milano",
                  address_province="MI")
    return Customer(**{**values, **changes})


def comune(**changes) -> Customer:
    values = dict(name="Comune di Busseto", type="pa", tax_code="00170360341", sdi_code="UF3K9B",
                  address_street="Piazza Verdi 10", address_postal_code="43011", address_city="Busseto",
                  address_province="PR")
    return Customer(**{**values, **changes})


def order(customer: Customer | None = None, *lines: Line, **changes) -> Order:
    lines = lines or (Line("Olio 1 L", "2", "10.00", "22"),)
    return Order(id="o-9", number="1009", customer=customer or rossi(), lines=lines, **changes)


def build(the_order: Order | None = None, document_type: str = "invoice", **settings_changes):
    settings = Settings.from_mapping({**MAPPINGS, **settings_changes})
    return build_document(the_order or order(), document_type, settings, today=TODAY, vat_types=VAT_TYPES,
                          fic_payment_methods=METHODS, payment_accounts=ACCOUNTS)


def refused(the_order: Order, error=InvalidInput, document_type: str = "invoice", **settings_changes):
    with pytest.raises(error) as caught:
        build(the_order, document_type, **settings_changes)
    assert "1009" in str(caught.value) and caught.value.order_id == "o-9"
    return caught.value


# --- which documents ------------------------------------------------------------------------------


def test_the_setting_is_on_by_default_with_its_italian_label():
    with language("it"):
        assert Settings().e_invoice is True and setting_label("e_invoice") == "Fattura elettronica"


@pytest.mark.parametrize("document_type", ["invoice", "credit_note"])
def test_invoices_and_credit_notes_are_e_invoices(document_type):
    data = build(document_type=document_type)
    assert data["e_invoice"] is True and data["ei_data"]["payment_method"] == "MP05"


@pytest.mark.parametrize("document_type", ["receipt", "quote", "proforma", "delivery_note"])
def test_receipts_quotes_proformas_and_ddts_never_are(document_type):
    data = build(document_type=document_type)
    assert "e_invoice" not in data and "ei_data" not in data


def test_the_setting_off_issues_plain_invoices():
    assert "e_invoice" not in build(e_invoice=False)


# --- ModalitaPagamento ---------------------------------------------------------------------------


def test_bank_transfer_carries_bank_iban_and_beneficiary_of_the_mapped_account():
    assert build()["ei_data"] == {"payment_method": "MP05", "bank_name": "Banca Demo",
                                  "bank_iban": "IT60X0542811101000000123456",
                                  "bank_beneficiary": "Negozio Demo S.r.l."}


def test_the_method_comes_from_fic_and_the_mapping_can_override_it():
    assert build(order(payment_method="card"))["ei_data"] == {"payment_method": "MP08"}
    mapping = {**MAPPINGS["payment_mapping"], "card": {"payment_method_id": 2, "payment_account_id": 2,
                                                        "ei_payment_method": "mp02"}}
    assert build(order(payment_method="card"), payment_mapping=mapping)["ei_data"]["payment_method"] == "MP02"


def test_a_method_without_modalita_pagamento_is_refused_naming_it():
    error = refused(order(payment_method="other"), SettingsError)
    assert "'other'" in str(error) and "ModalitaPagamento" in str(error) and error.field == "payment_mapping"


def test_mappings_are_checked_when_saved():
    problems = mapping_problems({"22": 0, "0": 40, "0:EU": 41, "0:IT": 6}, {
        "other": {"payment_method_id": 9, "payment_account_id": None},
        "bank_transfer": {"payment_method_id": 1, "payment_account_id": 2},
        "card": {"payment_method_id": 2, "payment_account_id": 2}},
        vat_types=VAT_TYPES, payment_methods={**METHODS, 1: {**METHODS[1], "bank_iban": None}},
        payment_accounts=ACCOUNTS)
    texts = [str(p) for p in problems]
    assert len(texts) == 4, texts
    assert "rate 0 " in texts[0] and "without a natura" in texts[0]
    assert "0:EU" in texts[1] and "N3 is no longer accepted" in texts[1]
    assert "'other'" in texts[2] and "ModalitaPagamento" in texts[2]
    assert "'bank_transfer'" in texts[3] and "IBAN" in texts[3]


# --- the customer --------------------------------------------------------------------------------


def test_italian_company_as_the_sdi_needs_it():
    entity = build()["entity"]
    assert entity["ei_code"] == "M5UXCR1" and entity["address_province"] == "MI"
    assert entity["vat_number"] == "01234567897" and entity["country"] == "Italia"


def test_private_italian_gets_seven_zeros():
    assert build(order(bianchi()))["entity"]["ei_code"] == "0000000"


@pytest.mark.parametrize(("changes", "field"), [
    ({"address_street": None}, "customer.address_street"),
    ({"address_postal_code": None}, "customer.address_postal_code"),
    ({"address_postal_code": "2012"}, "customer.address_postal_code"),
    ({"address_city": " "}, "customer.address_city"),
    ({"address_province": None}, "customer.address_province"),
    ({"address_province": "Milano"}, "customer.address_province"),
    ({"sdi_code": "M5UXCR"}, "customer.sdi_code"),
    ({"sdi_code": None, "pec": None}, "customer.sdi_code"),
    ({"vat_number": None, "tax_code": None}, "customer.tax_code"),
])
def test_an_italian_customer_missing_what_the_sdi_needs_is_refused_naming_the_field(changes, field):
    assert refused(order(rossi(**changes))).field == field


def test_ignore_required_fields_never_lets_out_an_e_invoice_the_sdi_rejects():
    anonymous = order(bianchi(tax_code=None))
    error = refused(anonymous, ignore_required_fields=True)
    assert "00417" in str(error) and error.field == "customer.tax_code"
    # It still works for what is not an e-invoice.
    assert build(anonymous, "quote", ignore_required_fields=True)["entity"]["ei_code"] == "0000000"
    assert "e_invoice" not in build(anonymous, ignore_required_fields=True, e_invoice=False)


@pytest.mark.parametrize(("postal_code", "expected"), [("10117", "10117"), ("SW1A 1AA", "00000"), (None, "00000")])
def test_foreign_customer(postal_code, expected):
    customer = rossi(name="Feinkost Müller GmbH", vat_number="DE123456788", sdi_code=None, country_iso="DE",
                     address_postal_code=postal_code, address_city="Berlin", address_province="BE")
    entity = build(order(customer, Line("Olio", "1", "10", "0")))["entity"]
    assert (entity["country"], entity["country_iso"], entity["ei_code"]) == ("Germania", "DE", "XXXXXXX")
    assert entity["address_postal_code"] == expected and "address_province" not in entity
    assert entity["vat_number"] == "123456788"  # IdPaese comes from country_iso: IdFiscaleIVA DE123456788


def test_a_foreign_company_needs_its_vat_number():
    customer = rossi(vat_number=None, sdi_code=None, country_iso="FR", address_city="Paris")
    assert refused(order(customer)).field == "customer.vat_number"


# --- public administration -----------------------------------------------------------------------


def test_public_administration_split_payment_office_code_and_order_references():
    the_order = order(comune(), cig="Z1A2B3C4D5", cup="J41E20000010001", po_number="DET-42",
                      po_date=date(2026, 3, 1))
    data = build(the_order)
    assert data["entity"]["type"] == "pa" and data["entity"]["ei_code"] == "UF3K9B"
    assert data["use_split_payment"] is True
    assert data["ei_data"] == {"payment_method": "MP05", "bank_name": "Banca Demo",
                               "bank_iban": "IT60X0542811101000000123456", "bank_beneficiary": "Negozio Demo S.r.l.",
                               "vat_kind": "S", "original_document_type": "ordine", "od_number": "DET-42",
                               "cig": "Z1A2B3C4D5", "cup": "J41E20000010001", "od_date": "2026-03-01"}
    # Split payment: the PA pays the net, the VAT goes to the state (20.00 + 4.40 VAT).
    assert data["payments_list"][0]["amount"] == D("20.00")


@pytest.mark.parametrize(("changes", "field"), [
    ({"sdi_code": None}, "customer.sdi_code"),
    ({"sdi_code": "M5UXCR1"}, "customer.sdi_code"),
    ({"address_postal_code": None}, "customer.address_postal_code"),
    ({"tax_code": None}, "customer.tax_code"),
])
def test_a_public_administration_without_office_code_or_data_is_refused(changes, field):
    assert refused(order(comune(**changes))).field == field


# --- natura of 0% lines --------------------------------------------------------------------------


def test_zero_rate_lines_need_a_valid_natura():
    assert build(order(bianchi(), Line("Libro", "1", "12", "0")))["items_list"][0]["vat"] == {"id": 6}
    for vat_id in (40, 41):
        error = refused(order(bianchi(), Line("Libro", "1", "12", "0")), SettingsError,
                        vat_mapping={"22": 0, "0": vat_id})
        assert "'Libro'" in str(error) and error.field == "vat_mapping"
    # Not an e-invoice: no natura needed.
    assert build(order(bianchi(), Line("Libro", "1", "12", "0")), "quote", vat_mapping={"0": 40})
