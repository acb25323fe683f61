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
#: Naturas of 0% operations on which the bollo is NOT due: exports (N3.1, DPR 642/1972 Tabella B
#: art. 15), intra-EU supplies of goods (N3.2, art. 66 DL 331/1993) and reverse charge (N6.x:
#: they are subject to VAT, paid by the customer). Every other natura (N1, N2.x, N3.3–N3.6, N4,
#: N5, N7) — and a 0% line whose natura is not known — counts for the €77.47 threshold.
STAMP_DUTY_FREE_NATURAS = ("N3.1", "N3.2", "N6")


def stamp_duty_due_on(natura: str | None) -> bool:
    """Whether a 0% line of this natura counts for the bollo (``../shared/fatturapa/BRIEF.md``)."""
    code = (natura or "").upper()
    return not any(code == free or code.startswith(free + ".") for free in STAMP_DUTY_FREE_NATURAS)


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

    ``apply_withholding_taxes`` is FiC's per-line flag: the line is the professional's
    compensation, on which rivalsa, cassa and ritenuta are computed. ``natura`` is the FatturaPA
    natura of a 0% line (N2.2, N3.1 …), which decides whether it counts for the bollo.
    """

    price: Decimal
    qty: Decimal
    vat_rate: Decimal
    discount: Decimal = ZERO
    apply_withholding_taxes: bool = False
    natura: str | None = None
    #: The name of a line the plugin adds (the bollo charged, a rounding cent), None for the shop's.
    label: str | None = None

    @property
    def line_total(self) -> Decimal:
        """FatturaPA ``PrezzoTotale``: rounded once per line (SdI rejects it otherwise, 00423)."""
        return round2(self.price * self.qty * (1 - self.discount / HUNDRED))


@attrs.frozen
class Totals:
    """A document's totals with FiC's names; ``vat_list`` maps a rate key to (taxable, vat)."""

    amount_net: Decimal
    amount_rivalsa: Decimal
    amount_cassa: Decimal
    taxable_amount: Decimal
    amount_vat: Decimal
    amount_gross: Decimal
    amount_withholding_tax: Decimal
    stamp_duty: Decimal
    amount_due: Decimal
    vat_list: dict[str, tuple[Decimal, Decimal]]
    #: The 0% part on which the bollo is due (by natura, see :func:`stamp_duty_due_on`).
    not_subject_to_vat: Decimal = ZERO

    def as_fic(self) -> dict[str, Any]:
        """The totals shaped like FiC's ``/issued_documents/totals`` answer, for comparisons."""
        return {
            "amount_net": self.amount_net,
            "amount_rivalsa": self.amount_rivalsa,
            "amount_cassa": self.amount_cassa,
            "taxable_amount": self.taxable_amount,
            "amount_vat": self.amount_vat,
            "amount_gross": self.amount_gross,
            "amount_withholding_tax": self.amount_withholding_tax,
            "stamp_duty": self.stamp_duty,
            "amount_due": self.amount_due,
            "vat_list": {key: {"amount_net": net, "amount_vat": vat} for key, (net, vat) in self.vat_list.items()},
        }


def stamp_duty_for(not_subject_to_vat: Decimal) -> Decimal:
    """The bollo to declare: €2.00 when the part outside VAT is over €77.47, else nothing."""
    return STAMP_DUTY_AMOUNT if not_subject_to_vat > STAMP_DUTY_THRESHOLD else ZERO


