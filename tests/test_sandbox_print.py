"""The sandbox's printable copy (what "Visualizza" opens in the demo) reads like an Italian invoice."""

from __future__ import annotations

import html
import re

import requests

from fic_plugin.documents import Documents
from fic_plugin.model import Line
from fic_plugin.settings import update_settings
from fic_sandbox.printing import day, euro, plain
from shoptest import make_order


def test_formats():
    assert euro("14.5") == "14,50 €" and euro("1234567.891") == "1.234.567,89 €" and euro("-2") == "-2,00 €"
    assert day("2026-11-29") == "29/11/2026"
    assert plain("<p>Grazie &amp; arrivederci</p><p>Bottega</p>") == "Grazie & arrivederci\nBottega"


def test_the_printable_copy_reads_like_an_italian_invoice(fic, shop):
    update_settings(fic.store, {"stamp_duty": True, "default_notes": "<p>Grazie per l'acquisto</p>"})
    shop.add(make_order("1", lines=(
        Line(name="Olio extravergine 1 L", qty="2", unit_price="12.50", vat_rate="22"),
        Line(name="Consulenza esente", qty="1", unit_price="100.00", vat_rate="0"),
    )))
    invoice = Documents(fic).create("1", "invoice")
    page = requests.get(Documents(fic).view_url(invoice.id), timeout=10).text
    body = page.split("<body>", 1)[1]
    text = html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)))
    assert "Venditore Negozio Demo S.r.l." in text and "P.IVA 09876540015" in text  # the seller block
    assert f"Fattura n. {invoice.full_number} del {invoice.date:%d/%m/%Y}" in text
    assert "25,00 €" in text and "100,00 €" in text  # line totals
    assert "Natura N2.2" in text  # the nature (and its law reference) on the 0% line
    assert "Modalità: Bonifico bancario" in text and "IBAN IT60X0542811101000000123456" in text
    assert "Imposta di bollo 2,00 €" in text
    assert "Grazie per l'acquisto" in text and "&lt;p&gt;" not in page
    assert not re.search(r"\d\.\d\d\b", text.replace("P.IVA", "")), "an amount written the English way"
