"""A stored document as the FatturaPA 1.2.2 XML that FiC would hand to the SdI.

Built from the document and the company's own data (``seeds.COMPANY_PROFILE``), written from the
official schema and ``shared/fatturapa/BRIEF.md``, never from the plugin's payload code. The
builder renders what the document says, even when it is wrong (a 4-digit CAP, a "€" in a name, a
0% line without natura): judging it is ``sdi_checks``' job, as the SdI judges what FiC sends.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from decimal import Decimal
from typing import Any

from babel import Locale

from . import seeds
from .totals import compute_totals, dec, line_total, round2

NAMESPACE = "http://ivaservizi.agenziaentrate.gov.it/docs/xsd/fatture/v1.2"
TIPO_DOCUMENTO = {"invoice": "TD01", "credit_note": "TD04"}
#: The documents FiC sends to the SdI; the others (quotes, proformas, DDTs, receipts) never are.
E_INVOICE_TYPES = tuple(TIPO_DOCUMENTO)
#: Codice destinatario of a foreign customer, and of an Italian one who gave none (consumer, PEC-only).
FOREIGN_CODE = "XXXXXXX"
NO_CODE = "0000000"
#: IdCodice for a foreign customer without any identifier (the AdE's convention for consumers abroad).
FOREIGN_NO_ID = "99999999999"
DEFAULT_CASSA_TYPE = "TC22"  # INPS gestione separata: the Rivalsa INPS of the document
DEFAULT_WITHHOLDING_CAUSAL = "A"  # lavoro autonomo professionale abituale
ORDER_BLOCKS = {"ordine": "DatiOrdineAcquisto", "contratto": "DatiContratto", "convenzione": "DatiConvenzione"}

_COUNTRY_BY_NAME = {name.casefold(): code for code, name in Locale("it").territories.items()
                    if len(code) == 2 and code.isalpha()}


def vat_of(item: dict) -> dict:
    return item.get("vat") or {}


def natura_of(item: dict) -> str | None:
    return vat_of(item).get("ei_type") or None


def rate_of(item: dict) -> Decimal:
    return dec(vat_of(item).get("value"))


def country_code(entity: dict) -> str:
    """ISO code of the customer's country: ``country_iso`` first, else the Italian name (FiC's ``country``)."""
    iso = str(entity.get("country_iso") or "").strip().upper()
    if iso:
        return iso
    name = str(entity.get("country") or "Italia").strip().casefold()
    return _COUNTRY_BY_NAME.get(name, name.upper()[:2])


def is_pa(entity: dict) -> bool:
    """A public administration: FiC's entity type ``pa``, or a 6-character office code on an entity
    of no declared type (a company or person with 6 characters is a wrong SDI code: 00427)."""
    if entity.get("type"):
        return entity["type"] == "pa"
    return len(str(entity.get("ei_code") or "").strip()) == 6


def transmission_format(body: dict) -> str:
    return "FPA12" if is_pa(body.get("entity") or {}) else "FPR12"


def recipient_code(entity: dict) -> str:
    code = str(entity.get("ei_code") or "").strip().upper()
    if code:
        return code
    return NO_CODE if country_code(entity) == "IT" else FOREIGN_CODE


def vat_parts(entity: dict) -> tuple[str, str] | None:
    """(IdPaese, IdCodice): a VAT number's own prefix wins over the customer's country."""
    vat = str(entity.get("vat_number") or "").strip().replace(" ", "").upper()
    country = country_code(entity)
    if vat:
        if len(vat) > 2 and vat[:2].isalpha():
            return vat[:2], vat[2:]
        return country, vat
    if country != "IT" and not entity.get("tax_code"):
        return country, FOREIGN_NO_ID
    return None


def amount(value: Any) -> str:
    """Amount2DecimalType: exactly two decimals."""
    return f"{round2(dec(value)):.2f}"


def rate_text(value: Any) -> str:
    return f"{dec(value).quantize(Decimal('0.01')):.2f}"


def price_text(value: Any) -> str:
    """Amount8DecimalType: 2 to 8 decimals, no trailing noise."""
    text = f"{dec(value).quantize(Decimal('0.00000001')):f}".rstrip("0")
    whole, _, fraction = text.partition(".")
    return f"{whole}.{fraction.ljust(2, '0')}"


def _sub(parent: ET.Element, tag: str, text: Any = None) -> ET.Element:
    element = ET.SubElement(parent, tag)
    if text is not None:
        element.text = str(text)
    return element


def _opt(parent: ET.Element, tag: str, text: Any) -> None:
    if text not in (None, ""):
        _sub(parent, tag, text)


def _address(parent: ET.Element, tag: str, street: Any, cap: Any, city: Any, province: Any, country: str) -> None:
    sede = _sub(parent, tag)
    _sub(sede, "Indirizzo", str(street or "").strip())
    _sub(sede, "CAP", str(cap or "").strip())
    _sub(sede, "Comune", str(city or "").strip())
    if country == "IT":
        _opt(sede, "Provincia", str(province or "").strip().upper())
    _sub(sede, "Nazione", country)


def _header(root: ET.Element, body: dict, company: dict, progressive: str) -> None:
    entity = body.get("entity") or {}
    header = _sub(root, "FatturaElettronicaHeader")
    transmission = _sub(header, "DatiTrasmissione")
    sender = _sub(transmission, "IdTrasmittente")
    _sub(sender, "IdPaese", "IT")
    _sub(sender, "IdCodice", company["tax_code"])
    _sub(transmission, "ProgressivoInvio", progressive)
    _sub(transmission, "FormatoTrasmissione", transmission_format(body))
    code = recipient_code(entity)
    _sub(transmission, "CodiceDestinatario", code)
    if code == NO_CODE:
        _opt(transmission, "PECDestinatario", str(entity.get("certified_email") or "").strip())

    seller = _sub(header, "CedentePrestatore")
    registry = _sub(seller, "DatiAnagrafici")
    seller_vat = _sub(registry, "IdFiscaleIVA")
    _sub(seller_vat, "IdPaese", "IT")
    _sub(seller_vat, "IdCodice", company["vat_number"])
    _opt(registry, "CodiceFiscale", company.get("tax_code"))
    _sub(_sub(registry, "Anagrafica"), "Denominazione", company["name"])
    _sub(registry, "RegimeFiscale", company.get("regime_fiscale") or "RF01")
    _address(seller, "Sede", company["address_street"], company["address_postal_code"], company["address_city"],
             company["address_province"], "IT")

    customer = _sub(header, "CessionarioCommittente")
    registry = _sub(customer, "DatiAnagrafici")
    parts = vat_parts(entity)
    if parts:
        vat = _sub(registry, "IdFiscaleIVA")
        _sub(vat, "IdPaese", parts[0])
        _sub(vat, "IdCodice", parts[1])
    _opt(registry, "CodiceFiscale", str(entity.get("tax_code") or "").strip().upper())
    personal = _sub(registry, "Anagrafica")
    if entity.get("type") == "person" and entity.get("first_name") and entity.get("last_name"):
        _sub(personal, "Nome", entity["first_name"])
        _sub(personal, "Cognome", entity["last_name"])
    else:
        _sub(personal, "Denominazione", entity.get("name") or "")
    _address(customer, "Sede", entity.get("address_street"), entity.get("address_postal_code"),
             entity.get("address_city"), entity.get("address_province"), country_code(entity))


def summary_groups(body: dict) -> list[dict]:
    """DatiRiepilogo: one per (rate, natura), each computed like FiC's totals on its own lines."""
    groups: dict[tuple[Decimal, str | None], list[dict]] = {}
    for item in body.get("items_list") or []:
        groups.setdefault((rate_of(item), natura_of(item)), []).append(item)
    rows = []
    for (rate, natura), items in sorted(groups.items(), key=lambda g: (-g[0][0], g[0][1] or "")):
        def totals_of(lines: list[dict], rate: Decimal = rate) -> dict:
            return compute_totals({**body, "items_list": lines, "payments_list": []}, lambda _vat_id: rate)

        part = totals_of(items)
        flagged = [item for item in items if item.get("apply_withholding_taxes")]
        rows.append({"rate": rate, "natura": natura, "taxable": part["taxable_amount"],
                     "vat": part["amount_vat"], "rivalsa": part["amount_rivalsa"],
                     # ImponibileCassa: the net fees the rivalsa is computed on (net also in gross mode)
                     "flagged": totals_of(flagged)["amount_net"] if flagged else Decimal(0),
                     "description": vat_of(items[0]).get("notes") or vat_of(items[0]).get("ei_description")})
    return rows