def compute_totals(
    items: Iterable[Item],
    *,
    use_gross_prices: bool,
    rivalsa: Decimal | int = 0,
    cassa: Decimal | int = 0,
    withholding_tax: Decimal | int = 0,
    withholding_tax_taxable: Decimal | int = 100,
    use_split_payment: bool = False,
    apply_stamp_duty: bool = False,
) -> Totals:
    """Compute a document's totals by docs/totals.md (§1 lines, §2 per rate, §3 sums, §4 bollo).

    ``rivalsa`` (Rivalsa INPS) and ``cassa`` (cassa previdenziale) are percents of the flagged
    lines (the professional's fees); ``withholding_tax`` is the ritenuta percent, on fees +
    rivalsa. ``apply_stamp_duty`` says the document declares the bollo when §4 calls for it.
    """
    rho = Decimal(rivalsa)
    kappa = Decimal(cassa)
    items = list(items)
    # §1: one rounding per line, then lines are only ever summed per rate.
    groups: dict[str, list[Decimal]] = {}  # rate key -> [Σ line_total, Σ flagged line_total]
    for item in items:
        sums = groups.setdefault(vat_key(item.vat_rate), [ZERO, ZERO])
        total = item.line_total
        sums[0] += total
        if item.apply_withholding_taxes:
            sums[1] += total

    vat_list: dict[str, tuple[Decimal, Decimal]] = {}
    amount_net = amount_rivalsa = amount_cassa = amount_vat = flagged_net = ZERO
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
        # The cassa is a percent of the fees alone (not of the rivalsa), subject to VAT.
        cassa_r = round2(flagged * kappa / HUNDRED)
        taxable = net + rivalsa_r + cassa_r
        if use_gross_prices:
            vat = (line_sum - net) + round2((rivalsa_r + cassa_r) * rate / HUNDRED)
        else:
            # §2 net: VAT per rate, never per line (FatturaPA DatiRiepilogo, SdI 00421).
            vat = round2(taxable * rate / HUNDRED)
        vat_list[key] = (taxable, vat)
        amount_net += net
        amount_rivalsa += rivalsa_r
        amount_cassa += cassa_r
        amount_vat += vat
        flagged_net += flagged

    taxable_amount = amount_net + amount_rivalsa + amount_cassa
    amount_gross = taxable_amount + amount_vat
    # §3: the ritenuta's base is fees + rivalsa INPS; the cassa stays out of it.
    amount_withholding_tax = round2(
        (flagged_net + amount_rivalsa) * Decimal(withholding_tax) / HUNDRED
        * Decimal(withholding_tax_taxable) / HUNDRED)
    amount_due = amount_gross - amount_withholding_tax
    if use_split_payment:
        amount_due -= amount_vat
    # §4: only the 0% part whose natura owes the bollo counts; declared, not charged.
    not_subject = _stamp_duty_base(items, use_gross_prices, rho + kappa)
    stamp_duty = stamp_duty_for(not_subject) if apply_stamp_duty else ZERO
    if STAMP_DUTY_IN_AMOUNT_DUE:
        amount_due += stamp_duty
    return Totals(
        amount_net=amount_net,
        amount_rivalsa=amount_rivalsa,
        amount_cassa=amount_cassa,
        taxable_amount=taxable_amount,
        amount_vat=amount_vat,
        amount_gross=amount_gross,
        amount_withholding_tax=amount_withholding_tax,
        stamp_duty=stamp_duty,
        amount_due=amount_due,
        vat_list=vat_list,
        not_subject_to_vat=not_subject,
    )


def _stamp_duty_base(items: list[Item], use_gross_prices: bool, contributions: Decimal) -> Decimal:
    """§4: Σ of the 0% lines whose natura owes the bollo, with their rivalsa and cassa.

    At 0% net and gross are the same; the contributions are computed on this part alone (it is
    only compared with €77.47, never printed).
    """
    base = flagged = ZERO
    for item in items:
        if Decimal(item.vat_rate) == 0 and stamp_duty_due_on(item.natura):
            base += item.line_total
            if item.apply_withholding_taxes:
                flagged += item.line_total
    return base + round2(flagged * contributions / HUNDRED)


#: The name of the one-cent line :func:`carve_contributions` adds when no fee gives the price.
ROUNDING_LABEL = "Arrotondamento"


