"""What the SdI (and FiC's ``xml_verify`` before it) would refuse in a document's e-invoice.

``errors_of(body)`` builds the FatturaPA XML, validates it against the official 1.2.2 schema
(packaged in ``xsd/``, a copy of ``shared/fatturapa/``; a test keeps them identical) and runs the
data checks of ``shared/fatturapa/BRIEF.md``. Each error is one Italian sentence that starts with
the SdI's code where it has one, names the field, and says what to do.
"""

from __future__ import annotations

import re
import threading
import xml.etree.ElementTree as ET  # noqa: S405 - our own XML, never a stranger's
from decimal import Decimal
from pathlib import Path

import xmlschema
from stdnum import luhn
from stdnum.it import codicefiscale

from . import fatturapa
from .fatturapa import country_code, is_pa, natura_of, rate_of, recipient_code

XSD = Path(__file__).parent / "xsd" / "Schema_del_file_xml_FatturaPA_v1.2.2.xsd"
#: Naturas valid since 1 January 2021 (the generic N2, N3, N6 are refused: 00445).
NATURE = {"N1", "N2.1", "N2.2", "N3.1", "N3.2", "N3.3", "N3.4", "N3.5", "N3.6", "N4", "N5",
          "N6.1", "N6.2", "N6.3", "N6.4", "N6.5", "N6.6", "N6.7", "N6.8", "N6.9", "N7"}