def _general(body_el: ET.Element, body: dict, totals: dict, groups: list[dict], options: dict,
             company: dict) -> None:
    general = _sub(body_el, "DatiGenerali")
    document = _sub(general, "DatiGeneraliDocumento")
    _sub(document, "TipoDocumento", TIPO_DOCUMENTO.get(body["type"], "TD01"))
    _sub(document, "Divisa", (body.get("currency") or {}).get("id") or "EUR")
    _sub(document, "Data", body["date"])
    _sub(document, "Numero", f"{body.get('number') or ''}{body.get('numeration') or ''}")
    if totals["amount_withholding_tax"] > 0:
        withholding = _sub(document, "DatiRitenuta")
        _sub(withholding, "TipoRitenuta", "RT01" if company.get("person") else "RT02")
        _sub(withholding, "ImportoRitenuta", amount(totals["amount_withholding_tax"]))
        _sub(withholding, "AliquotaRitenuta", rate_text(body.get("withholding_tax")))
        _sub(withholding, "CausalePagamento", options.get("withholding_tax_causal")
             or body.get("ei_withholding_tax_causal") or DEFAULT_WITHHOLDING_CAUSAL)
    if totals["stamp_duty"] > 0:
        stamp = _sub(document, "DatiBollo")
        _sub(stamp, "BolloVirtuale", "SI")
        _sub(stamp, "ImportoBollo", amount(totals["stamp_duty"]))
    for group in groups:
        if group["rivalsa"] <= 0:
            continue
        cassa = _sub(document, "DatiCassaPrevidenziale")
        _sub(cassa, "TipoCassa", options.get("cassa_type") or body.get("ei_cassa_type") or DEFAULT_CASSA_TYPE)
        _sub(cassa, "AlCassa", rate_text(body.get("rivalsa")))
        _sub(cassa, "ImportoContributoCassa", amount(group["rivalsa"]))
        _sub(cassa, "ImponibileCassa", amount(group["flagged"]))
        _sub(cassa, "AliquotaIVA", rate_text(group["rate"]))
        if totals["amount_withholding_tax"] > 0:
            _sub(cassa, "Ritenuta", "SI")
        _opt(cassa, "Natura", group["natura"])
    _sub(document, "ImportoTotaleDocumento", amount(totals["amount_gross"]))
    if body.get("visible_subject"):
        text = str(body["visible_subject"])
        for start in range(0, min(len(text), 1000), 200):
            _sub(document, "Causale", text[start:start + 200])

    ei_data = body.get("ei_data") or {}
    if ei_data.get("od_number") or ei_data.get("cig") or ei_data.get("cup"):
        order = _sub(general, ORDER_BLOCKS.get(ei_data.get("original_document_type") or "ordine",
                                               "DatiOrdineAcquisto"))
        _sub(order, "IdDocumento", str(ei_data.get("od_number") or ""))
        _opt(order, "Data", ei_data.get("od_date"))
        _opt(order, "CodiceCUP", ei_data.get("cup"))
        _opt(order, "CodiceCIG", ei_data.get("cig"))
    if body["type"] == "credit_note" and ei_data.get("invoice_number"):
        linked = _sub(general, "DatiFattureCollegate")
        _sub(linked, "IdDocumento", str(ei_data["invoice_number"]))
        _opt(linked, "Data", ei_data.get("invoice_date"))


