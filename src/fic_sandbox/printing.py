"""The printable copy of a document, written as an Italian invoice reads: dates ``29/11/2026``,
amounts ``14,50 €``, line totals, the nature and law reference of 0% lines, the payment method
and IBAN, the stamp duty, the notes as text.

Its own small formatting (the sandbox is an independent reading of FiC: it never imports the
plugin's money code).
"""

from __future__ import annotations

import html
import re
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

#: The document types as FiC's printouts name them.
TYPE_NAMES = {"invoice": "Fattura", "quote": "Preventivo", "proforma": "Proforma", "receipt": "Ricevuta",
              "credit_note": "Nota di credito", "delivery_note": "Documento di trasporto", "order": "Ordine",
              "work_report": "Rapportino", "supplier_order": "Ordine fornitore", "self_invoice": "Autofattura"}


def euro(value: Any) -> str:
    """``Decimal('1234.5')`` as ``1.234,50 €``."""
    if value in (None, ""):
        return ""
    amount = Decimal(str(value)).quantize(Decimal("0.01"), ROUND_HALF_UP)
    sign = "-" if amount < 0 else ""
    whole, cents = f"{abs(amount):.2f}".split(".")
    groups = []
    while len(whole) > 3:
        whole, groups = whole[:-3], [whole[-3:], *groups]
    return f"{sign}{'.'.join([whole, *groups])},{cents} €"


def day(value: Any) -> str:
    """``2026-11-29`` as ``29/11/2026``."""
    if not value:
        return ""
    if isinstance(value, datetime | date):
        return value.strftime("%d/%m/%Y")
    try:
        return date.fromisoformat(str(value)[:10]).strftime("%d/%m/%Y")
    except ValueError:
        return str(value)


def number(value: Any) -> str:
    """A quantity or a percentage as people write it: ``2``, ``0,5``, ``22``."""
    if value in (None, ""):
        return ""
    text = format(Decimal(str(value)).normalize(), "f")
    return text.replace(".", ",")


def line_total(item: dict, gross: bool) -> Decimal:
    """What one line is worth before VAT (after VAT with gross prices), discount applied."""
    price = Decimal(str(item.get("gross_price" if gross else "net_price") or 0))
    qty = Decimal(str(item.get("qty") or 0))
    discount = Decimal(str(item.get("discount") or 0))
    return (price * qty * (1 - discount / 100)).quantize(Decimal("0.01"), ROUND_HALF_UP)


def plain(text: Any) -> str:
    """Notes as text: FiC keeps them as HTML (``<p>…</p>``), the page shows the words."""
    text = str(text or "")
    for _round in range(2):  # notes may arrive with their tags escaped once (&lt;p&gt;)
        text = re.sub(r"(?i)<br\s*/?>|</p>", "\n", text)
        text = html.unescape(re.sub(r"<[^>]+>", "", text))
    return text.strip()


def filters() -> dict[str, Any]:
    return {"euro": euro, "day": day, "number": number, "plain": plain}
