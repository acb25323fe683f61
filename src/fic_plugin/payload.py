"""Turn a shop order into the ``data`` of FiC's create request (``POST /c/{cid}/issued_documents``).

Pure functions: order + settings + today's date in, a dict out; no I/O, so every rule is tested
without FiC. Money values in the dict are :class:`~decimal.Decimal`: whoever sends it must write
them as JSON numbers without going through a lossy float (``fic_plugin.json_codec.dumps``). The totals FiC will compute are predicted by
:func:`expected_totals` (``docs/totals.md``), so ``payments_list`` adds up to FiC's
``amount_due`` to the cent and FiC does not answer 422.
"""

from __future__ import annotations

import html
import re
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from . import einvoice, validation
from .dates import italian_day
from .errors import InvalidInput, SettingsError
from .eu_vat import check_eu_vat_number
from .formatting import country_name
from .i18n import _
from .model import DOCUMENT_TYPES, Line, Order, order_error
from .money import (
    STAMP_DUTY_AMOUNT,
    ZERO,
    Item,
    Totals,
    carve_contributions,
    compute_totals,
    round2,
    round_price,
)
from .settings import Settings
from .vat_types import check_oss, line_natura, natura_vat_id, vat_id_for

#: Types that carry money owed, hence a payment method, instalments and the bollo. FiC's spec
#: lets a quote or a DDT have ``payments_list`` too, but nothing is owed on them yet: instalments
#: would show as due on a quote and be copied, stale, into the invoice made from it.
PAYMENT_TYPES = ("invoice", "proforma", "receipt", "credit_note")
#: The bollo is due on invoices, receipts and credit notes (DPR 642/1972 Tariffa art. 13: "fatture,
#: note, conti … e simili"), not on a proforma, quote or DDT, which are not fiscal documents.
STAMP_DUTY_TYPES = ("invoice", "receipt", "credit_note")
#: DDTs have their own numbering in FiC and take no suffix (API brief §3).
NUMERATION_TYPES = tuple(t for t in DOCUMENT_TYPES if t != "delivery_note")
#: The Rivalsa INPS percent (gestione separata) the ``rivalsa_inps`` setting applies.
RIVALSA_INPS = Decimal("4")
#: The line that charges the bollo to the customer (``stamp_duty_charged_to_customer``): an
#: amount excluded from VAT's base, art. 15 DPR 633/1972, hence natura N1.
STAMP_DUTY_LINE = "Rivalsa bollo"
STAMP_DUTY_NATURA = "N1"
#: FiC publishes no limit on lines; 1,000 is far beyond any shop order and keeps one create
#: request small enough for FiC's timeouts. More is refused rather than split.
MAX_LINES = 1000
#: FatturaPA's Descrizione holds 1,000 characters: a longer item name fails at the SdI.
MAX_ITEM_NAME = 1000
#: FiC publishes no limit for the client's name; 255 is the usual column size. (The SdI takes
#: 80 for a Denominazione: FiC's XML check reports that on e-invoices.)
MAX_ENTITY_NAME = 255
ITALIAN = {"code": "it", "name": "Italiano"}
PRIVATE_ITALIAN_SDI = "0000000"
FOREIGN_SDI = "XXXXXXX"


