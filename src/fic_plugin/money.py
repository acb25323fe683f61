"""Document totals, computed the way ``docs/totals.md`` says FiC computes them.

The plugin needs the totals *before* FiC answers: ``payments_list`` must add up to the
``amount_due`` FiC will compute, to the cent, or FiC refuses the document (422). FiC does not
publish its rounding rules, so this module follows ``docs/totals.md`` line by line; the local
sandbox implements the same text on its own and a test compares the two.

Pure and exact: every amount is a :class:`~decimal.Decimal`, never a float.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import attrs

from .model import Line

ZERO = Decimal("0")
HUNDRED = Decimal("100")
CENT = Decimal("0.01")
#: FiC keeps unit prices to 5 decimals (its ``net_price`` example: 68.18182).
PRICE_QUANTUM = Decimal("0.00001")

#: Whether the declared bollo is added to ``amount_due`` (docs/totals.md §4: it is not; the
#: sandbox has a twin constant: change both if FiC is shown to do otherwise).
STAMP_DUTY_IN_AMOUNT_DUE = False
#: The bollo on invoices not subject to VAT (marca da bollo, €2.00 since 2013).
STAMP_DUTY_AMOUNT = Decimal("2.00")
#: The bollo is due when the amount not subject to VAT *exceeds* this (DPR 642/1972).
STAMP_DUTY_THRESHOLD = Decimal("77.47")


def round2(value: Decimal | int | str) -> Decimal:
    """Round half-up to cents, the only rounding FiC and FatturaPA use for amounts."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def round_price(value: Decimal) -> Decimal:
    """Round a unit price to the 5 decimals FiC keeps, so our totals use the price FiC stores."""
    value = Decimal(value)
    if value.as_tuple().exponent >= PRICE_QUANTUM.as_tuple().exponent:
        return value  # already within 5 decimals: keep it as the shop wrote it
    return value.quantize(PRICE_QUANTUM, rounding=ROUND_HALF_UP)


def vat_key(rate: Decimal | int | str) -> str:
    """The key of a rate in FiC's ``vat_list``: ``"22"``, ``"10"``, ``"5.5"``, ``"0"``."""
    value = Decimal(rate).normalize()
    return format(value, "f")


@attrs.frozen
class Item:
    """One line as the totals see it: unit price (net or gross), quantity, discount %, VAT %.

    ``apply_withholding_taxes`` is FiC's per-line flag: the line counts for rivalsa and ritenuta.
    """

    price: Decimal
    qty: Decimal
    vat_rate: Decimal
    discount: Decimal = ZERO
    apply_withholding_taxes: bool = False

    @property
    def line_total(self) -> Decimal:
        """FatturaPA ``PrezzoTotale``: rounded once per line (SdI rejects it otherwise, 00423)."""
        return round2(self.price * self.qty * (1 - self.discount / HUNDRED))


@attrs.frozen
class Totals:
    """A document's totals with FiC's names; ``vat_list`` maps a rate key to (taxable, vat)."""

    amount_net: Decimal
    amount_rivalsa: Decimal
    taxable_amount: Decimal
    amount_vat: Decimal
    amount_gross: Decimal
    amount_withholding_tax: Decimal
    stamp_duty: Decimal
    amount_due: Decimal
    vat_list: dict[str, tuple[Decimal, Decimal]]

    @property
    def not_subject_to_vat(self) -> Decimal:
        """The part of the document outside VAT (0% rates): what the bollo threshold looks at."""
        return _not_subject_to_vat(self.vat_list)

    def as_fic(self) -> dict[str, Any]:
        """The totals shaped like FiC's ``/issued_documents/totals`` answer, for comparisons."""
        return {
            "amount_net": self.amount_net,
            "amount_rivalsa": self.amount_rivalsa,
            "taxable_amount": self.taxable_amount,
            "amount_vat": self.amount_vat,
            "amount_gross": self.amount_gross,
            "amount_withholding_tax": self.amount_withholding_tax,
            "stamp_duty": self.stamp_duty,
            "amount_due": self.amount_due,
            "vat_list": {key: {"amount_net": net, "amount_vat": vat} for key, (net, vat) in self.vat_list.items()},
        }


def _not_subject_to_vat(vat_list: dict[str, tuple[Decimal, Decimal]]) -> Decimal:
    return sum((taxable for key, (taxable, _) in vat_list.items() if Decimal(key) == 0), ZERO)