def carve_contributions(items: list[Item], *, use_gross_prices: bool, rivalsa: Decimal,
                        cassa: Decimal) -> list[Item]:
    """Prices of the fees with the rivalsa and the cassa taken out, so that FiC adding them back
    gives what the customer paid (``rivalsa_included_in_price``; docs/totals.md §6).

    Per rate, the fees' sum N is the one whose document total (rivalsa, cassa and VAT added the
    way §2 says) equals the rate's total at the shop's prices. Rounding the rivalsa skips a cent
    now and then (N + 4% of N jumps by 2 cents every 25): then the nearest N below is taken and
    an "Arrotondamento" line of 1 or 2 cents, outside the fees, makes up the rest.
    """
    by_rate: dict[Decimal, list[int]] = {}
    for index, item in enumerate(items):
        by_rate.setdefault(Decimal(item.vat_rate), []).append(index)
    result = list(items)
    extra: list[Item] = []
    factor = 1 + (rivalsa + cassa) / HUNDRED
    for rate, indexes in by_rate.items():
        fees = [i for i in indexes if items[i].apply_withholding_taxes]
        fee_sum = sum((items[i].line_total for i in fees), ZERO)
        if not fees or fee_sum <= 0:
            continue
        others = [items[i] for i in indexes if not items[i].apply_withholding_taxes]
        target = compute_totals([items[i] for i in indexes], use_gross_prices=use_gross_prices).amount_gross
        estimate = round2(fee_sum / factor)

        candidates = [(estimate + step * CENT, rounding * CENT) for rounding in range(3)
                      for step in range(-8, 9) if estimate + step * CENT >= 0]
        probes = {c: _rate_total(others, rate, *c, use_gross_prices, rivalsa, cassa) for c in candidates}
        chosen, rounding = min(candidates, key=lambda c: (abs(probes[c] - target), c[1], abs(c[0] - estimate)))
        for index, share in zip(fees, _shares(chosen, [items[i].line_total for i in fees]), strict=True):
            result[index] = _priced_to(items[index], share)
        if rounding:
            extra.append(Item(price=rounding, qty=Decimal("1"), vat_rate=rate, natura=items[fees[0]].natura,
                              label=ROUNDING_LABEL))
    return result + extra


def _rate_total(others: list[Item], rate: Decimal, fees_net: Decimal, rounding: Decimal, use_gross_prices: bool,
                rivalsa: Decimal, cassa: Decimal) -> Decimal:
    """The total of one rate whose fees sum to ``fees_net``, with a rounding line of ``rounding``."""
    probe = [*others, Item(price=fees_net, qty=Decimal("1"), vat_rate=rate, apply_withholding_taxes=True),
             Item(price=rounding, qty=Decimal("1"), vat_rate=rate)]
    return compute_totals(probe, use_gross_prices=use_gross_prices, rivalsa=rivalsa, cassa=cassa).amount_gross


def _shares(total: Decimal, weights: list[Decimal]) -> list[Decimal]:
    """``total`` split in cents in proportion to ``weights``; the rounding rest on the largest."""
    whole = sum(weights, ZERO)
    shares = [round2(total * w / whole) for w in weights]
    largest = max(range(len(weights)), key=lambda i: weights[i])
    shares[largest] += total - sum(shares, ZERO)
    return shares


def _priced_to(item: Item, line_total: Decimal) -> Item:
    """The item with the unit price (5 decimals, as FiC keeps it) whose line total is ``line_total``."""
    factor = item.qty * (1 - item.discount / 100)
    if factor == 0:
        return item
    price = round_price(line_total / factor)
    for step in (0, 1, -1, 2, -2, 3, -3):
        candidate = price + step * Decimal("0.00001")
        if candidate >= 0 and attrs.evolve(item, price=candidate).line_total == line_total:
            return attrs.evolve(item, price=candidate)
    return attrs.evolve(item, price=price)