def build_document(order: Order, document_type: str, settings: Settings, *, today: date,
                   vat_rates: dict[int, Decimal] | None = None, payment_methods: dict[int, str] | None = None,
                   marker: str | None = None, vat_naturas: dict[int, str | None] | None = None,
                   vat_types: dict[int, dict] | None = None, fic_payment_methods: dict[int, dict] | None = None,
                   payment_accounts: dict[int, dict] | None = None) -> dict[str, Any]:
    """The FiC document for ``order``, or an :class:`InvalidInput` naming the order and field.

    ``payment_methods`` (FiC id → name, from ``/info/payment_methods``) adds the method's name,
    which FiC's spec requires beside the id.
    ``vat_rates`` (FiC VAT id → percent, from ``/info/vat_types``) lets a mapping that points a
    rate at the wrong FiC VAT type be refused here. ``marker`` goes verbatim into ``subject``
    (not printed) so the document can be found again after a lost answer.

    An invoice or credit note is an e-invoice when the ``e_invoice`` setting is on: then the
    customer must be as the SdI needs it, and ``vat_types``, ``fic_payment_methods`` and
    ``payment_accounts`` (FiC's lists by id) give the natura of 0% lines, the ModalitaPagamento
    and the bank of a transfer (see :mod:`fic_plugin.einvoice`).
    """
    if document_type not in DOCUMENT_TYPES:
        raise InvalidInput(_("Unknown document type {type!r}: use one of {types}.").format(
            type=document_type, types=", ".join(DOCUMENT_TYPES)), field="document_type", order_id=order.id)
    if (order.currency or "").upper() != "EUR":
        raise order_error(order, _("it is in {currency}, but documents are issued in EUR only; issue "
                                    "this one by hand in Fatture in Cloud.").format(currency=order.currency),
                           "currency")
    check_oss(order)
    e_invoice = einvoice.is_e_invoice(document_type, settings.e_invoice)
    data: dict[str, Any] = {
        "type": document_type,
        "date": today.isoformat(),
        "currency": {"id": "EUR"},
        "language": dict(ITALIAN),
        "entity": entity(order, settings, e_invoice=e_invoice),
        "use_gross_prices": bool(order.prices_include_vat),
        "visible_subject": f"Ordine n. {order.number}",
    }
    if marker:
        data["subject"] = marker
    if settings.numeration and document_type in NUMERATION_TYPES:
        data["numeration"] = settings.numeration
    notes = notes_html(settings.default_notes)
    if notes:
        data["notes"] = notes
    # Sent even when off: an account-level default would otherwise change the totals.
    terms = contributions(order, settings)
    data["rivalsa"] = terms["rivalsa"]
    data["cassa"] = terms["cassa"]
    if terms["cassa"]:
        data["ei_cassa_type"] = settings.cassa_type
    data["withholding_tax"] = terms["withholding_tax"]
    data["withholding_tax_taxable"] = Decimal("100")
    if terms["withholding_tax"]:
        data["ei_withholding_tax_causal"] = settings.withholding_tax_causal
    if terms["use_split_payment"]:
        data["use_split_payment"] = True
    data["items_list"] = items_list(order, settings, vat_rates=vat_rates, vat_naturas=vat_naturas,
                                    document_type=document_type, vat_types=vat_types if e_invoice else None)
    if e_invoice:
        data["e_invoice"] = True
        data["ei_data"] = einvoice.ei_data(order, _payment_mapping(order, settings),
                                           payment_methods=fic_payment_methods, payment_accounts=payment_accounts,
                                           beneficiary=settings.shop_name)
    totals = expected_totals(order, settings, document_type=document_type, vat_naturas=vat_naturas)
    if totals.amount_gross <= 0:
        raise order_error(order, _("its total is {total}: a document needs a total above zero.").format(
            total=totals.amount_gross), "total")
    if document_type in STAMP_DUTY_TYPES:
        data["stamp_duty"] = totals.stamp_duty
    if document_type in PAYMENT_TYPES:
        mapping = _payment_mapping(order, settings)
        if mapping.get("payment_method_id") is not None:
            data["payment_method"] = {"id": mapping["payment_method_id"]}
            name = (payment_methods or {}).get(mapping["payment_method_id"])
            if name:
                data["payment_method"]["name"] = name
        data["payments_list"] = payments_list(order, totals.amount_due, settings, today,
                                              document_type=document_type)
    return data


def expected_totals(order: Order, settings: Settings, *, document_type: str = "invoice",
                    vat_naturas: dict[int, str | None] | None = None) -> Totals:
    """The totals FiC will compute for the document :func:`build_document` makes of ``order``.

    Without ``vat_naturas`` every 0% line counts for the bollo (its natura is unknown).
    """
    return _priced(order, settings, document_type, vat_naturas)[1]


