"""The sandbox's own reading of ``docs/totals.md``: a document's totals, as FiC would compute them.

Written from the text on purpose, independently of ``fic_plugin.money``: a test compares the two,
and two implementations that share code would agree on their mistakes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

CENT = Decimal("0.01")
NET_PRICE_PLACES = Decimal("0.00001")
HUNDRED = Decimal(100)
#: Twin of ``fic_plugin.money.STAMP_DUTY_IN_AMOUNT_DUE`` (docs/totals.md §4): the declared bollo is
#: not added to what the customer owes.
STAMP_DUTY_IN_AMOUNT_DUE = False


def round2(value: Decimal) -> Decimal:
    """Half-up to the cent, the rounding every rule of docs/totals.md means by "round"."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def dec(value: Any, default: str = "0") -> Decimal:
    """A JSON number (int, Decimal, numeric string) as Decimal; never through float."""
    if value is None or value == "":
        return Decimal(default)
    if isinstance(value, float):  # only reachable from Python callers; keep the shortest repr
        return Decimal(repr(value))
    return Decimal(str(value)) if not isinstance(value, Decimal) else value


def rate_key(rate: Decimal) -> str:
    """``vat_list`` key as FiC writes it: "22", "10", "0", "5.5"."""
    if rate == rate.to_integral_value():
        return str(int(rate))
    return format(rate.normalize(), "f")


def line_total(item: Mapping[str, Any], use_gross_prices: bool) -> Decimal:
    """round(p × q × (1 − d/100)): FatturaPA PrezzoTotale (SdI 00423)."""
    price = dec(item.get("gross_price") if use_gross_prices else item.get("net_price"))
    qty = dec(item.get("qty"), "1")
    discount = dec(item.get("discount"))
    return round2(price * qty * (1 - discount / HUNDRED))


def compute_totals(document: Mapping[str, Any], vat_rate: Callable[[Any], Decimal],
                   payments: Iterable[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """Every total of ``document`` (FiC's totals response, Decimals), VAT per rate, never per line.

    ``vat_rate`` maps an item's ``vat.id`` to its percent; ``payments`` (the payments_list) only
    feeds ``payments_sum``.
    """
    gross_mode = bool(document.get("use_gross_prices"))
    rivalsa_pct = dec(document.get("rivalsa"))
    # Cassa previdenziale: a percent of the flagged items (the fees), not of the rivalsa.
    cassa_pct = dec(document.get("cassa"))
    groups: dict[Decimal, dict[str, Decimal]] = {}
    for item in document.get("items_list") or []:
        rate = vat_rate((item.get("vat") or {}).get("id"))
        group = groups.setdefault(rate, {"sum": Decimal(0), "flagged": Decimal(0)})
        total = line_total(item, gross_mode)
        group["sum"] += total
        if item.get("apply_withholding_taxes"):
            group["flagged"] += total

    amount_net = amount_rivalsa = amount_cassa = taxable_amount = amount_vat = flagged_net = Decimal(0)
    not_taxable = Decimal(0)
    vat_list: dict[str, dict[str, Decimal]] = {}
    for rate in sorted(groups, reverse=True):
        group = groups[rate]
        divisor = 1 + rate / HUNDRED
        if gross_mode:
            net_r = round2(group["sum"] / divisor)
            flagged_r = round2(group["flagged"] / divisor)
        else:
            net_r = group["sum"]
            flagged_r = group["flagged"]
        rivalsa_r = round2(flagged_r * rivalsa_pct / HUNDRED)
        cassa_r = round2(flagged_r * cassa_pct / HUNDRED)
        contributions_r = rivalsa_r + cassa_r
        taxable_r = net_r + contributions_r
        if gross_mode:
            # The gross of the lines is what the customer pays; VAT on the contributions on top.
            vat_r = (group["sum"] - net_r) + round2(contributions_r * rate / HUNDRED)
        else:
            vat_r = round2(taxable_r * rate / HUNDRED)
        amount_net += net_r
        amount_rivalsa += rivalsa_r
        amount_cassa += cassa_r
        taxable_amount += taxable_r
        amount_vat += vat_r
        flagged_net += flagged_r
        if rate == 0:
            not_taxable += taxable_r
        vat_list[rate_key(rate)] = {"amount_net": taxable_r, "amount_vat": vat_r}

    amount_gross = taxable_amount + amount_vat
    withholding = dec(document.get("withholding_tax"))
    withholding_taxable = dec(document.get("withholding_tax_taxable"), "100")
    # The ritenuta is withheld on the fees plus the rivalsa INPS; the cassa is outside its base.
    withholding_base = round2((flagged_net + amount_rivalsa) * withholding_taxable / HUNDRED)
    amount_withholding_tax = round2((flagged_net + amount_rivalsa) * withholding / HUNDRED
                                    * withholding_taxable / HUNDRED)
    amount_due = amount_gross - amount_withholding_tax
    if document.get("use_split_payment"):
        amount_due -= amount_vat
    # FiC's spec: stamp_duty is the amount of the bollo, "0 if not present". The sandbox never
    # adds one a document did not ask for.
    stamp_duty = dec(document.get("stamp_duty"))
    if STAMP_DUTY_IN_AMOUNT_DUE:
        amount_due += stamp_duty
    payments_sum = sum((round2(dec(p.get("amount"))) for p in payments), Decimal(0))
    return {
        "amount_net": amount_net,
        "amount_rivalsa": amount_rivalsa,
        "amount_net_with_rivalsa": taxable_amount,
        "amount_cassa": amount_cassa,
        "taxable_amount": taxable_amount,
        "not_taxable_amount": not_taxable,
        "amount_vat": amount_vat,
        "amount_gross": amount_gross,
        "taxable_amount_withholding_tax": withholding_base,
        "amount_withholding_tax": amount_withholding_tax,
        "taxable_amount_other_withholding_tax": Decimal(0),
        "amount_other_withholding_tax": Decimal(0),
        "stamp_duty": stamp_duty,
        "amount_due": amount_due,
        "is_enasarco_maximal_exceeded": False,
        "payments_sum": payments_sum,
        "vat_list": vat_list,
    }


def derived_prices(item: Mapping[str, Any], rate: Decimal, use_gross_prices: bool) -> dict[str, Decimal]:
    """The unit price FiC derives from the one given, kept to 5 decimals (informational only)."""
    divisor = 1 + rate / HUNDRED
    if use_gross_prices:
        gross = dec(item.get("gross_price"))
        return {"gross_price": gross,
                "net_price": (gross / divisor).quantize(NET_PRICE_PLACES, rounding=ROUND_HALF_UP)}
    net = dec(item.get("net_price"))
    return {"net_price": net,
            "gross_price": (net * divisor).quantize(NET_PRICE_PLACES, rounding=ROUND_HALF_UP)}
