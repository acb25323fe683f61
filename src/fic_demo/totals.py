"""What the demo shop charges for an order: fic-plugin's own totals of its lines.

The shop's total is the amount the customer pays and the payments must cover. Computing it with
the plugin's rules (docs/totals.md) means the invoice FiC issues for a paid order shows exactly
what was paid: the rivalsa INPS and the cassa when the shop charges them on top of its prices
(``rivalsa_included_in_price`` off), the bollo when the customer pays it
(``stamp_duty_charged_to_customer``). A ritenuta d'acconto is withheld by the business customer
and a public administration pays the VAT to the state (split payment): what they pay is the
document's ``amount_due``.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

import attrs

from fic_plugin.model import Customer, Line, Order
from fic_plugin.money import Item, round2
from fic_plugin.payload import expected_totals
from fic_plugin.settings import Settings

round_cents = round2


def line_total(line: Line) -> Decimal:
    """``round(p × q × (1 − d/100))``: FatturaPA's PrezzoTotale."""
    return Item(price=line.unit_price, qty=line.qty, vat_rate=line.vat_rate, discount=line.discount).line_total


@attrs.frozen
class OrderTotals:
    net: Decimal
    vat: Decimal
    gross: Decimal
    #: rate key ("22", "5.5", "0") -> {"net": taxable, "vat": vat}, highest rate first
    vat_list: dict[str, dict[str, Decimal]]
    rivalsa: Decimal = Decimal("0")
    cassa: Decimal = Decimal("0")
    stamp_duty: Decimal = Decimal("0")
    withholding_tax: Decimal = Decimal("0")
    #: What the customer pays: the gross less the ritenuta (and the VAT under split payment).
    to_pay: Decimal = Decimal("0")


def order_totals(lines: Iterable[Line], prices_include_vat: bool, *, customer: Customer | None = None,
                 settings: Settings | None = None) -> OrderTotals:
    """Totals of an order whose ``lines`` include shipping and fees, by the plugin's settings."""
    order = Order(id="0", number="0", customer=customer or Customer(name="-"), lines=tuple(lines),
                  prices_include_vat=prices_include_vat)
    settings = settings or Settings()
    totals = expected_totals(order, settings)
    vat_list = {key: {"net": net, "vat": vat}
                for key, (net, vat) in sorted(totals.vat_list.items(), key=lambda kv: -Decimal(kv[0]))}
    # The checkout shows the bollo as part of the total only when the customer pays it.
    charged_bollo = totals.stamp_duty if settings.stamp_duty_charged_to_customer else Decimal("0")
    return OrderTotals(net=totals.amount_net, vat=totals.amount_vat, gross=totals.amount_gross, vat_list=vat_list,
                       rivalsa=totals.amount_rivalsa, cassa=totals.amount_cassa, stamp_duty=charged_bollo,
                       withholding_tax=totals.amount_withholding_tax, to_pay=totals.amount_due)
