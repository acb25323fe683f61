"""Oscar orders as fic-plugin orders: lines with their tax, shipping, surcharges, payments.

Prices are Oscar's tax-inclusive amounts after its discounts (``prices_include_vat``): each line's
``line_price_incl_tax`` over its quantity (5 decimals, FiC's precision), so every line, and the
document, totals exactly what the customer paid. The VAT rate of a line is its ``tax_code`` when
``FIC["OSCAR"]["TAX_CODES"]`` maps it, else what Oscar charged (incl / excl), snapped to the
Italian rate it rounds to. "Paid" comes from Oscar's payment sources (debit transactions) or from
``PaymentEvent``s of the types listed in ``FIC["OSCAR"]["PAYMENT_EVENT_TYPES"]``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.core.exceptions import ObjectDoesNotExist

from ...errors import InvalidInput
from ...i18n import _
from ...model import Customer, Line, Order, Payment

log = logging.getLogger(__name__)

ITALIAN_RATES = (Decimal("22"), Decimal("10"), Decimal("5"), Decimal("4"), Decimal("0"))
PAID_FROM = ("sources", "payment_events")


class OscarOrders:
    """``FIC["ORDER_ADAPTER"] = "fic_plugin.contrib.oscar.OscarOrders"``; ids are Oscar order numbers."""

    def __init__(self, options: dict[str, Any] | None = None):
        from ..django.conf import fic_settings

        options = dict(fic_settings()["OSCAR"] or {}) if options is None else options
        self.paid_from = options.get("PAID_FROM", "sources")
        if self.paid_from not in PAID_FROM:
            raise InvalidInput(f"FIC['OSCAR']['PAID_FROM'] must be 'sources' or 'payment_events', not "
                               f"{self.paid_from!r}.", field="OSCAR")
        self.event_types = tuple(options.get("PAYMENT_EVENT_TYPES", ("Paid", "Settled")))
        self.tax_codes = {str(k): Decimal(str(v)) for k, v in (options.get("TAX_CODES") or {}).items()}

    # --- the adapter contract -------------------------------------------------------------------------

    def order_id(self, order: Any) -> str:
        return str(order.number)

    def get_order(self, order_id: str) -> Order | None:
        from oscar.core.loading import get_model

        try:
            order = get_model("order", "Order").objects.get(number=order_id)
        except ObjectDoesNotExist:
            return None
        return self.to_fic(order)

    def paid_orders(self, since: datetime | None) -> Iterator[Order]:
        from oscar.core.loading import get_model

        if self.paid_from == "sources":
            rows = get_model("payment", "Transaction").objects.filter(txn_type="Debit")
            numbers = rows.filter(date_created__gte=since) if since else rows
            numbers = numbers.values_list("source__order__number", flat=True)
        else:
            rows = get_model("order", "PaymentEvent").objects.filter(event_type__name__in=self.event_types)
            numbers = (rows.filter(date_created__gte=since) if since else rows).values_list("order__number", flat=True)
        orders = []
        for number in sorted(set(numbers)):
            try:
                order = self.get_order(number)
            except InvalidInput as error:
                log.warning("fic-plugin: Oscar order %s skipped: %s", number, error)
                continue
            if order is not None and order.paid_at is not None and (since is None or order.paid_at >= since):
                orders.append(order)
        return iter(sorted(orders, key=lambda o: o.paid_at))

    # --- mapping ---------------------------------------------------------------------------------------

    def to_fic(self, order: Any) -> Order:
        if (order.currency or "EUR").upper() != "EUR":
            raise InvalidInput(_("Order {number} is in {currency}: fic-plugin issues documents in euro only. "
                                 "Issue this one by hand in Fatture in Cloud.").format(
                                     number=order.number, currency=order.currency),
                               field="currency", order_id=str(order.number))
        lines = [self.line(line) for line in order.lines.all()]
        if not lines:
            raise InvalidInput(_("Order {number} has no lines: there is nothing to invoice.").format(
                number=order.number), field="lines", order_id=str(order.number))
        if order.shipping_incl_tax:
            lines.append(Line(name=order.shipping_method or "Spedizione", qty="1",
                              unit_price=order.shipping_incl_tax, kind="shipping",
                              vat_rate=self.rate(order.shipping_tax_code, order.shipping_incl_tax,
                                                 order.shipping_excl_tax)))
        for surcharge in order.surcharges.all():
            if surcharge.incl_tax:
                lines.append(Line(name=surcharge.name, qty="1", unit_price=surcharge.incl_tax, kind="fee",
                                  vat_rate=self.rate(surcharge.tax_code, surcharge.incl_tax, surcharge.excl_tax)))
        payments = self.payments(order)
        method = self.payment_method(order)
        paid = sum((p.amount for p in payments), Decimal("0"))
        paid_at = max(p.paid_at for p in payments) if payments and paid >= order.total_incl_tax else None
        return Order(id=str(order.number), number=str(order.number), customer=self.customer(order),
                     lines=lines, created_at=order.date_placed, prices_include_vat=True,
                     payment_method=method, currency="EUR", payments=payments, paid_at=paid_at,
                     status="paid" if paid_at else "pending")

    def line(self, line: Any) -> Line:
        # After Oscar's discounts: the line totals what the customer paid for it.
        unit = (Decimal(line.line_price_incl_tax) / line.quantity).quantize(Decimal("0.00001"), ROUND_HALF_UP)
        return Line(name=line.title, qty=str(line.quantity), unit_price=unit, code=line.partner_sku or line.upc,
                    vat_rate=self.rate(line.tax_code, line.line_price_incl_tax, line.line_price_excl_tax))

    def rate(self, tax_code: str | None, incl: Any, excl: Any) -> Decimal:
        if tax_code and str(tax_code) in self.tax_codes:
            return self.tax_codes[str(tax_code)]
        incl, excl = Decimal(incl or 0), Decimal(excl or 0)
        if not excl or incl == excl:
            return Decimal("0")
        charged = (incl / excl - 1) * 100
        nearest = min(ITALIAN_RATES, key=lambda rate: abs(rate - charged))
        # Oscar rounds tax per line: a cheap line's ratio is off by a fraction of a point.
        return nearest if abs(nearest - charged) <= Decimal("1") else charged.quantize(Decimal("0.01"))

    def payments(self, order: Any) -> list[Payment]:
        if self.paid_from == "sources":
            found = []
            for source in order.sources.all():
                for txn in source.transactions.filter(txn_type="Debit").order_by("date_created", "pk"):
                    found.append(Payment(amount=txn.amount, method=source.source_type.code,
                                         paid_at=txn.date_created, id=f"txn-{txn.pk}"))
            return found
        method = self.payment_method(order)
        events = order.payment_events.filter(event_type__name__in=self.event_types).order_by("date_created", "pk")
        return [Payment(amount=e.amount, method=method, paid_at=e.date_created, id=f"event-{e.pk}") for e in events]

    def payment_method(self, order: Any) -> str:
        source = order.sources.select_related("source_type").first()
        return source.source_type.code if source else "bank_transfer"

    def customer(self, order: Any) -> Customer:
        address = order.billing_address or order.shipping_address
        try:
            fiscal = order.fiscal_data
        except ObjectDoesNotExist:
            fiscal = None
        first = getattr(address, "first_name", "") or ""
        last = getattr(address, "last_name", "") or ""
        person = " ".join(part for part in (first, last) if part) or order.email or str(order.number)
        company = bool(fiscal and fiscal.vat_number)
        phone = getattr(order.shipping_address, "phone_number", None) if order.shipping_address else None
        street = ", ".join(part for part in (getattr(address, "line1", ""), getattr(address, "line2", "")) if part)
        return Customer(
            name=(fiscal.company_name if fiscal and fiscal.company_name else person),
            type="company" if company else "person",
            first_name=first or None, last_name=last or None,
            vat_number=(fiscal.vat_number or None) if fiscal else None,
            tax_code=(fiscal.tax_code or None) if fiscal else None,
            sdi_code=(fiscal.sdi_code or None) if fiscal else None,
            pec=(fiscal.pec or None) if fiscal else None,
            email=order.email or None, phone=str(phone) if phone else None,
            address_street=street or None, address_postal_code=getattr(address, "postcode", None) or None,
            address_city=getattr(address, "line4", None) or None, address_province=getattr(address, "state", None) or None,
            country_iso=(getattr(address, "country_id", None) or "IT").upper())
