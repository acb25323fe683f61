"""A refund as a credit note (Nota di credito, TD04): what it credits, checked, as FiC's ``data``.

Pure, like ``payload``: order + refund + the invoice it corrects in, a dict out. A refund gives
back either some of the order's lines (the credit note repeats them, with the refunded
quantities) or only an amount, spread over the invoice's VAT rates in proportion to what each
rate weighs in it (one line per rate, at gross prices, so the credit note totals the amount to
the cent). The credit note names the invoice it corrects (``ei_data.invoice_number`` and
``invoice_date``, FatturaPA DatiFattureCollegate) and is an e-invoice when the invoice was.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any

import attrs

from .einvoice import sdi_text
from .formatting import format_money
from .i18n import _
from .model import Document, Line, Order, Refund, order_error
from .money import ZERO, Totals, round2
from .payload import build_document, expected_totals
from .settings import Settings


def refund_key(refund: Refund) -> str:
    """The refund's key as it goes into a marker and a unique index: safe in FiC's ``q`` filter."""
    return re.sub(r"[^A-Za-z0-9._:-]", "-", refund.key)[:80]


def credited_order(order: Order, refund: Refund, settings: Settings) -> Order:
    """The order as the credit note sees it: the refunded lines, or one line per rate for an amount."""
    if refund.lines:
        lines = tuple(attrs.evolve(order.lines[r.line_index], qty=r.qty) for r in refund.lines)
        return attrs.evolve(order, lines=lines, payments=(), paid_at=None)
    invoice = expected_totals(order, settings)
    weights = {rate: taxable + vat for rate, (taxable, vat) in invoice.vat_list.items() if taxable + vat > 0}
    shares = _spread(round2(refund.amount), weights)
    lines = tuple(Line(name=f"Rimborso ordine n. {order.number}", qty="1", unit_price=share, vat_rate=rate)
                  for rate, share in shares.items() if share > 0)
    # Gross prices: each rate's line is the part of the amount refunded at that rate, VAT included.
    return attrs.evolve(order, lines=lines, payments=(), paid_at=None, prices_include_vat=True)


def credit_settings(settings: Settings) -> Settings:
    """A credit note charges nothing: no "Rivalsa bollo" line (the bollo, when due, is declared)."""
    return attrs.evolve(settings, stamp_duty_charged_to_customer=False)


def check_refund(order: Order, refund: Refund, settings: Settings, *, invoice_total: Decimal,
                 credited: Decimal) -> Totals:
    """The credit note's totals, or an :class:`InvalidInput` naming the order, the line and the field.

    ``credited`` is what the order's earlier credit notes gave back: all of them together never
    exceed the invoice (``invoice_total``).
    """
    earlier = [r for r in order.refunds if r.key != refund.key]
    for position, line in enumerate(refund.lines):
        where = f"refund.lines[{position}]"
        if not 0 <= line.line_index < len(order.lines):
            raise order_error(order, _("the refund names line {index}, but the order has lines 0 to {last}.").format(
                index=line.line_index, last=len(order.lines) - 1), f"{where}.line_index")
        sold = order.lines[line.line_index]
        before = sum((r.qty for e in earlier for r in e.lines if r.line_index == line.line_index), ZERO)
        if line.qty <= 0 or line.qty + before > sold.qty:
            raise order_error(order, _("line {index} ({name!r}): {qty} refunded, but {sold} were sold and {before} "
                                         "already refunded.").format(index=line.line_index, name=sold.name,
                                                                     qty=line.qty, sold=sold.qty, before=before),
                                f"{where}.qty")
    if not refund.lines and refund.amount <= 0:
        raise order_error(order, _("a refund needs an amount above zero or refunded lines."), "refund.amount")
    totals = expected_totals(credited_order(order, refund, settings), credit_settings(settings),
                             document_type="credit_note")
    left = invoice_total - credited
    if totals.amount_gross > left:
        raise order_error(order, _("the refund of {amount} is more than what is left to refund of the invoice "
                                     "({left}).").format(amount=format_money(totals.amount_gross),
                                                         left=format_money(left)), "refund.amount")
    return totals


def build_credit_note(order: Order, refund: Refund, settings: Settings, invoice: Document, *, today: date,
                      marker: str | None = None, **lookups: Any) -> dict[str, Any]:
    """FiC's ``data`` of the credit note for ``refund`` (``lookups``: as :func:`build_document`)."""
    credited = credited_order(order, refund, settings)
    data = build_document(credited, "credit_note", credit_settings(settings), today=today, marker=marker, **lookups)
    # The subject becomes FatturaPA's Causale: in the characters the SdI accepts (00200).
    reason = f" - {refund.reason.strip()}" if refund.reason.strip() else ""
    data["visible_subject"] = sdi_text(f"Rimborso ordine n. {order.number}{reason}")[:2000]
    # FatturaPA DatiFattureCollegate: the invoice this credit note corrects.
    data["ei_data"] = {**(data.get("ei_data") or {}), "invoice_number": invoice.full_number,
                       "invoice_date": invoice.date.isoformat() if invoice.date else None}
    if invoice.ei_status is not None:
        data["e_invoice"] = True
    # The money went back when the shop refunded it: the instalment is settled on that day.
    for instalment in data.get("payments_list") or []:
        if instalment.get("payment_account"):
            instalment["status"] = "paid"
            instalment["paid_date"] = instalment["due_date"] = refund.refunded_at.date().isoformat()
    return data


def _spread(amount: Decimal, weights: dict[str, Decimal]) -> dict[str, Decimal]:
    """``amount`` over the rates in proportion to ``weights``, in cents; the rest on the heaviest."""
    total = sum(weights.values(), ZERO)
    if total <= 0:
        return {}
    shares = {rate: round2(amount * weight / total) for rate, weight in weights.items()}
    heaviest = max(weights, key=lambda rate: weights[rate])
    shares[heaviest] += amount - sum(shares.values(), ZERO)
    return shares