def stamp_duty_for(not_subject_to_vat: Decimal) -> Decimal:
    """The bollo to declare: €2.00 when the part outside VAT is over €77.47, else nothing."""
    return STAMP_DUTY_AMOUNT if not_subject_to_vat > STAMP_DUTY_THRESHOLD else ZERO


def compute_totals(
    items: Iterable[Item],
    *,
    use_gross_prices: bool,
    rivalsa: Decimal | int = 0,
    withholding_tax: Decimal | int = 0,
    withholding_tax_taxable: Decimal | int = 100,
    use_split_payment: bool = False,
    apply_stamp_duty: bool = False,
) -> Totals:
    """Compute a document's totals by docs/totals.md (§1 lines, §2 per rate, §3 sums, §4 bollo).

    ``rivalsa`` is the Rivalsa INPS percent on the flagged lines; ``apply_stamp_duty`` says the
    document declares the bollo when the rule of §4 calls for it (the ``stamp_duty`` setting).
    """
    rho = Decimal(rivalsa)
    # §1: one rounding per line, then lines are only ever summed per rate.
    groups: dict[str, list[Decimal]] = {}  # rate key -> [Σ line_total, Σ flagged line_total]
    for item in items:
        sums = groups.setdefault(vat_key(item.vat_rate), [ZERO, ZERO])
        total = item.line_total
        sums[0] += total
        if item.apply_withholding_taxes:
            sums[1] += total

    vat_list: dict[str, tuple[Decimal, Decimal]] = {}
    amount_net = amount_rivalsa = amount_vat = flagged_net = ZERO
    for key, (line_sum, flagged_sum) in groups.items():
        rate = Decimal(key)
        divisor = 1 + rate / HUNDRED
        if use_gross_prices:
            # §2 gross: the net is taken out of the rate's gross once (FiC: 75 at 10% -> 68.18),
            # and the VAT is what is left, so the gross stays what the customer paid.
            net = round2(line_sum / divisor)
            flagged = round2(flagged_sum / divisor)
        else:
            net = line_sum
            flagged = flagged_sum
        rivalsa_r = round2(flagged * rho / HUNDRED)
        taxable = net + rivalsa_r
        if use_gross_prices:
            vat = (line_sum - net) + round2(rivalsa_r * rate / HUNDRED)
        else:
            # §2 net: VAT per rate, never per line (FatturaPA DatiRiepilogo, SdI 00421).
            vat = round2(taxable * rate / HUNDRED)
        vat_list[key] = (taxable, vat)
        amount_net += net
        amount_rivalsa += rivalsa_r
        amount_vat += vat
        flagged_net += flagged

    taxable_amount = amount_net + amount_rivalsa
    amount_gross = taxable_amount + amount_vat
    amount_withholding_tax = round2(
        flagged_net * Decimal(withholding_tax) / HUNDRED * Decimal(withholding_tax_taxable) / HUNDRED
    )
    amount_due = amount_gross - amount_withholding_tax
    if use_split_payment:
        amount_due -= amount_vat
    # §4: only the 0% part counts; the bollo is declared, not charged (see the constant).
    stamp_duty = stamp_duty_for(_not_subject_to_vat(vat_list)) if apply_stamp_duty else ZERO
    if STAMP_DUTY_IN_AMOUNT_DUE:
        amount_due += stamp_duty
    return Totals(
        amount_net=amount_net,
        amount_rivalsa=amount_rivalsa,
        taxable_amount=taxable_amount,
        amount_vat=amount_vat,
        amount_gross=amount_gross,
        amount_withholding_tax=amount_withholding_tax,
        stamp_duty=stamp_duty,
        amount_due=amount_due,
        vat_list=vat_list,
    )


def order_totals(lines: Iterable[Line], *, prices_include_vat: bool) -> Totals:
    """What the customer pays for an order's ``lines`` (shipping and fees included): the
    document's rules without rivalsa and bollo, which belong to the invoice, not to the price.
    The shop's total, the ``{order_total}`` shortcode and the demo's pages all come from here."""
    items = [Item(price=line.unit_price, qty=line.qty, vat_rate=line.vat_rate, discount=line.discount)
             for line in lines]
    return compute_totals(items, use_gross_prices=bool(prices_include_vat))
