"""The data the plugin works with, in the shop's and FiC's words.

Money is always :class:`decimal.Decimal`; converters accept strings and ints (never floats, which
cannot hold cents exactly) so that JSON and SQLite values come in without loss.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import attrs

from .errors import InvalidInput
from .i18n import N_, _, translations

#: FiC document types the plugin issues, in the source's English; the screens translate them
#: (``fic_plugin.labels.document_type_label``), the catalog holds the Italian.
DOCUMENT_TYPE_LABELS: dict[str, str] = {
    "invoice": N_("Invoice"),
    "quote": N_("Quote"),
    "proforma": N_("Proforma"),
    "delivery_note": N_("Delivery note"),
    "credit_note": N_("Credit note"),
    "receipt": N_("Receipt"),
}

#: The Italian names shop owners know (Fattura, Preventivo…), from the catalog: what the customer
#: and FiC read is Italian whatever the screen's language.
DOCUMENT_TYPES: dict[str, str] = {key: translations("it").gettext(label)
                                  for key, label in DOCUMENT_TYPE_LABELS.items()}

#: The Italian name with its article, for what the customer reads (``{document_type_article}``):
#: la fattura, il preventivo, la proforma, il documento di trasporto, la nota di credito, la ricevuta.
WITH_ARTICLE: dict[str, str] = {
    "invoice": "la fattura",
    "quote": "il preventivo",
    "proforma": "la proforma",
    "delivery_note": "il documento di trasporto",
    "credit_note": "la nota di credito",
    "receipt": "la ricevuta",
}

#: Types a shop owner can create from the order panel.
PANEL_DOCUMENT_TYPES = ("invoice", "quote", "proforma", "delivery_note")

#: Conversions FiC's transform allows, by the type of the original document.
CONVERSIONS: dict[str, tuple[str, ...]] = {
    "quote": ("invoice", "proforma", "delivery_note"),
    "proforma": ("invoice", "delivery_note"),
    "delivery_note": ("invoice",),
    "invoice": ("credit_note", "delivery_note"),
}


def to_decimal(value: Any) -> Decimal:
    """Convert a money or quantity value to Decimal, refusing floats and garbage."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool) or isinstance(value, float):
        raise InvalidInput(f"{value!r} is not an exact amount: write it as a string like \"12.50\"")
    try:
        result = Decimal(str(value).strip().replace(",", ".")) if isinstance(value, str) else Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise InvalidInput(f"{value!r} is not a number") from None
    if not result.is_finite():
        raise InvalidInput(f"{value!r} is not a number")
    return result


def _optional_decimal(value: Any) -> Decimal | None:
    return None if value is None or value == "" else to_decimal(value)


#: Member states of the European Union by ISO code (Greece is ``GR`` here, not VIES's ``EL``).
EU_COUNTRIES = frozenset({
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT",
    "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
})
#: Where a customer is, for the VAT mapping: ``vat_mapping`` keys like ``0:EU`` apply to one area.
VAT_AREAS = ("IT", "EU", "extra-EU")
#: The scopes of a ``vat_mapping`` key after its rate: an area (``0:IT``; ``0:EU`` and
#: ``0:extra-EU`` are still read), or an area of business customers and a kind of supply (a 0%
#: sale's natura depends on both: N3.2 for goods to an EU business, N2.1 for services, N3.1 for
#: exported goods). OSS keys name an EU country instead (``19:DE``).
VAT_SCOPES = ("IT", "EU", "extra-EU", "EU-business:goods", "EU-business:services", "extra-EU:goods",
              "extra-EU:services")


@attrs.frozen
class Customer:
    """Who the document is made out to: a company (``type="company"``), a person, or a public
    administration (``type="pa"``, whose ``sdi_code`` is the 6-character office code)."""

    name: str
    type: str = attrs.field(default="person", validator=attrs.validators.in_(("company", "person", "pa")))
    first_name: str | None = None
    last_name: str | None = None
    vat_number: str | None = None  # Partita IVA, without the country prefix for Italians
    tax_code: str | None = None  # Codice fiscale
    email: str | None = None
    pec: str | None = None  # Posta elettronica certificata
    sdi_code: str | None = None  # Codice destinatario (SDI), 7 characters; a PA's office code has 6
    phone: str | None = None  # E.164, e.g. +393331234567
    address_street: str | None = None
    address_postal_code: str | None = None
    address_city: str | None = None
    address_province: str | None = None
    country_iso: str = "IT"

    @property
    def is_italian(self) -> bool:
        return (self.country_iso or "IT").upper() == "IT"

    @property
    def is_business(self) -> bool:
        """A company, a public administration, or a person with a VAT number (a sole trader):
        the customers who act as withholding agents for the ritenuta d'acconto."""
        return self.type != "person" or bool((self.vat_number or "").strip())

    @property
    def vat_area(self) -> str:
        """``IT``, ``EU`` or ``extra-EU``: a 0% sale's exemption (natura) depends on it, e.g. an
        intra-community supply (N3.2) or an export (N3.1)."""
        if self.is_italian:
            return "IT"
        return "EU" if self.country_iso.upper() in EU_COUNTRIES else "extra-EU"


