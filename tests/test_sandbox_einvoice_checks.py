"""``xml_verify`` and ``send`` refuse, like FiC (422, ``validation_result.xml_errors`` and
``extra.errors``), each e-invoice the SdI would discard, naming the field; ``send`` is not
idempotent and a sent e-invoice cannot be deleted."""

from __future__ import annotations

from decimal import Decimal

import pytest

from einvoicetest import (
    Fic,
    e_invoice,
    foreign_company,
    italian_company,
    private_person,
    public_administration,
)
from shoptest import reset_sandbox

#: A sandbox of this module's own (tests/conftest.py): its knobs stay here.
OWN_SANDBOX: dict = {}


@pytest.fixture
def fic(sandbox):
    reset_sandbox(sandbox)
    return Fic(sandbox)


def line(vat_id, name="Riga", price=Decimal("10.00")):
    return [{"name": name, "net_price": price, "qty": 1, "vat": {"id": vat_id}}]


BAD = [
    ("Italian customer without CAP", e_invoice(italian_company(address_postal_code="")), "address_postal_code"),
    ("Italian CAP of 4 digits", e_invoice(italian_company(address_postal_code="2012")), "2012"),
    ("Italian customer without province", e_invoice(italian_company(address_province=None)), "address_province"),
    ("province in lower case", e_invoice(italian_company(address_province="mi")), "address_province"),
    ("Italian customer without address", e_invoice(italian_company(address_street="")), "address_street"),
    ("customer without city", e_invoice(italian_company(address_city=None)), "address_city"),
    ("P.IVA with a wrong check digit", e_invoice(italian_company(vat_number="01234567890")), "00305"),
    ("P.IVA of 10 digits", e_invoice(italian_company(vat_number="0123456001")), "entity.vat_number"),
    ("codice fiscale of the wrong shape", e_invoice(private_person(tax_code="BNCLRA90D45")), "00306"),
    ("codice fiscale with a wrong check character", e_invoice(private_person(tax_code="BNCLRA90D45F205C")),
     "entity.tax_code"),
    ("Italian customer with neither P.IVA nor CF", e_invoice(private_person(tax_code=None)), "00417"),
    ("SDI code of 6 characters for a business", e_invoice(italian_company(ei_code="M5UXCR")), "00427"),
    ("SDI code of 8 characters", e_invoice(italian_company(ei_code="M5UXCR12")), "entity.ei_code"),
    ("PA without office code", e_invoice(public_administration(ei_code=None)), "Codice univoco ufficio"),
    ("PA with a 7-character code", e_invoice(public_administration(ei_code="UFABCD1")), "00427"),
    ("foreign customer with an Italian SDI code", e_invoice(foreign_company(ei_code="M5UXCR1")), "XXXXXXX"),
    ("foreign CAP not of 5 digits", e_invoice(foreign_company(address_postal_code="10117 B")), "00000"),
    ("PEC of the wrong shape", e_invoice(italian_company(ei_code=None, certified_email="rossi-at-pec")),
     "certified_email"),
    ("0% line without natura", e_invoice(items=line(60)), "00400"),
    ("0% line with the generic N2", e_invoice(items=line(61)), "00445"),
    ("0% line with the generic N3", e_invoice(items=line(62)), "00445"),
    ("0% line with the generic N6", e_invoice(items=line(63)), "N6"),
    ("reverse charge with split payment", e_invoice(public_administration(), items=line(26), use_split_payment=True),
     "00420"),
    ("missing ModalitaPagamento", e_invoice(ei_data={"payment_method": None}), "ei_data.payment_method"),
    ("ModalitaPagamento outside MP01-MP23", e_invoice(ei_data={"payment_method": "MP99"}), "MP99"),
    ("bank transfer without IBAN", e_invoice(ei_data={"bank_iban": None}), "ei_data.bank_iban"),
    ("CIG without the order number", e_invoice(public_administration(), ei_data={"cig": "Z1A2B3C4D5"}),
     "ei_data.od_number"),
    ("a character outside Latin-1", e_invoice(italian_company(name="Łódź Trading Sp. z o.o.")), "00200"),
    ("not flagged as an e-invoice", e_invoice(e_invoice=False), "e_invoice"),
    ("a quote", e_invoice(type="quote"), "quote"),
]


@pytest.mark.parametrize(("case", "data", "named"), BAD, ids=[case for case, _, _ in BAD])
def test_verify_and_send_refuse_what_the_sdi_would_discard(fic, case, data, named):
    document = fic.create(data)
    verify = fic.verify(document["id"])
    assert verify.status_code == 422, case
    body = verify.json()
    errors = body["error"]["validation_result"]["xml_errors"]
    assert errors == body["extra"]["errors"]
    assert any(named in error for error in errors), errors
    send = fic.send(document["id"])
    assert send.status_code == 422 and send.json()["error"]["validation_result"]["xml_errors"] == errors
    assert fic.doc(document["id"]).get("ei_status") in (None, "not_sent")
    assert fic.side("GET", "/sdi")["total"] == 0


GOOD = [
    ("Italian company", e_invoice()),
    ("private customer", e_invoice(private_person(), ei_data={"payment_method": "MP08"})),
    ("foreign company", e_invoice(foreign_company(), items=line(28))),
    ("PA with split payment", e_invoice(public_administration(), use_split_payment=True,
                                        ei_data={"cig": "Z1A2B3C4D5", "od_number": "DET-45"})),
    ("credit note", e_invoice(type="credit_note", ei_data={"invoice_number": "1", "invoice_date": "2026-01-10"})),
]


@pytest.mark.parametrize(("case", "data"), GOOD, ids=[case for case, _ in GOOD])
def test_good_e_invoices_pass_verify(fic, case, data):
    document = fic.create(data)
    assert fic.verify(document["id"]).json() == {"data": {"success": True}}


def test_send_is_not_idempotent_and_a_sent_e_invoice_stays(fic):
    document = fic.create(e_invoice())
    first = fic.send(document["id"])
    assert first.status_code == 200 and first.json()["data"]["name"] == "CARICATO"
    assert fic.doc(document["id"])["ei_status"] == "sent"
    again = fic.send(document["id"])
    assert again.status_code == 409 and again.json()["error"]["code"] == "E_INVOICE_ALREADY_SENT"
    assert fic.side("GET", "/sdi")["by_document"] == {str(document["id"]): 1}
    deleted = fic("DELETE", f"/issued_documents/{document['id']}")
    assert deleted.status_code == 409 and deleted.json()["error"]["code"] == "E_INVOICE_SENT"
    changed = fic("PUT", f"/issued_documents/{document['id']}", json={"data": {"subject": "altro"}})
    assert changed.status_code == 409


def test_a_dry_run_checks_without_sending(fic):
    document = fic.create(e_invoice())
    assert fic.send(document["id"], dry_run=True).status_code == 200
    assert fic.doc(document["id"])["ei_status"] == "not_sent"
    assert fic.side("GET", "/sdi")["total"] == 0
    assert fic.send(document["id"]).status_code == 200


def test_eight_sends_at_once_make_one_sdi_send(fic):
    from concurrent.futures import ThreadPoolExecutor

    document = fic.create(e_invoice())
    with ThreadPoolExecutor(8) as pool:
        codes = sorted(pool.map(lambda _: fic.send(document["id"]).status_code, range(8)))
    assert codes == [200] + [409] * 7
    assert fic.side("GET", "/sdi")["by_document"] == {str(document["id"]): 1}
