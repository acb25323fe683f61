"""Money, dates and country names in people's words, through Babel: never formatted by hand.

The screens read ``1.234,56 €`` / ``28/11/2026`` in the owner's language (:func:`money`,
:func:`day`). Texts that leave the shop — email and SMS shortcodes, the activity log, the CLI —
are Italian and use :func:`format_money`, which swaps Babel's non-breaking space for a plain one:
``\\xa0`` is outside GSM-7 and would turn every SMS into UCS-2 (70 characters a part, not 160).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from functools import cache

from babel import Locale
from babel.dates import format_date, format_time
from babel.numbers import format_currency, format_decimal

from .dates import ROME
from .i18n import _, current_language
from .model import Document, Order
from .money import round2

#: Babel locale for each screen language. English keeps day/month order (en_GB) because the
#: documents themselves are Italian and a date must read the same on both.
LOCALES = {"it": "it_IT", "en": "en_GB"}
ITALIAN = "it_IT"
#: The tables keep UTC; the owner reads times as the clock on the shop's wall shows them.
SHOP_TIMEZONE = ROME


def locale() -> str:
    return LOCALES.get(current_language.get(), ITALIAN)


def money(amount: Decimal | str | None, currency: str = "EUR", *, locale_name: str | None = None) -> str:
    """``Decimal("1234.56")`` → ``1.234,56 €`` (Italian) or ``€1,234.56`` (English).

    Rounded half-up to the cent first, as FiC rounds (Babel alone would round half-even).
    """
    if amount is None or amount == "":
        return ""
    return format_currency(round2(Decimal(str(amount))), currency or "EUR", locale=locale_name or locale())


def format_money(amount: Decimal | None, currency: str = "EUR") -> str:
    """``Decimal("1234.5")`` → ``1.234,50 €`` in Italian whatever the screen's language, with a
    plain space (SMS-safe): for texts customers and the activity log read."""
    return money(amount, currency, locale_name=ITALIAN).replace("\xa0", " ")


def number(value: Decimal | int | str) -> str:
    return format_decimal(Decimal(str(value)), locale=locale())


def shop_time(value: date | datetime | str) -> date | datetime:
    """A stored instant (UTC, with its offset) in the shop's local time; a bare date as it is."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(SHOP_TIMEZONE).replace(tzinfo=None)
    return value


def day(value: date | datetime | str | None) -> str:
    """``28/11/2026`` in both languages (see :data:`LOCALES`)."""
    if not value:
        return ""
    return format_date(shop_time(value), "dd/MM/yyyy", locale=locale())


def clock(value: datetime | str | None) -> str:
    """``10:42``, the shop's local time."""
    if not value:
        return ""
    return format_time(shop_time(value), "HH:mm", locale=locale())


def moment(value: datetime | str | None) -> str:
    """``28/11/2026 10:42``, for the audit log and the job list."""
    if not value:
        return ""
    return f"{day(value)} {clock(value)}"


#: Where FiC's own country list (``countries_list`` of ``GET /info/countries``) spells a country
#: otherwise than CLDR: FiC's spelling wins, so the document shows the name FiC's screens show.
FIC_COUNTRY_NAMES = {
    "BH": "Bahrain", "BL": "Saint Barthelemy", "CC": "Isole Cocos e Keeling",
    "CD": "Repubblica Democratica del Congo", "CG": "Repubblica del Congo", "CI": "Costa d'Avorio",
    "CZ": "Repubblica Ceca", "FJ": "Fiji", "GG": "Guernsey - Channel Islands", "HK": "Hong Kong",
    "IC": "Isole Canarie (Spagna)", "JE": "Jersey - Channel Islands", "KE": "Kenia", "LC": "Santa Lucia",
    "MM": "Myanmar", "MO": "Macao", "PM": "Saint Pierre e Miquelon", "PR": "Porto Rico",
    "PS": "Stato di Palestina", "SH": "Sant'Elena", "SZ": "Swaziland", "TC": "Turks e Caicos",
    "UM": "Isole Minori Esterne degli USA",
}


@cache
def country_name(code: str) -> str:
    """``"JP"`` → ``"Giappone"``: the Italian name of an ISO 3166 country (CLDR, through Babel, in
    FiC's spelling where it differs); the code itself when unknown."""
    code = code.upper()
    return FIC_COUNTRY_NAMES.get(code) or Locale.parse(ITALIAN).territories.get(code, code)


def total_difference(document: Document, order: Order | None = None) -> str:
    """"Totale FiC 44,91 € — incassati 44,90 €": FiC's total beside what the shop charged."""
    if order is not None and order.paid_at is not None:
        return _("FiC total {fic} — collected {charged}").format(
            fic=format_money(document.amount_gross, document.currency),
            charged=format_money(document.charged, document.currency))
    return _("FiC total {fic} — order total {charged}").format(
        fic=format_money(document.amount_gross, document.currency),
        charged=format_money(document.charged, document.currency))