PAYMENT_METHODS = {f"MP{n:02d}" for n in range(1, 24)}
_CODE = re.compile(r"^[A-Z0-9]{6,7}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
_CAP = re.compile(r"^\d{5}$")
_PROVINCE = re.compile(r"^[A-Z]{2}$")
_CF_PERSON = re.compile(r"^[A-Z0-9]{16}$")
CENT = Decimal("0.01")

_schema: xmlschema.XMLSchema | None = None


def partita_iva_ok(digits: str) -> bool:
    """11 digits with the right check digit (what the SdI can know without the tax register,
    whose lookup - office codes, ceased numbers - the sandbox does not have)."""
    return bool(re.fullmatch(r"[0-9]{11}", digits)) and digits[:7] != "0000000" and luhn.is_valid(digits)


def codice_fiscale_ok(code: str) -> bool:
    """A person's 16 characters with the right control letter, or a company's 11 digits."""
    if re.fullmatch(r"[0-9]{11}", code):
        return partita_iva_ok(code)
    return bool(_CF_PERSON.match(code)) and codicefiscale.calc_check_digit(code[:15]) == code[15]
_schema_lock = threading.Lock()


def schema() -> xmlschema.XMLSchema:
    """The official schema, loaded once (a second or so) and shared by every thread."""
    global _schema
    with _schema_lock:
        if _schema is None:
            _schema = xmlschema.XMLSchema(str(XSD))
        return _schema


def schema_errors(xml: bytes) -> list[str]:
    """00200: every way the XML breaks the schema, with the element's path."""
    errors = []
    for error in schema().iter_errors(xml):
        reason = (error.reason or str(error)).strip().splitlines()[0]
        errors.append(f"00200 - File non conforme al formato FatturaPA 1.2.2 in {error.path}: {reason}")
    return errors


def _customer_errors(body: dict) -> list[str]:
    entity = body.get("entity") or {}
    errors = []
    country = country_code(entity)
    italian = country == "IT"
    who = f"del cliente {entity.get('name') or ''}".rstrip()

    if not str(entity.get("address_street") or "").strip():
        errors.append(f"Indirizzo {who} mancante (entity.address_street): la sede è obbligatoria.")
    if not str(entity.get("address_city") or "").strip():
        errors.append(f"Comune {who} mancante (entity.address_city): la sede è obbligatoria.")
    cap = str(entity.get("address_postal_code") or "").strip()
    if italian and not _CAP.match(cap):
        errors.append(f"CAP {who} non valido ({cap or 'vuoto'}, entity.address_postal_code): "
                      "per un indirizzo italiano servono 5 cifre.")
    elif not italian and not _CAP.match(cap):
        errors.append(f"CAP {who} non valido ({cap or 'vuoto'}, entity.address_postal_code): "
                      "per un indirizzo estero senza CAP di 5 cifre indicare 00000.")
    province = str(entity.get("address_province") or "").strip()
    if italian and not _PROVINCE.match(province):
        errors.append(f"Provincia {who} non valida ({province or 'vuota'}, entity.address_province): "
                      "per un indirizzo italiano indicare la sigla di 2 lettere maiuscole.")
    if not re.match(r"^[A-Z]{2}$", country):
        errors.append(f"Nazione {who} non valida ({country}): usare il codice ISO 3166 di 2 lettere.")

    vat = str(entity.get("vat_number") or "").strip().replace(" ", "").upper()
    tax_code = str(entity.get("tax_code") or "").strip().upper()
    if italian:
        if not vat and not tax_code:
            errors.append(f"00417 - Partita IVA e codice fiscale {who} mancanti (entity.vat_number, "
                          "entity.tax_code): per un cliente italiano almeno uno dei due è obbligatorio.")
        if vat:
            digits = vat[2:] if vat.startswith("IT") else vat
            if not partita_iva_ok(digits):
                errors.append(f"00305 - Partita IVA {who} non valida ({vat}, entity.vat_number): "
                              "11 cifre con la cifra di controllo corretta.")
        if tax_code and not codice_fiscale_ok(tax_code):
            errors.append(f"00306 - Codice fiscale {who} non valido ({tax_code}, entity.tax_code): "
                          "16 caratteri per una persona, 11 cifre per una società.")

    code = recipient_code(entity)
    pec = str(entity.get("certified_email") or "").strip()
    if is_pa(entity):
        if len(code) != 6 or not _CODE.match(code):
            errors.append(f"00427 - Codice univoco ufficio {who} non valido ({entity.get('ei_code') or 'mancante'}, "
                          "entity.ei_code): una pubblica amministrazione (FPA12) richiede 6 caratteri.")
    elif not _CODE.match(code) or len(code) != 7:
        errors.append(f"00427 - Codice destinatario {who} non valido ({code}, entity.ei_code): con FPR12 "
                      "servono 7 caratteri (0000000 senza codice, XXXXXXX per un cliente estero).")
    elif not italian and code != fatturapa.FOREIGN_CODE:
        errors.append(f"Codice destinatario {who} non valido per un cliente estero ({code}, entity.ei_code): "
                      "usare XXXXXXX.")
    if pec and not _EMAIL.match(pec):
        errors.append(f"PEC {who} non valida ({pec}, entity.certified_email).")
    return errors


def _line_errors(body: dict) -> list[str]:
    errors = []
    items = body.get("items_list") or []
    if not items:
        errors.append("Il documento non ha righe (items_list): una fattura elettronica ne richiede almeno una.")
    for number, item in enumerate(items, start=1):
        rate, natura = rate_of(item), natura_of(item)
        where = f"riga {number} ({item.get('name') or ''})"
        vat_id = (item.get("vat") or {}).get("id")
        if rate == 0 and not natura:
            errors.append(f"00400 - {where}: aliquota IVA 0% senza natura (items_list.{number - 1}.vat.id = "
                          f"{vat_id}): usare un'aliquota con natura (N1, N2.1, N3.1, N4 ...).")
        elif rate != 0 and natura:
            errors.append(f"00401 - {where}: natura {natura} con aliquota {rate}% (items_list.{number - 1}.vat.id).")
        elif natura and natura not in NATURE:
            errors.append(f"00445 - {where}: la natura generica {natura} non è più ammessa dal 2021 "
                          f"(items_list.{number - 1}.vat.id = {vat_id}): usare un sottocodice ({natura}.1 ...).")
    if body.get("use_split_payment"):
        reverse = sorted({natura_of(i) for i in items if (natura_of(i) or "").startswith("N6")})
        if reverse:
            errors.append(f"00420 - Natura {', '.join(reverse)} (inversione contabile) con scissione dei "
                          "pagamenti (use_split_payment): le due cose si escludono.")
    return errors


def _document_errors(body: dict) -> list[str]:
    errors = []
    if not body.get("e_invoice"):
        errors.append("Il documento non è una fattura elettronica (e_invoice false).")
    if body.get("type") not in fatturapa.E_INVOICE_TYPES:
        errors.append(f"Un documento di tipo {body.get('type')} non si invia allo SdI: solo fatture e note di credito.")
    currency = (body.get("currency") or {}).get("id") or "EUR"
    if currency != "EUR":
        errors.append(f"Valuta {currency}: la fattura elettronica della sandbox è solo in EUR.")
    ei_data = body.get("ei_data") or {}
    method = ei_data.get("payment_method")
    if not method:
        errors.append("Modalità di pagamento mancante (ei_data.payment_method): indicarla, es. MP05 bonifico.")
    elif method not in PAYMENT_METHODS:
        errors.append(f"Modalità di pagamento {method} non valida (ei_data.payment_method): MP01 ... MP23.")
    elif method == "MP05" and not ei_data.get("bank_iban"):
        errors.append("Bonifico (MP05) senza IBAN (ei_data.bank_iban): indicare il conto su cui pagare.")
    if (ei_data.get("cig") or ei_data.get("cup")) and not ei_data.get("od_number"):
        errors.append("CIG/CUP senza numero del documento d'ordine (ei_data.od_number): la PA lo richiede.")
    return errors


def _number(element: ET.Element | None, tag: str, default: str = "0") -> Decimal:
    found = element.find(tag) if element is not None else None
    return Decimal(found.text) if found is not None and found.text else Decimal(default)


def arithmetic_errors(xml: bytes) -> list[str]:
    """The SdI's sums on the XML itself: 00423 line totals, 00419/00443/00444 summaries for every
    rate and natura, 00421 VAT of each summary, 00422 its taxable base (1 € of tolerance)."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as error:
        return [f"00200 - File XML non leggibile: {error}"]
    errors = []
    for goods in root.iter("DatiBeniServizi"):
        bases: dict[tuple[Decimal, str], Decimal] = {}
        for line in goods.findall("DettaglioLinee"):
            number = line.findtext("NumeroLinea")
            expected = _number(line, "PrezzoUnitario") * _number(line, "Quantita", "1")
            for sconto in line.findall("ScontoMaggiorazione"):
                sign = -1 if sconto.findtext("Tipo") == "SC" else 1
                expected *= 1 + sign * _number(sconto, "Percentuale") / 100
            if abs(expected - _number(line, "PrezzoTotale")) > CENT:
                errors.append(f"00423 - Riga {number}: PrezzoTotale {line.findtext('PrezzoTotale')} diverso da "
                              f"PrezzoUnitario x Quantita meno gli sconti ({expected:.2f}).")
            key = (_number(line, "AliquotaIVA"), line.findtext("Natura") or "")
            bases[key] = bases.get(key, Decimal(0)) + _number(line, "PrezzoTotale")
        for cassa in root.iter("DatiCassaPrevidenziale"):
            key = (_number(cassa, "AliquotaIVA"), cassa.findtext("Natura") or "")
            bases[key] = bases.get(key, Decimal(0)) + _number(cassa, "ImportoContributoCassa")
        summaries = {(_number(s, "AliquotaIVA"), s.findtext("Natura") or ""): s
                     for s in goods.findall("DatiRiepilogo")}
        for key in sorted(set(bases) - set(summaries)):
            errors.append(f"00419/00443 - Aliquota {key[0]}% {key[1]} usata nelle righe senza DatiRiepilogo.")
        for key in sorted(set(summaries) - set(bases)):
            errors.append(f"00444 - DatiRiepilogo con aliquota {key[0]}% {key[1]} senza righe corrispondenti.")
        for key, summary in summaries.items():
            taxable = _number(summary, "ImponibileImporto")
            if abs(taxable * key[0] / 100 - _number(summary, "Imposta")) > CENT:
                errors.append(f"00421 - Aliquota {key[0]}%: Imposta {summary.findtext('Imposta')} diversa da "
                              f"ImponibileImporto x AliquotaIVA ({taxable * key[0] / 100:.2f}).")
            if key in bases and abs(bases[key] - taxable) > Decimal(1):
                errors.append(f"00422 - Aliquota {key[0]}%: ImponibileImporto {taxable} diverso dalla somma "
                              f"delle righe ({bases[key]:.2f}).")
    return errors


def errors_of(body: dict, *, options: dict | None = None, company: dict | None = None) -> list[str]:
    """Every reason FiC's verify or the SdI would refuse this document; empty when it would pass."""
    errors = _document_errors(body) + _customer_errors(body) + _line_errors(body)
    if body.get("type") in fatturapa.E_INVOICE_TYPES and body.get("items_list"):
        xml = fatturapa.build_xml(body, options=options, company=company)
        errors += schema_errors(xml) + arithmetic_errors(xml)
    return errors