def contributions(order: Order, settings: Settings) -> dict[str, Any]:
    """The percents the document carries: rivalsa INPS, cassa, ritenuta (business customers only,
    ``../shared/fatturapa/BRIEF.md``: the withholding agent is the business), split payment."""
    return {
        "rivalsa": RIVALSA_INPS if settings.rivalsa_inps else ZERO,
        "cassa": settings.cassa_rate if settings.cassa_type else ZERO,
        "withholding_tax": settings.withholding_tax if order.customer.is_business else ZERO,
        # Scissione dei pagamenti (art. 17-ter DPR 633/1972): public administrations pay the VAT
        # to the state themselves.
        "use_split_payment": order.customer.type == "pa",
    }


def _priced(order: Order, settings: Settings, document_type: str,
            vat_naturas: dict[int, str | None] | None) -> tuple[list[Item], Totals]:
    """The document's items (prices as sent, bollo line included) and their totals."""
    terms = contributions(order, settings)
    flagging = bool(terms["rivalsa"] or terms["cassa"] or terms["withholding_tax"])
    items = [Item(price=round_price(line.unit_price), qty=line.qty, vat_rate=line.vat_rate,
                  discount=line.discount, apply_withholding_taxes=flagging and line.is_compensation,
                  natura=line_natura(order, line, settings, vat_naturas))
             for line in order.lines]
    rates = {"rivalsa": terms["rivalsa"], "cassa": terms["cassa"]}
    gross = bool(order.prices_include_vat)
    if settings.rivalsa_included_in_price and (rates["rivalsa"] or rates["cassa"]):
        items = carve_contributions(items, use_gross_prices=gross, **rates)
    if terms["use_split_payment"] and any((i.natura or "").startswith("N6") for i in items):
        raise order_error(order, _("a public administration's invoice uses split payment, which cannot be "
                                    "combined with reverse charge (natura N6.x, SdI 00420). Issue it by hand."),
                           "customer.type")
    kwargs = dict(use_gross_prices=gross, withholding_tax=terms["withholding_tax"],
                  use_split_payment=terms["use_split_payment"],
                  apply_stamp_duty=settings.stamp_duty and document_type in STAMP_DUTY_TYPES, **rates)
    totals = compute_totals(items, **kwargs)
    if totals.stamp_duty and settings.stamp_duty_charged_to_customer:
        items.append(Item(price=STAMP_DUTY_AMOUNT, qty=Decimal("1"), vat_rate=ZERO, natura=STAMP_DUTY_NATURA,
                          label=STAMP_DUTY_LINE))
        totals = compute_totals(items, **kwargs)
    return items, totals


def payments_list(order: Order, amount_due: Decimal, settings: Settings, today: date, *,
                  document_type: str = "invoice") -> list[dict[str, Any]]:
    """FiC instalments adding up to ``amount_due`` exactly, with what the order has received.

    Unpaid: one ``not_paid`` instalment due ``payment_due_days`` after today. Partly paid: a
    ``paid`` instalment of what was received and a ``not_paid`` one for the rest. Paid or
    overpaid: one ``paid`` instalment of ``amount_due`` (the caller warns about the excess). A
    credit note's instalment is the refund still to make, so the order's payments do not count.
    """
    mapping = _payment_mapping(order, settings)
    account = mapping.get("payment_account_id")
    due = today + timedelta(days=settings.payment_due_days)
    paid = round2(order.amount_paid) if document_type != "credit_note" else ZERO
    if paid <= 0:
        return [_instalment(amount_due, due, "not_paid", account)]
    if account is None:
        raise SettingsError(
            _("Order {number}: it has payments, but the payment method {method!r} has no FiC payment "
              "account to record them on. Choose its account in Configurazione "
              "pagamenti.").format(number=order.number, method=order.payment_method),
            field="payment_mapping", order_id=order.id)
    paid_on = _last_payment_date(order) or today
    # A paid order (the shop says so) is paid in full, even when FiC's total is a cent above.
    if paid >= amount_due or (order.paid_at is not None and document_type != "credit_note"):
        return [_instalment(amount_due, paid_on, "paid", account, paid_date=paid_on)]
    return [
        _instalment(paid, paid_on, "paid", account, paid_date=paid_on),
        _instalment(amount_due - paid, due, "not_paid", account),
    ]


