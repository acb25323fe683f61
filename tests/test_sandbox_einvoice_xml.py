"""``GET …/e_invoice/xml``: every kind of e-invoice the shop issues comes out as FatturaPA 1.2.2 that
the official schema (``../shared/fatturapa``, validated offline with xmlschema) accepts, with the
blocks the SdI reads: seller, customer, lines, summaries, payment, bollo, ritenuta, cassa."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest
import requests

from einvoicetest import (
    Fic,
    e_invoice,
    fatturapa_dir,
    foreign_company,
    italian_company,
    official_schema,
    private_person,
    public_administration,
)
from fic_sandbox import sdi_checks, seeds

#: A sandbox of this module's own (tests/conftest.py): its knobs stay here.
OWN_SANDBOX: dict = {}


@pytest.fixture(scope="module")
def schema():
    return official_schema()


@pytest.fixture
def fic(sandbox):
    return Fic(sandbox)


def xml_of(fic, schema, data) -> ET.Element:
    """Create the document, fetch its XML, validate it against the official schema, parse it."""
    document = fic.create(data)
    answer = fic.xml(document["id"])
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"].startswith("text/xml")
    errors = [str(error) for error in schema.iter_errors(answer.content)]
    assert errors == []
    return ET.fromstring(answer.content)


def text(root: ET.Element, path: str) -> str | None:
    return root.findtext(path)


def test_the_packaged_schema_is_the_official_one():
    packaged = sdi_checks.XSD.parent
    for name in ("Schema_del_file_xml_FatturaPA_v1.2.2.xsd", "xmldsig-core-schema.xsd"):
        if not (fatturapa_dir() / name).exists():
            pytest.skip("shared/fatturapa is not on this machine")
        assert (packaged / name).read_bytes() == (fatturapa_dir() / name).read_bytes()


def test_an_italian_company_invoice_like_the_demo_shops(fic, schema):
    root = xml_of(fic, schema, e_invoice(numeration="/A"))
    assert root.get("versione") == "FPR12"
    head = "FatturaElettronicaHeader"
    assert text(root, f"{head}/DatiTrasmissione/CodiceDestinatario") == "M5UXCR1"
    assert root.find(f"{head}/DatiTrasmissione/PECDestinatario") is None  # a code wins over the PEC
    seller = f"{head}/CedentePrestatore/DatiAnagrafici"
    assert text(root, f"{seller}/IdFiscaleIVA/IdCodice") == seeds.COMPANY_PROFILE["vat_number"]
    assert text(root, f"{seller}/Anagrafica/Denominazione") == seeds.COMPANY_NAME
    assert text(root, f"{seller}/RegimeFiscale") == "RF01"
    customer = f"{head}/CessionarioCommittente"
    assert text(root, f"{customer}/DatiAnagrafici/IdFiscaleIVA/IdCodice") == "01234560017"
    assert text(root, f"{customer}/Sede/CAP") == "20123"
    assert text(root, f"{customer}/Sede/Provincia") == "MI"
    general = "FatturaElettronicaBody/DatiGenerali/DatiGeneraliDocumento"
    assert text(root, f"{general}/TipoDocumento") == "TD01"
    assert text(root, f"{general}/Numero").endswith("/A")
    lines = root.findall("FatturaElettronicaBody/DatiBeniServizi/DettaglioLinee")
    assert [line.findtext("PrezzoTotale") for line in lines] == ["106.80", "78.30", "18.00"]
    summaries = {s.findtext("AliquotaIVA"): (s.findtext("ImponibileImporto"), s.findtext("Imposta"))
                 for s in root.findall("FatturaElettronicaBody/DatiBeniServizi/DatiRiepilogo")}
    assert summaries == {"22.00": ("185.10", "40.72"), "10.00": ("18.00", "1.80")}
    payment = "FatturaElettronicaBody/DatiPagamento/DettaglioPagamento"
    assert text(root, f"{payment}/ModalitaPagamento") == "MP05"
    assert text(root, f"{payment}/IBAN") == "IT60X0542811101000000123456"
    assert text(root, f"{payment}/ImportoPagamento") == "245.62"
    assert sdi_checks.arithmetic_errors(ET.tostring(root)) == []


def test_a_private_customer_has_name_and_surname_codice_fiscale_and_seven_zeros(fic, schema):
    root = xml_of(fic, schema, e_invoice(private_person(), ei_data={"payment_method": "MP08"}))
    customer = "FatturaElettronicaHeader/CessionarioCommittente/DatiAnagrafici"
    assert text(root, f"{customer}/CodiceFiscale") == "BNCLRA90D45F205B"
    assert root.find(f"{customer}/IdFiscaleIVA") is None
    assert (text(root, f"{customer}/Anagrafica/Nome"), text(root, f"{customer}/Anagrafica/Cognome")) == (
        "Laura", "Bianchi")
    assert text(root, "FatturaElettronicaHeader/DatiTrasmissione/CodiceDestinatario") == "0000000"
    assert text(root, "FatturaElettronicaBody/DatiPagamento/DettaglioPagamento/ModalitaPagamento") == "MP08"


def test_a_pec_only_company_gets_seven_zeros_and_the_pec(fic, schema):
    root = xml_of(fic, schema, e_invoice(italian_company(ei_code=None)))
    assert text(root, "FatturaElettronicaHeader/DatiTrasmissione/CodiceDestinatario") == "0000000"
    assert text(root, "FatturaElettronicaHeader/DatiTrasmissione/PECDestinatario") == "rossi@pec.example.it"


def test_a_foreign_customer_gets_xxxxxxx_cap_00000_no_province_and_its_vat_number(fic, schema):
    items = [{"name": "Olio extravergine", "net_price": Decimal("8.50"), "qty": 24, "vat": {"id": 28}}]
    root = xml_of(fic, schema, e_invoice(foreign_company(), items=items))
    assert text(root, "FatturaElettronicaHeader/DatiTrasmissione/CodiceDestinatario") == "XXXXXXX"
    customer = "FatturaElettronicaHeader/CessionarioCommittente"
    assert text(root, f"{customer}/DatiAnagrafici/IdFiscaleIVA/IdPaese") == "DE"
    assert text(root, f"{customer}/DatiAnagrafici/IdFiscaleIVA/IdCodice") == "123456788"
    assert text(root, f"{customer}/Sede/CAP") == "00000"
    assert root.find(f"{customer}/Sede/Provincia") is None
    assert text(root, f"{customer}/Sede/Nazione") == "DE"
    line = root.find("FatturaElettronicaBody/DatiBeniServizi/DettaglioLinee")
    assert (line.findtext("AliquotaIVA"), line.findtext("Natura")) == ("0.00", "N3.2")
    summary = root.find("FatturaElettronicaBody/DatiBeniServizi/DatiRiepilogo")
    assert (summary.findtext("Natura"), summary.findtext("Imposta")) == ("N3.2", "0.00")


def test_a_foreign_consumer_without_any_identifier_gets_the_conventional_one(fic, schema):
    entity = {"name": "Emily Johnson", "type": "person", "first_name": "Emily", "last_name": "Johnson",
              "address_street": "350 Fifth Avenue", "address_postal_code": "00000", "address_city": "New York",
              "country": "Stati Uniti"}
    items = [{"name": "Vino", "net_price": 15, "qty": 3, "vat": {"id": 23}}]
    root = xml_of(fic, schema, e_invoice(entity, items=items, ei_data={"payment_method": "MP08"}))
    vat = "FatturaElettronicaHeader/CessionarioCommittente/DatiAnagrafici/IdFiscaleIVA"
    assert (text(root, f"{vat}/IdPaese"), text(root, f"{vat}/IdCodice")) == ("US", "99999999999")


def test_a_public_administration_gets_fpa12_office_code_split_payment_and_cig(fic, schema):
    data = e_invoice(public_administration(), use_split_payment=True,
                     ei_data={"cig": "Z1A2B3C4D5", "cup": "J11B22000000001", "od_number": "DET-45",
                              "od_date": "2026-10-01"})
    document = fic.create(data)
    root = xml_of(fic, schema, data)
    assert root.get("versione") == "FPA12"
    assert text(root, "FatturaElettronicaHeader/DatiTrasmissione/FormatoTrasmissione") == "FPA12"
    assert text(root, "FatturaElettronicaHeader/DatiTrasmissione/CodiceDestinatario") == "UFABCD"
    assert {s.findtext("EsigibilitaIVA") for s in root.iter("DatiRiepilogo")} == {"S"}
    order = "FatturaElettronicaBody/DatiGenerali/DatiOrdineAcquisto"
    assert (text(root, f"{order}/IdDocumento"), text(root, f"{order}/CodiceCIG"), text(root, f"{order}/CodiceCUP")) \
        == ("DET-45", "Z1A2B3C4D5", "J11B22000000001")
    # Split payment: the PA pays the taxable amount, the VAT goes to the state.
    paid = text(root, "FatturaElettronicaBody/DatiPagamento/DettaglioPagamento/ImportoPagamento")
    assert Decimal(paid) == document["amount_net"] == document["amount_due"]


def test_a_credit_note_is_td04_and_names_the_invoice_it_corrects(fic, schema):
    data = e_invoice(type="credit_note", ei_data={"invoice_number": "12/A", "invoice_date": "2026-11-02"})
    root = xml_of(fic, schema, data)
    assert text(root, "FatturaElettronicaBody/DatiGenerali/DatiGeneraliDocumento/TipoDocumento") == "TD04"
    linked = "FatturaElettronicaBody/DatiGenerali/DatiFattureCollegate"
    assert (text(root, f"{linked}/IdDocumento"), text(root, f"{linked}/Data")) == ("12/A", "2026-11-02")


def test_gross_prices_rivalsa_ritenuta_and_bollo_come_out_in_their_blocks(fic, schema):
    items = [{"name": "Consulenza", "gross_price": 122, "qty": 1, "vat": {"id": 0}, "apply_withholding_taxes": True},
             {"name": "Diritti esenti", "gross_price": 100, "qty": 1, "vat": {"id": 24}}]
    # FiC puts a bollo on the document only when asked (stamp_duty: "0 if not present").
    data = e_invoice(items=items, use_gross_prices=True, rivalsa=4, withholding_tax=20, stamp_duty=2)
    document = fic.create(data)
    root = xml_of(fic, schema, data)
    general = "FatturaElettronicaBody/DatiGenerali/DatiGeneraliDocumento"
    assert text(root, f"{general}/DatiRitenuta/ImportoRitenuta") == f"{document['amount_withholding_tax']:.2f}"
    assert text(root, f"{general}/DatiRitenuta/TipoRitenuta") == "RT02"
    assert text(root, f"{general}/DatiCassaPrevidenziale/TipoCassa") == "TC22"
    assert text(root, f"{general}/DatiCassaPrevidenziale/ImportoContributoCassa") == "4.00"
    assert text(root, f"{general}/DatiCassaPrevidenziale/ImponibileCassa") == "100.00"  # net, from 122 gross
    assert (text(root, f"{general}/DatiBollo/BolloVirtuale"), text(root, f"{general}/DatiBollo/ImportoBollo")) == (
        "SI", "2.00")
    lines = root.findall("FatturaElettronicaBody/DatiBeniServizi/DettaglioLinee")
    assert lines[0].findtext("Ritenuta") == "SI" and lines[1].find("Ritenuta") is None
    assert lines[1].findtext("Natura") == "N4"
    assert sdi_checks.arithmetic_errors(ET.tostring(root)) == []
    assert fic.verify(document["id"]).json() == {"data": {"success": True}}


def test_a_document_that_is_not_an_e_invoice_has_no_xml(fic):
    quote = fic.create(e_invoice(type="quote", e_invoice=False))
    refused = fic.xml(quote["id"])
    assert refused.status_code == 422 and "fattura elettronica" in refused.json()["error"]["message"]
    assert fic.xml(999).status_code == 404


def test_the_sandbox_reads_fic_on_its_own_never_through_the_plugins_payload_money_or_totals():
    import ast
    from pathlib import Path

    import fic_sandbox

    borrowed = set()
    for module in Path(fic_sandbox.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            borrowed |= {f"{module.name}: {name}" for name in names if name.startswith("fic_plugin")}
    # Only the CLI's error type and translations, for `fic sandbox`'s one-line messages.
    assert {entry.split(": ")[1] for entry in borrowed} <= {"fic_plugin.errors", "fic_plugin.i18n"}


def test_the_seller_comes_from_the_company_profile_which_the_side_channel_changes(fic, schema):
    try:
        fic.side("POST", "/company", json={"regime_fiscale": "RF19", "person": True})
        items = [{"name": "Consulenza", "net_price": 100, "qty": 1, "vat": {"id": 6}, "apply_withholding_taxes": True}]
        root = xml_of(fic, schema, e_invoice(items=items, withholding_tax=20))
        assert text(root, "FatturaElettronicaHeader/CedentePrestatore/DatiAnagrafici/RegimeFiscale") == "RF19"
        assert text(root, "FatturaElettronicaBody/DatiGenerali/DatiGeneraliDocumento/DatiRitenuta/TipoRitenuta") \
            == "RT01"
        fic.side("POST", "/company", json={"regime_fiscale": "RF99"})
        document = fic.create(e_invoice())
        assert any("RegimeFiscale" in error for error in fic.verify(document["id"]).json()["extra"]["errors"])
        refused = requests.post(f"{fic.root}/__sandbox__/company", json={"motto": "x"}, timeout=5)
        assert refused.status_code == 422 and "motto" in refused.json()["error"]["message"]
    finally:
        assert fic.side("DELETE", "/company")["regime_fiscale"] == "RF01"