#: What an order line is: ``goods``, a ``service`` (the professional's compensation: rivalsa
#: INPS, cassa and ritenuta apply to it), ``shipping`` or another ``fee`` (cash on delivery,
#: packaging …: not compensation). ``product``, the old name of ``goods``, is still read.
LINE_KINDS = ("goods", "service", "shipping", "fee")


def _line_kind(value: Any) -> str:
    kind = "goods" if value in (None, "", "product") else str(value).strip().lower()
    if kind == "product":
        kind = "goods"
    if kind not in LINE_KINDS:
        raise InvalidInput(_kind_error(value), field="kind")
    return kind


def _kind_error(value: Any) -> str:
    from .i18n import _

    return _("{kind!r} is not a line kind: use one of {kinds}.").format(kind=value, kinds=", ".join(LINE_KINDS))


@attrs.frozen
class Line:
    """One row of the order: goods, a service, the shipping or a fee (``kind``).

    ``unit_price`` is net of VAT unless the order says ``prices_include_vat``; ``vat_rate`` and
    ``discount`` are percentages.
    """

    name: str
    qty: Decimal = attrs.field(converter=to_decimal)
    unit_price: Decimal = attrs.field(converter=to_decimal)
    vat_rate: Decimal = attrs.field(converter=to_decimal)
    discount: Decimal = attrs.field(default=Decimal("0"), converter=to_decimal)
    kind: str = attrs.field(default="goods", converter=_line_kind)
    code: str | None = None

    @property
    def is_compensation(self) -> bool:
        """A professional's fee: what rivalsa INPS, cassa and ritenuta are computed on."""
        return self.kind == "service"


@attrs.frozen
class Payment:
    """Money received for an order (``amount`` in the order's currency)."""

    amount: Decimal = attrs.field(converter=to_decimal)
    method: str = "bank_transfer"
    paid_at: datetime = attrs.field(factory=datetime.now)
    id: str | None = None


@attrs.frozen
class RefundLine:
    """A refunded quantity of one order line (``line_index`` counts from 0, in ``Order.lines``)."""

    line_index: int = attrs.field(converter=int)
    qty: Decimal = attrs.field(converter=to_decimal)


def _refund_lines(value: Any) -> tuple[RefundLine, ...]:
    return tuple(v if isinstance(v, RefundLine) else RefundLine(**v) for v in value or ())