def entity(order: Order, settings: Settings, *, e_invoice: bool = False) -> dict[str, Any]:
    """FiC's ``entity`` (the client, inline) from the order's customer, checked and normalised;
    for an e-invoice also as the SdI needs it (:func:`fic_plugin.einvoice.customer_entity`)."""
    customer = order.customer
    name = (customer.name or "").strip()
    if not name:
        raise order_error(order, _("the customer has no name; add the company or person name to the "
                                    "order."), "customer.name")
    if len(name) > MAX_ENTITY_NAME:
        raise order_error(order, _("the customer name is {length} characters long; Fatture in Cloud "
                                    "takes at most {limit}.").format(length=len(name), limit=MAX_ENTITY_NAME),
                           "customer.name")
    italian = customer.is_italian
    iso = (customer.country_iso or "IT").upper()
    result: dict[str, Any] = {"type": customer.type if customer.type in ("company", "pa") else "person",
                              "name": name}
    if customer.type == "person":
        for key in ("first_name", "last_name"):
            if (getattr(customer, key) or "").strip():
                result[key] = getattr(customer, key).strip()
    with _about(order):
        if customer.vat_number:
            result["vat_number"] = validation.check_vat_number(customer.vat_number, iso,
                                                               field="customer.vat_number")
            if customer.vat_area == "EU":
                # Intra-EU VAT rests on this number: its shape and check digit, offline.
                check_eu_vat_number(customer.vat_number, iso)
        if customer.tax_code:
            result["tax_code"] = (validation.check_tax_code(customer.tax_code, field="customer.tax_code")
                                  if italian else customer.tax_code.strip())
        for key in ("address_street", "address_postal_code", "address_city", "address_province"):
            if (getattr(customer, key) or "").strip():
                result[key] = getattr(customer, key).strip()
        result["country"] = country_name(iso)  # FiC's ``country`` is the Italian name
        result["country_iso"] = iso
        if customer.email:
            result["email"] = validation.check_email(customer.email, field="customer.email")
        if customer.pec:
            result["certified_email"] = validation.check_email(customer.pec, field="customer.pec")
        if customer.phone:
            result["phone"] = validation.check_phone(customer.phone, field="customer.phone")
        if not italian:
            # The SdI's code for every foreign client (their copy is not delivered by the SdI).
            result["ei_code"] = FOREIGN_SDI
        elif customer.sdi_code:
            result["ei_code"] = validation.check_sdi_code(customer.sdi_code, field="customer.sdi_code")
        else:
            # Private Italians (or firms with only a PEC): the SdI's "no code" value.
            result["ei_code"] = PRIVATE_ITALIAN_SDI
    if e_invoice:
        with _about(order):
            return einvoice.customer_entity(order, result)
    if italian and not customer.vat_number and not customer.tax_code and not settings.ignore_required_fields:
        raise order_error(order, _("the customer is Italian but has neither a VAT number (Partita IVA) "
                                    "nor a tax code (codice fiscale). Add one to the order, or turn on "
                                    "Ignora campi obbligatori in the settings."), "customer.tax_code")
    return result


def items_list(order: Order, settings: Settings, *, vat_rates: dict[int, Decimal] | None = None,
               vat_naturas: dict[int, str | None] | None = None, document_type: str = "invoice",
               vat_types: dict[int, dict] | None = None) -> list[dict[str, Any]]:
    """FiC's ``items_list``: one item per order line (goods, services, shipping, fees), in order,
    then the "Rivalsa bollo" line when the customer pays the bollo. ``vat_types`` (for an
    e-invoice) refuses a 0% line whose VAT type has no valid natura."""
    _check_lines(order)
    price_key = "gross_price" if order.prices_include_vat else "net_price"
    priced, _totals = _priced(order, settings, document_type, vat_naturas)
    items = []
    for line, priced_item in zip(order.lines, priced, strict=False):  # then the added lines
        item: dict[str, Any] = {"name": line.name.strip()}
        if line.code:
            item["code"] = line.code
        item["qty"] = line.qty
        item[price_key] = priced_item.price
        item["discount"] = line.discount
        item["vat"] = {"id": vat_id_for(order, line, settings, vat_rates, vat_naturas)}
        einvoice.check_vat_natura(order, item["name"], item["vat"]["id"], vat_types)
        # FiC computes rivalsa, cassa and ritenuta on the flagged items only: the professional's
        # fees (kind service), never goods, shipping or other fees (BRIEF.md "Fiscal rules").
        item["apply_withholding_taxes"] = priced_item.apply_withholding_taxes
        items.append(item)
    for extra in priced[len(order.lines):]:
        # Lines the plugin adds: the rounding cent of carved-out contributions, the bollo charged.
        if extra.label == STAMP_DUTY_LINE:
            vat_id = natura_vat_id(order, STAMP_DUTY_NATURA, vat_naturas)
        else:
            vat_id = vat_id_for(order, Line(extra.label or "", "1", extra.price, extra.vat_rate), settings,
                             vat_rates, vat_naturas)
        items.append({"name": extra.label, "qty": extra.qty, price_key: extra.price, "discount": ZERO,
                      "vat": {"id": vat_id}, "apply_withholding_taxes": False})
    return items


