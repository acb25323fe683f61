"""VAT numbers of businesses in the other EU countries: shape and check digit, offline.

An intra-community supply (N3.2) or a service to an EU business (N2.1) is only right when the
customer's VAT number is real. python-stdnum knows every member state's format and check digit;
whether the number is *registered* is VIES's answer, which the plugin never asks itself: a host
that wants it answers the ``fic_vat_number_valid`` hook.
"""

from __future__ import annotations

from stdnum.eu import vat as stdnum_vat
from stdnum.exceptions import ValidationError

from .errors import InvalidInput
from .i18n import _

#: VIES writes Greece EL; ISO (and the shop) GR.
VIES_PREFIX = {"GR": "EL"}


def vies_number(vat_number: str, country_iso: str) -> str:
    """The number as VIES writes it, with its country prefix: ``DE136695976``, ``EL094259216``."""
    country = (country_iso or "").upper()
    prefix = VIES_PREFIX.get(country, country)
    compact = "".join(ch for ch in (vat_number or "").upper() if ch.isalnum())
    for known in {prefix, country}:
        if compact.startswith(known):
            compact = compact[len(known):]
    return prefix + compact


def check_eu_vat_number(vat_number: str, country_iso: str, *, field: str = "customer.vat_number") -> str:
    """The VIES form of an EU VAT number, or an :class:`InvalidInput` saying what is wrong."""
    number = vies_number(vat_number, country_iso)
    try:
        stdnum_vat.validate(number)
    except ValidationError:
        raise InvalidInput(_("The VAT number {value!r} is not a valid {country} VAT number (its format or check "
                             "digit is wrong): check it with the customer.").format(
            value=vat_number, country=country_iso.upper()), field=field) from None
    return number