@attrs.frozen
class Refund:
    """Money given back for an order: the refunded ``lines`` (and quantities), or only an
    ``amount`` (then spread over the invoice's VAT rates). ``amount`` is what the customer got
    back, VAT included; ``id`` is the shop's, unique per refund (one credit note each)."""

    amount: Decimal = attrs.field(converter=to_decimal)
    reason: str = ""
    refunded_at: datetime = attrs.field(factory=datetime.now)
    id: str | None = None
    lines: tuple[RefundLine, ...] = attrs.field(default=(), converter=_refund_lines)

    @property
    def key(self) -> str:
        """What tells this refund apart from the order's others: the shop's id, else its moment."""
        return str(self.id) if self.id else f"{self.refunded_at.isoformat()}:{self.amount}"

    def as_dict(self) -> dict[str, Any]:
        return {"amount": str(self.amount), "reason": self.reason, "refunded_at": self.refunded_at.isoformat(),
                "id": self.id, "lines": [{"line_index": r.line_index, "qty": str(r.qty)} for r in self.lines]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Refund:
        return cls(amount=data["amount"], reason=data.get("reason") or "", id=data.get("id"),
                   refunded_at=datetime.fromisoformat(data["refunded_at"]), lines=data.get("lines") or ())


@attrs.frozen
class Order:
    """A shop order, as the shop hands it to the plugin.

    ``lines`` include shipping and fees (``kind``). ``payments`` are all the payments recorded so
    far; ``paid_at`` is set once they cover the total.
    """

    id: str = attrs.field(converter=str)
    number: str = attrs.field(converter=str)
    customer: Customer
    lines: tuple[Line, ...] = attrs.field(converter=tuple)
    created_at: datetime = attrs.field(factory=datetime.now)
    prices_include_vat: bool = False
    payment_method: str = "bank_transfer"
    currency: str = "EUR"
    payments: tuple[Payment, ...] = attrs.field(default=(), converter=tuple)
    paid_at: datetime | None = None
    status: str = "pending"
    #: The refunds made so far (the shop's, each with its id), newest last.
    refunds: tuple[Refund, ...] = attrs.field(default=(), converter=tuple)
    #: An OSS sale: an EU consumer charged the VAT of their country (``vat_mapping`` keys like 19:DE).
    oss: bool = False
    #: What a public administration's purchase order says (FatturaPA DatiOrdineAcquisto): the
    #: tender code (CIG), the project code (CUP), the order's number and date.
    cig: str | None = None
    cup: str | None = None
    po_number: str | None = None
    po_date: date | None = None

    @property
    def amount_paid(self) -> Decimal:
        return sum((p.amount for p in self.payments), Decimal("0"))


def order_error(order: Order, problem: str, field: str) -> InvalidInput:
    """What is wrong with one order, for its owner: "Order 12: the customer has no name…"."""
    return InvalidInput(_("Order {number}: {problem}").format(number=order.number, problem=problem),
                        field=field, order_id=order.id)


@attrs.define
class Document:
    """The plugin's record of a FiC document linked to an order (table ``fic_documents``).

    ``status`` is the payment state: ``not_paid``, ``partly_paid`` or ``paid``. ``converted_from``
    is the local id of the document this one was converted from.
    """

    id: int | None
    order_id: str
    type: str
    fic_id: int | None = None
    number: int | None = None
    numeration: str = ""
    date: date | None = None
    status: str = "not_paid"
    amount_due: Decimal | None = attrs.field(default=None, converter=_optional_decimal)
    amount_paid: Decimal = attrs.field(default=Decimal("0"), converter=to_decimal)
    currency: str = "EUR"
    #: FiC's total of the document (``amount_gross``), as FiC computed it: FiC settles the totals.
    amount_gross: Decimal | None = attrs.field(default=None, converter=_optional_decimal)
    #: What the shop charged for the order (its total by the plugin's rules) when it was issued.
    charged: Decimal | None = attrs.field(default=None, converter=_optional_decimal)
    sent_at: datetime | None = None
    sent_to: str | None = None
    sent_channel: str | None = None
    delivery_state: str | None = None
    converted_from: int | None = None
    converted_from_label: str | None = None
    ei_status: str | None = None
    ei_status_at: str | None = None  # when the plugin saw ei_status change (ISO, local time)
    ei_checked_at: str | None = None  # when FiC was last asked (or told us) about it
    ei_error: str | None = None  # FiC's error_reason for a discarded or rejected e-invoice
    e_invoice: bool = attrs.field(default=False, converter=bool)
    sdi_attempted_at: str | None = None  # committed before e_invoice/send: its outcome may be unknown
    last_error: str | None = None
    #: For a credit note made for a refund: the shop's refund key, and the invoice it corrects.
    refund_id: str = ""
    corrects: int | None = None
    marker: str | None = None
    attempted_at: str | None = None
    created_at: datetime | None = None

    @property
    def is_synced(self) -> bool:
        """True once the document exists in FiC (before that the row is only an intent)."""
        return self.fic_id is not None

    @property
    def type_label(self) -> str:
        return DOCUMENT_TYPES.get(self.type, self.type)

    @property
    def total_differs(self) -> bool:
        """FiC's total is not what the shop charged (FiC's rounding, a rule read differently)."""
        return self.amount_gross is not None and self.charged is not None and self.amount_gross != self.charged

    @property
    def full_number(self) -> str:
        """The number as printed, with the numbering suffix: ``12/A``."""
        if self.number is None:
            return ""
        return f"{self.number}{self.numeration or ''}"


@attrs.frozen
class EmailMessage:
    """An email the shop's mailer sends (see the ``shop_send_email`` hook)."""

    to: tuple[str, ...] = attrs.field(converter=tuple)
    subject: str
    html: str
    text: str = ""
    order_id: str | None = None
    document_id: int | None = None


@attrs.frozen
class SmsMessage:
    """An SMS to send through a provider (see the ``fic_send_sms`` hook)."""

    to: str  # E.164
    sender: str  # alias (max 11 characters) or E.164 number
    text: str
    order_id: str | None = None
    document_id: int | None = None


@attrs.frozen
class SentMessage:
    """What a channel answered when a message left: who got it, when, and the provider's id."""

    channel: str  # "fic_email", "smtp", "sms"
    to: tuple[str, ...] = attrs.field(converter=tuple)
    sent_at: datetime = attrs.field(factory=lambda: datetime.now(UTC))
    provider_id: str | None = None
    provider: str | None = None