def notes_html(text: str | None) -> str:
    """Plain text as the HTML FiC renders in ``notes``: escaped, blank lines make paragraphs."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", (text or "").replace("\r\n", "\n")) if p.strip()]
    return "".join("<p>" + html.escape(p).replace("\n", "<br>") + "</p>" for p in paragraphs)


def _check_lines(order: Order) -> None:
    if not order.lines:
        raise order_error(order, _("it has no lines: add at least one product."), "lines")
    if len(order.lines) > MAX_LINES:
        raise order_error(order, _("it has {count} lines; a document takes at most {limit}. Split the "
                                    "order.").format(count=len(order.lines), limit=MAX_LINES), "lines")
    for index, line in enumerate(order.lines):
        where = f"lines[{index}]"
        label = line.name or str(index + 1)
        name = (line.name or "").strip()
        if not name:
            raise order_error(order, _("line {n} has no name.").format(n=index + 1), f"{where}.name")
        if len(name) > MAX_ITEM_NAME:
            raise order_error(order, _("the name of line {n} is {length} characters long; at most {limit} "
                                        "are allowed.").format(n=index + 1, length=len(name), limit=MAX_ITEM_NAME),
                               f"{where}.name")
        if line.qty <= 0:
            raise order_error(order, _("line {line!r} has quantity {qty}; it must be above zero.").format(
                line=label, qty=line.qty), f"{where}.qty")
        if line.unit_price < 0:
            raise order_error(order, _("line {line!r} has a negative price ({price}); give discounts as a "
                                        "percentage instead.").format(line=label, price=line.unit_price),
                               f"{where}.unit_price")
        if not 0 <= line.discount <= 100:
            raise order_error(order, _("line {line!r} has discount {discount}%; it must be between 0 and "
                                        "100.").format(line=label, discount=line.discount), f"{where}.discount")


def _payment_mapping(order: Order, settings: Settings) -> dict[str, int | None]:
    mapping = settings.payment_mapping.get(order.payment_method)
    if mapping is None:
        raise SettingsError(
            _("Order {number}: the payment method {method!r} has no FiC payment method. Map it in "
              "Configurazione pagamenti.").format(number=order.number, method=order.payment_method),
            field="payment_mapping", order_id=order.id)
    return mapping


def _instalment(amount: Decimal, due: date, status: str, account: int | None, *,
                paid_date: date | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {"amount": amount, "due_date": due.isoformat(), "status": status}
    if paid_date is not None:
        result["paid_date"] = paid_date.isoformat()
    if account is not None:
        result["payment_account"] = {"id": account}
    return result


def _last_payment_date(order: Order) -> date | None:
    # An aware payment time (Django, Oscar) counts on its Italian day: 23:30 UTC is tomorrow in Rome.
    days = [italian_day(p.paid_at) for p in order.payments if p.paid_at is not None]
    return max(days) if days else None


class _about:
    """Re-raise a validator's error with the order's number in front and its id attached."""

    def __init__(self, order: Order):
        self.order = order

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type | None, error: BaseException | None, tb: Any) -> bool:
        if isinstance(error, InvalidInput) and error.order_id is None:
            raise order_error(self.order, error.message, error.field or "customer") from None
        return False