def _lines(body_el: ET.Element, body: dict, totals: dict, groups: list[dict]) -> ET.Element:
    goods = _sub(body_el, "DatiBeniServizi")
    gross_mode = bool(body.get("use_gross_prices"))
    withholding = totals["amount_withholding_tax"] > 0
    for number, item in enumerate(body.get("items_list") or [], start=1):
        line = _sub(goods, "DettaglioLinee")
        _sub(line, "NumeroLinea", number)
        if item.get("code"):
            code = _sub(line, "CodiceArticolo")
            _sub(code, "CodiceTipo", "INTERNO")
            _sub(code, "CodiceValore", str(item["code"])[:35])
        description = " - ".join(str(part) for part in (item.get("name"), item.get("description")) if part)
        _sub(line, "Descrizione", description[:1000])
        _sub(line, "Quantita", price_text(item.get("qty") or 1))
        _opt(line, "UnitaMisura", item.get("measure"))
        # In gross mode the unit price on the e-invoice is the net one FiC derives (5 decimals).
        _sub(line, "PrezzoUnitario", price_text(item.get("net_price")))
        discount = dec(item.get("discount"))
        if discount:
            sconto = _sub(line, "ScontoMaggiorazione")
            _sub(sconto, "Tipo", "SC" if discount > 0 else "MG")
            _sub(sconto, "Percentuale", rate_text(abs(discount)))
        if gross_mode:
            net_total = round2(dec(item.get("net_price")) * dec(item.get("qty"), "1") * (1 - discount / 100))
        else:
            net_total = line_total(item, False)
        _sub(line, "PrezzoTotale", price_text(net_total))
        _sub(line, "AliquotaIVA", rate_text(rate_of(item)))
        if withholding and item.get("apply_withholding_taxes"):
            _sub(line, "Ritenuta", "SI")
        _opt(line, "Natura", natura_of(item))
    kind = "S" if body.get("use_split_payment") else ((body.get("ei_data") or {}).get("vat_kind") or "I")
    for group in groups:
        summary = _sub(goods, "DatiRiepilogo")
        _sub(summary, "AliquotaIVA", rate_text(group["rate"]))
        _opt(summary, "Natura", group["natura"])
        _sub(summary, "ImponibileImporto", amount(group["taxable"]))
        _sub(summary, "Imposta", amount(group["vat"]))
        _sub(summary, "EsigibilitaIVA", kind)
        if group["natura"]:
            _opt(summary, "RiferimentoNormativo", str(group["description"] or group["natura"])[:100])
    return goods


