"""Suggest the VAT and payment mappings by matching the shop's rates and methods to FiC's lists.

Pure: it gets FiC's lookups (``/info/vat_types``, ``/info/payment_methods``,
``/info/payment_accounts``) as lists of dicts and returns settings values. The demo applies the
suggestion to the sandbox; on a real shop ``fic settings suggest-mappings`` prints it and applies
it only with ``--apply``, because only the owner knows which VAT exemption (natura) applies to a
0% sale.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

#: Italy's VAT rates, suggested even before the shop has sold at each of them.
STANDARD_RATES = ("22", "10", "5", "4", "0")
#: FiC's Italian names of the payment methods a shop usually has, best match first.
METHOD_NAMES: dict[str, tuple[str, ...]] = {
    "bank_transfer": ("bonifico bancario", "bonifico"),
    "card": ("carta di credito", "carta"),
    "paypal": ("paypal",),
    "cash": ("contanti",),
}
#: Words in the name of the account where each method's money lands.
ACCOUNT_WORDS: dict[str, tuple[str, ...]] = {
    "card": ("carta", "card"),
    "paypal": ("paypal",),
    "cash": ("cassa", "contanti"),
}
#: For the plain 0% rate — a domestic sale (and an EU consumer's, who pays Italian VAT): out of
#: scope for a forfettario (N2.2) or exempt (N4, art. 10 DPR 633/1972). Never N3.x: a domestic
#: sale is not an export nor an intra-community supply.
ZERO_RATE_NATURES = ("N2.2", "N4", "N2.1")
#: For a 0% sale, the exemption by customer and supply (../shared/fatturapa/BRIEF.md): goods to an
#: EU business N3.2 (art. 41 DL 331/1993), exported goods N3.1 (art. 8 DPR 633/1972), services
#: to a business abroad N2.1 (art. 7-ter). Suggested when FiC has exactly that natura.
AREA_NATURES = {"EU-business:goods": "N3.2", "EU-business:services": "N2.1", "extra-EU:goods": "N3.1",
                "extra-EU:services": "N2.1"}


def suggest_mappings(
    vat_types: Iterable[dict[str, Any]],
    payment_methods: Iterable[dict[str, Any]],
    payment_accounts: Iterable[dict[str, Any]],
    shop_rates: Iterable[Any],
    shop_methods: Iterable[str],
    *,
    zero_rate_natures: tuple[str, ...] = ZERO_RATE_NATURES,
    area_natures: dict[str, str] = AREA_NATURES,
) -> dict[str, Any]:
    """Return ``{"vat_mapping", "payment_mapping", "unmatched"}``.

    ``vat_mapping`` maps each shop rate (``"22"``) to a FiC VAT type id; ``payment_mapping`` maps
    each shop method to ``{"payment_method_id", "payment_account_id"}``; ``unmatched`` lists
    what found no counterpart (``"vat:5"``, ``"method:crypto"``), for the owner to set by hand.
    """
    vat_types = [v for v in vat_types if not v.get("is_disabled")]
    methods = list(payment_methods)
    accounts = [a for a in payment_accounts if not a.get("virtual")]
    result: dict[str, Any] = {"vat_mapping": {}, "payment_mapping": {}, "unmatched": []}
    for rate in sorted({_rate(r) for r in shop_rates}, reverse=True):
        vat_id = _vat_type_for(vat_types, rate, zero_rate_natures)
        key = format(rate.normalize(), "f")
        if vat_id is None:
            result["unmatched"].append(f"vat:{key}")
            continue
        result["vat_mapping"][key] = vat_id
        if rate == 0:
            for area, nature in area_natures.items():
                exact = [v["id"] for v in vat_types if _value(v) == 0 and _nature(v) == nature]
                if exact and exact[0] != vat_id:
                    result["vat_mapping"][f"{key}:{area}"] = exact[0]
    for method in dict.fromkeys(shop_methods):
        fic_method = _method_for(methods, method)
        if fic_method is None:
            result["unmatched"].append(f"method:{method}")
            continue
        result["payment_mapping"][method] = {
            "payment_method_id": fic_method["id"],
            "payment_account_id": _account_for(accounts, method, fic_method),
        }
    return result


def _rate(value: Any) -> Decimal:
    try:
        return Decimal(str(value).strip().rstrip("%").replace(",", "."))
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a VAT rate") from None


def _nature(vat_type: dict[str, Any]) -> str:
    return str(vat_type.get("ei_type") or "").strip().upper()


def _vat_type_for(vat_types: list[dict[str, Any]], rate: Decimal, natures: tuple[str, ...]) -> int | None:
    same = [v for v in vat_types if _value(v) == rate]
    if not same:
        return None
    if rate == 0:
        for nature in natures:
            for vat_type in same:
                if _nature(vat_type) == nature or _nature(vat_type).startswith(nature + "."):
                    return vat_type["id"]
        # Only exports or intra-EU types at 0%: the owner chooses (never a domestic sale as N3.x).
        domestic = [v for v in same if not _nature(v).startswith("N3")]
        return domestic[0]["id"] if domestic else None
    # A positive rate is ordinary VAT: a type that carries an exemption nature would be a mistake.
    plain = [v for v in same if not _nature(v).startswith("N")]
    return (plain or same)[0]["id"]


def _value(vat_type: dict[str, Any]) -> Decimal | None:
    try:
        return Decimal(str(vat_type.get("value")))
    except InvalidOperation:
        return None


def _fold(text: Any) -> str:
    """Lower case without accents, so "Carta di credito" and "carta di crédito" match."""
    decomposed = unicodedata.normalize("NFKD", str(text or ""))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold().strip()


def _method_for(methods: list[dict[str, Any]], method: str) -> dict[str, Any] | None:
    names = METHOD_NAMES.get(method, (method.replace("_", " "),))
    for name in names:
        for candidate in methods:
            if _fold(candidate.get("name")) == name:
                return candidate
    for name in names:
        for candidate in methods:
            if name in _fold(candidate.get("name")):
                return candidate
    return None


def _account_for(accounts: list[dict[str, Any]], method: str, fic_method: dict[str, Any]) -> int | None:
    default = fic_method.get("default_payment_account")
    if isinstance(default, dict) and default.get("id") is not None:
        return default["id"]
    if isinstance(default, int) and not isinstance(default, bool):
        return default
    for word in ACCOUNT_WORDS.get(method, ()):
        for account in accounts:
            if word in _fold(account.get("name")):
                return account["id"]
    # Transfers, and by default every other method, settle on the bank account.
    banks = [a for a in accounts if a.get("type") == "bank"]
    chosen = banks or accounts
    return chosen[0]["id"] if chosen else None
