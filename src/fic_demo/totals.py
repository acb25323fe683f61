"""What the demo shop charges for an order: :func:`fic_plugin.money.order_totals` of its lines.

The shop's total is the amount the customer pays and the payments must cover. Computing it with
the plugin's own rules (docs/totals.md: line totals to the cent, VAT per rate) means the invoice
FiC issues for a paid order shows exactly what was paid. Rivalsa and stamp duty are left out:
they belong to the invoice, not to the price.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

import attrs

from fic_plugin import money
from fic_plugin.model import Line
from fic_plugin.money import Item, round2

round_cents = round2


def _item(line: Line) -> Item:
    return Item(price=line.unit_price, qty=line.qty, vat_rate=line.vat_rate, discount=line.discount)


def line_total(line: Line) -> Decimal:
    """``round(p × q × (1 − d/100))``: FatturaPA's PrezzoTotale."""
    return _item(line).line_total


@attrs.frozen
class OrderTotals:
    net: Decimal
    vat: Decimal
    gross: Decimal
    #: rate key ("22", "5.5", "0") -> {"net": taxable, "vat": vat}, highest rate first
    vat_list: dict[str, dict[str, Decimal]]


def order_totals(lines: Iterable[Line], prices_include_vat: bool) -> OrderTotals:
    """Totals of an order whose ``lines`` include shipping and fees."""
    totals = money.order_totals(lines, prices_include_vat=prices_include_vat)
    vat_list = {key: {"net": net, "vat": vat}
                for key, (net, vat) in sorted(totals.vat_list.items(), key=lambda kv: -Decimal(kv[0]))}
    return OrderTotals(net=totals.amount_net, vat=totals.amount_vat, gross=totals.amount_gross, vat_list=vat_list)