def _payments(body_el: ET.Element, body: dict, totals: dict) -> None:
    ei_data = body.get("ei_data") or {}
    method = ei_data.get("payment_method")
    if not method:
        return  # sdi_checks names the missing ModalitaPagamento
    instalments = body.get("payments_list") or [{"amount": totals["amount_due"], "due_date": body["date"]}]
    payment = _sub(body_el, "DatiPagamento")
    _sub(payment, "CondizioniPagamento", "TP02" if len(instalments) == 1 else "TP01")
    for instalment in instalments:
        detail = _sub(payment, "DettaglioPagamento")
        if method == "MP05":
            _opt(detail, "Beneficiario", ei_data.get("bank_beneficiary"))
        _sub(detail, "ModalitaPagamento", method)
        _opt(detail, "DataScadenzaPagamento", instalment.get("due_date"))
        _sub(detail, "ImportoPagamento", amount(instalment.get("amount")))
        if method == "MP05":
            _opt(detail, "IstitutoFinanziario", ei_data.get("bank_name"))
            _opt(detail, "IBAN", str(ei_data.get("bank_iban") or "").replace(" ", "").upper())


def build_xml(body: dict, *, progressive: str = "1", options: dict | None = None,
              company: dict | None = None) -> bytes:
    """The document as FatturaPA 1.2.2 (UTF-8 bytes with the XML declaration)."""
    company = company or seeds.COMPANY_PROFILE
    options = options or {}
    totals = compute_totals(body, lambda vat_id: _rate_by_id(body, vat_id))
    groups = summary_groups(body)
    root = ET.Element(f"{{{NAMESPACE}}}FatturaElettronica", {"versione": transmission_format(body)})
    _header(root, body, company, progressive)
    body_el = _sub(root, "FatturaElettronicaBody")
    _general(body_el, body, totals, groups, options, company)
    _lines(body_el, body, totals, groups)
    _payments(body_el, body, totals)
    ET.register_namespace("p", NAMESPACE)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _rate_by_id(body: dict, vat_id: Any) -> Decimal:
    for item in body.get("items_list") or []:
        if vat_of(item).get("id") == vat_id:
            return rate_of(item)
    return Decimal(0)
