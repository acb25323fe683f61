"""What an electronic invoice (FatturaPA, sent through the SdI) needs beyond a plain document.

Pure rules, no I/O: which documents are e-invoices, the customer as the SdI reads it, the
ModalitaPagamento (``ei_data.payment_method``) and the bank of a transfer, the natura of every 0%
line. Each problem is refused here, naming the order and the field, before FiC is called: an
e-invoice the SdI discards comes back days later, after the customer was told it was issued.
The lookups (FiC's VAT types, payment methods and accounts, by id) come from the caller.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from .errors import SettingsError
from .i18n import _
from .model import Order, order_error

#: The documents FiC sends to the SdI. Receipts, quotes, proformas and DDTs never are.
E_INVOICE_TYPES = ("invoice", "credit_note")
#: Naturas of a 0% line valid since 1 January 2021 (the generic N2, N3 and N6 are discarded, 00445).
VALID_NATURAS = frozenset({
    "N1", "N2.1", "N2.2", "N3.1", "N3.2", "N3.3", "N3.4", "N3.5", "N3.6", "N4", "N5",
    "N6.1", "N6.2", "N6.3", "N6.4", "N6.5", "N6.6", "N6.7", "N6.8", "N6.9", "N7",
})
#: ModalitaPagamento codes of FatturaPA 1.2.2 (MP01 cash … MP23 PagoPA).
PAYMENT_CODES = frozenset(f"MP{n:02d}" for n in range(1, 24))
BANK_TRANSFER = "MP05"
PRIVATE_ITALIAN_SDI = "0000000"
FOREIGN_SDI = "XXXXXXX"
FOREIGN_CAP = "00000"

#: ``ei_status`` values after which the SdI has the invoice: a send is not to be made again.
SENT_STATES = frozenset({"attempt", "sent", "pending", "processing", "delivered", "not_delivered", "accepted",
                         "no_response", "manual_accepted"})
#: States still moving at the SdI: the worker polls these when no webhook told their outcome.
IN_FLIGHT_STATES = frozenset({"attempt", "sent", "pending", "processing"})
#: States FiC lets the owner correct and send again.
RESENDABLE_STATES = frozenset({"discarded", "rejected", "error", "manual_rejected"})
#: States whose reason FiC explains (``e_invoice/error_reason``).
FAILED_STATES = RESENDABLE_STATES | {"not_delivered"}


def is_e_invoice(document_type: str, enabled: bool) -> bool:
    """True when a document of this type is issued as an e-invoice (setting ``e_invoice``)."""
    return enabled and document_type in E_INVOICE_TYPES


def needs_send(ei_status: str | None) -> bool:
    """An e-invoice FiC has not handed to the SdI yet (or whose send was refused)."""
    return ei_status not in SENT_STATES


# --- the customer --------------------------------------------------------------------------------


def customer_entity(order: Order, entity: dict[str, Any], *, ignore_required_fields: bool = False) -> dict[str, Any]:
    """``entity`` made fit for the SdI, or :class:`InvalidInput` naming what is missing.

    ``ignore_required_fields`` does not apply: an Italian customer without Partita IVA and
    codice fiscale is discarded by the SdI (00417) whatever the shop's settings say.
    """
    customer = order.customer
    result = dict(entity)
    if customer.type == "pa":
        return _public_administration(order, result)
    if customer.is_italian:
        if not (result.get("vat_number") or result.get("tax_code")):
            problem = _("the customer is Italian but has neither a VAT number (Partita IVA) nor a tax code "
                        "(codice fiscale): the SdI discards such an e-invoice (code 00417), even with Ignora "
                        "campi obbligatori on. Add one to the order.")
            raise order_error(order, problem, "customer.tax_code")
        _italian_address(order, result)
        code = (customer.sdi_code or "").strip().upper()
        if code and len(code) != 7:
            raise order_error(order, _("the SDI code {code!r} has {n} characters; a business's codice "
                                       "destinatario has 7 (6 only for a public administration, type pa).").format(
                code=customer.sdi_code, n=len(code)), "customer.sdi_code")
        if customer.type == "company" and not code and not customer.pec:
            raise order_error(order, _("the customer is a company without SDI code (codice destinatario) or PEC: "
                                       "add one of them, so the SdI can deliver the e-invoice."),
                              "customer.sdi_code")
        result["ei_code"] = code or PRIVATE_ITALIAN_SDI
        return result
    _foreign(order, result)
    return result


def _italian_address(order: Order, result: dict[str, Any]) -> None:
    for key, label in (("address_street", _("street (indirizzo)")), ("address_postal_code", _("CAP")),
                       ("address_city", _("city (comune)")), ("address_province", _("province (provincia)"))):
        if not (result.get(key) or "").strip():
            raise order_error(order, _("the customer's {what} is missing: an e-invoice to an Italian customer "
                                       "needs street, CAP, city and province. Add it to the order.").format(
                what=label), f"customer.{key}")
    if not re.fullmatch(r"[0-9]{5}", result["address_postal_code"]):
        raise order_error(order, _("the CAP {cap!r} is not valid: an Italian CAP has 5 digits.").format(
            cap=result["address_postal_code"]), "customer.address_postal_code")
    province = result["address_province"].upper()
    if not re.fullmatch(r"[A-Z]{2}", province):
        raise order_error(order, _("the province {province!r} is not valid: write its 2-letter abbreviation, "
                                   "like MI or RM.").format(province=result["address_province"]),
                          "customer.address_province")
    result["address_province"] = province


def _foreign(order: Order, result: dict[str, Any]) -> None:
    for key, label in (("address_street", _("street")), ("address_city", _("city"))):
        if not (result.get(key) or "").strip():
            raise order_error(order, _("the customer's {what} is missing: an e-invoice names the customer's "
                                       "address, also abroad. Add it to the order.").format(what=label),
                              f"customer.{key}")
    if order.customer.type == "company" and not result.get("vat_number"):
        raise order_error(order, _("the customer is a foreign company without VAT number: the e-invoice "
                                   "identifies it by that number. Add it to the order."), "customer.vat_number")
    # FatturaPA's CAP is 5 digits; a foreign postcode that is not is written as 00000, and the
    # Provincia exists only for Italy.
    if not re.fullmatch(r"[0-9]{5}", result.get("address_postal_code") or ""):
        result["address_postal_code"] = FOREIGN_CAP
    result.pop("address_province", None)
    result["ei_code"] = FOREIGN_SDI


def _public_administration(order: Order, result: dict[str, Any]) -> dict[str, Any]:
    customer = order.customer
    if not customer.is_italian:
        raise order_error(order, _("a public administration (type pa) is an Italian office; this customer's "
                                   "country is {country}.").format(country=customer.country_iso),
                          "customer.country_iso")
    _italian_address(order, result)
    code = (customer.sdi_code or "").strip().upper()
    if not code:
        raise order_error(order, _("the public administration has no office code (codice univoco ufficio, 6 "
                                   "characters, from IndicePA): put it in the SDI code."), "customer.sdi_code")
    if not re.fullmatch(r"[A-Z0-9]{6}", code):
        raise order_error(order, _("the office code {code!r} of a public administration has 6 letters and "
                                   "digits (codice univoco ufficio).").format(code=customer.sdi_code),
                          "customer.sdi_code")
    if not (result.get("vat_number") or result.get("tax_code")):
        raise order_error(order, _("the public administration has neither codice fiscale nor Partita IVA: "
                                   "add its codice fiscale to the order."), "customer.tax_code")
    result["type"] = "pa"
    result["ei_code"] = code
    return result


# --- ei_data -------------------------------------------------------------------------------------


def ei_data(order: Order, mapping: Mapping[str, Any], *, payment_methods: Mapping[int, dict] | None,
            payment_accounts: Mapping[int, dict] | None, beneficiary: str = "") -> dict[str, Any]:
    """FiC's ``ei_data``: ModalitaPagamento, the bank of a transfer, a PA's order references.

    ``mapping`` is the order's entry of ``payment_mapping``. Without FiC's lists (a pure test)
    only an ``ei_payment_method`` written in the mapping is known.
    """
    code = payment_code(mapping, payment_methods)
    if code is None:
        raise SettingsError(_("Order {number}: the payment method {method!r} gives the e-invoice no "
                              "ModalitaPagamento (MP01…MP23). Choose one for it in Configurazione pagamenti "
                              "(ei_payment_method, e.g. MP05 for a bank transfer).").format(
            number=order.number, method=order.payment_method), field="payment_mapping", order_id=order.id)
    data: dict[str, Any] = {"payment_method": code}
    if code == BANK_TRANSFER and payment_methods is not None:
        bank = bank_details(mapping, payment_methods, payment_accounts or {}, beneficiary=beneficiary)
        if not bank.get("bank_iban"):
            raise SettingsError(_("Order {number}: the payment method {method!r} is a bank transfer (MP05), "
                                  "but its FiC payment account has no IBAN. Choose a bank account in "
                                  "Configurazione pagamenti.").format(number=order.number,
                                                                     method=order.payment_method),
                                field="payment_mapping", order_id=order.id)
        data.update(bank)
    if order.customer.type == "pa":
        data["vat_kind"] = "S"  # scissione dei pagamenti: the PA pays the VAT to the state
    if order.po_number or order.cig or order.cup:
        data["original_document_type"] = "ordine"
        for key, value in (("od_number", order.po_number), ("cig", order.cig), ("cup", order.cup)):
            if value:
                data[key] = str(value).strip()
        if order.po_date:
            data["od_date"] = order.po_date.isoformat()
    return data


def payment_code(mapping: Mapping[str, Any], payment_methods: Mapping[int, dict] | None) -> str | None:
    """The ModalitaPagamento of a mapping: its own ``ei_payment_method``, else FiC's method's."""
    code = mapping.get("ei_payment_method")
    if not code and payment_methods is not None:
        method = payment_methods.get(mapping.get("payment_method_id"))
        code = (method or {}).get("ei_payment_method")
    code = (code or "").strip().upper()
    return code if code in PAYMENT_CODES else None


def bank_details(mapping: Mapping[str, Any], payment_methods: Mapping[int, dict],
                 payment_accounts: Mapping[int, dict], *, beneficiary: str = "") -> dict[str, str]:
    """Bank, IBAN and beneficiary for an MP05: the mapped account's, else the FiC method's."""
    method = payment_methods.get(mapping.get("payment_method_id")) or {}
    account = payment_accounts.get(mapping.get("payment_account_id")) or method.get("default_payment_account") or {}
    iban = (account.get("iban") or method.get("bank_iban") or "").replace(" ", "").upper()
    result = {}
    if iban:
        result["bank_iban"] = iban
        result["bank_name"] = account.get("name") if account.get("iban") else method.get("bank_name") or ""
        result["bank_beneficiary"] = method.get("bank_beneficiary") or beneficiary
    return {k: v for k, v in result.items() if v}


# --- VAT: the natura of 0% lines ---------------------------------------------------------------------


def natura_problem(vat_type: Mapping[str, Any] | None) -> str | None:
    """Why a VAT type cannot be used on an e-invoice line at 0%, or None when it can."""
    if vat_type is None:
        return None
    try:
        zero = float(str(vat_type.get("value"))) == 0  # compare only: never money
    except ValueError:
        return None
    if not zero:
        return None
    natura = str(vat_type.get("ei_type") or "").strip().upper()
    if not natura:
        return _("it is at 0% without a natura (N1…N7)")
    if natura not in VALID_NATURAS:
        return _("its natura {natura} is no longer accepted by the SdI since 2021: use a sub-code such as "
                 "N2.1, N3.1 or N6.1").format(natura=natura)
    return None


def check_vat_natura(order: Order, line_name: str, vat_id: int, vat_types: Mapping[int, dict] | None) -> None:
    if vat_types is None:
        return
    problem = natura_problem(vat_types.get(vat_id))
    if problem:
        raise SettingsError(_("Order {number}: line {line!r} uses FiC VAT type {id}, but {problem}; the SdI "
                              "discards such an e-invoice. Map the rate to a VAT type with a natura in "
                              "Configurazione imposte.").format(number=order.number, line=line_name, id=vat_id,
                                                                problem=problem),
                            field="vat_mapping", order_id=order.id)


def mapping_problems(vat_mapping: Mapping[str, int], payment_mapping: Mapping[str, Mapping[str, Any]], *,
                     vat_types: Mapping[int, dict], payment_methods: Mapping[int, dict],
                     payment_accounts: Mapping[int, dict]) -> list[SettingsError]:
    """What in the mappings would make an e-invoice fail: checked when they are saved."""
    problems = []
    for rate, vat_id in vat_mapping.items():
        problem = natura_problem(vat_types.get(vat_id))
        if problem:
            problems.append(SettingsError(_("vat_mapping: the rate {rate} goes to FiC VAT type {id}, but {problem}; "
                                            "e-invoices need it. Choose a VAT type with a natura.").format(
                rate=rate, id=vat_id, problem=problem), field="vat_mapping"))
    for method, mapping in payment_mapping.items():
        if mapping.get("payment_method_id") is None and not mapping.get("ei_payment_method"):
            continue
        code = payment_code(mapping, payment_methods)
        if code is None:
            problems.append(SettingsError(_("payment_mapping: the payment method {method!r} has no ModalitaPagamento "
                                            "for e-invoices (MP01…MP23): set its ei_payment_method, or map it to a "
                                            "FiC payment method that has one.").format(method=method),
                                          field="payment_mapping"))
        elif code == BANK_TRANSFER and not bank_details(mapping, payment_methods, payment_accounts).get("bank_iban"):
            problems.append(SettingsError(_("payment_mapping: the payment method {method!r} is a bank transfer "
                                            "(MP05) but its payment account has no IBAN: choose a bank "
                                            "account.").format(method=method), field="payment_mapping"))
    return problems


#: Signs owners type that FatturaPA's free text refuses (only Basic Latin and Latin-1, SdI 00200).
_SDI_FOLDS = str.maketrans({"\u2014": "-", "\u2013": "-", "\u201c": '"', "\u201d": '"', "\u2018": "'",
                            "\u2019": "'", "\u20ac": "EUR", "\u2026": "...", "\u00a0": " "})


def sdi_text(value: str) -> str:
    """``value`` in the characters the SdI accepts in a text field: dashes, curly quotes and the
    euro sign written plainly, accents kept, anything else outside Latin-1 as ``?``."""
    folded = unicodedata.normalize("NFC", value.translate(_SDI_FOLDS))
    return folded.encode("latin-1", errors="replace").decode("latin-1")
