"""Checks of the fiscal identifiers and contacts a document carries.

Shared by the payload, the settings and send screens and the demo API, so a wrong Partita IVA is
refused with the same words everywhere, before FiC or the SdI refuse it days later. Each check
returns the value normalised (upper case, no spaces) or raises
:class:`~fic_plugin.errors.InvalidInput` with ``field`` set. The check digits of the Partita IVA,
the codice fiscale and the EU's VAT numbers are python-stdnum's: a well-kept reading of the rules.
"""

from __future__ import annotations

import re

from stdnum import luhn
from stdnum.eu import vat as eu_vat
from stdnum.exceptions import InvalidChecksum, ValidationError
from stdnum.it import codicefiscale

from .errors import InvalidInput
from .i18n import _

_SEPARATORS = re.compile(r"[\s.\-/()]")
_EMAIL = re.compile(r"[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[A-Za-z]{2,}")
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
#: EU countries whose VAT numbers python-stdnum checks (format and check digits, as VIES does).
EU_VAT_COUNTRIES = frozenset(code.upper() for code in eu_vat.MEMBER_STATES) - {"XI"}


def _compact(value: str | None) -> str:
    return re.sub(r"\s", "", value or "").upper()


def partita_iva_is_valid(digits: str) -> bool:
    """11 digits, not all-zero in the first 7, with a right Luhn check digit (python-stdnum).

    ``stdnum.it.iva`` also refuses an office code (digits 8-10) outside its own list; that list
    is not the Agenzia delle Entrate's, and whether a number exists is the SdI's check, not ours:
    refusing a number with a right check digit would block a sale the SdI may accept, so only the
    format and the check digit are judged here (as the sandbox's SdI does).
    """
    return bool(re.fullmatch(r"[0-9]{11}", digits)) and digits[:7] != "0000000" and luhn.is_valid(digits)


def check_vat_number(value: str | None, country_iso: str | None = "IT", *, field: str = "vat_number") -> str:
    """A Partita IVA: 11 digits with a valid check digit and office code for Italy (an ``IT``
    prefix is fine); in another EU country its own format and check digits (python-stdnum);
    elsewhere 2 to 15 letters and digits, since each country has its own format."""
    compact = _SEPARATORS.sub("", value or "").upper()
    country = (country_iso or "IT").upper()
    prefix = "EL" if country == "GR" else country  # VIES writes Greece's numbers EL...
    for known in dict.fromkeys((prefix, country)):
        if compact.startswith(known) and len(compact) > len(known):
            compact = compact[len(known):]
            break
    if not compact:
        raise InvalidInput(_("The VAT number (Partita IVA) is empty."), field=field)
    if country == "IT":
        if not re.fullmatch(r"[0-9]{11}", compact):
            raise InvalidInput(
                _("The VAT number {value!r} is not valid: an Italian Partita IVA has 11 digits.").format(value=value),
                field=field)
        if not partita_iva_is_valid(compact):
            raise InvalidInput(
                _("The VAT number {value!r} is not valid: its check digit is wrong; check for a typo.").format(
                    value=value),
                field=field)
        return compact
    if not re.fullmatch(r"[A-Z0-9]{2,15}", compact):
        raise InvalidInput(
            _("The VAT number {value!r} is not valid: use 2 to 15 letters and digits.").format(value=value),
            field=field)
    if country in EU_VAT_COUNTRIES and not eu_vat.is_valid(prefix + compact):
        raise InvalidInput(
            _("The VAT number {value!r} is not valid: its format or check digit is wrong for {country}; "
              "check it on the EU's VIES site.").format(value=value, country=country),
            field=field)
    return compact


def check_tax_code(value: str | None, *, field: str = "tax_code") -> str:
    """A codice fiscale: 16 characters for a person (with its control letter), or the
    11-digit number of a company (checked like a Partita IVA)."""
    compact = _compact(value)
    if re.fullmatch(r"[0-9]{11}", compact):
        if not partita_iva_is_valid(compact):
            raise InvalidInput(
                _("The tax code {value!r} is not valid: its check digit is wrong; check for a typo.").format(
                    value=value),
                field=field)
        return compact
    try:
        codicefiscale.validate(compact)
    except InvalidChecksum:
        raise InvalidInput(
            _("The tax code {value!r} is not valid: its last letter does not match; check for a typo.").format(
                value=value),
            field=field) from None
    except ValidationError:
        raise InvalidInput(
            _("The tax code {value!r} is not valid: a codice fiscale has 16 letters and digits "
              "(like RSSMRA80A01H501U), or 11 digits for a company.").format(value=value),
            field=field) from None
    return compact


def check_sdi_code(value: str | None, *, field: str = "ei_code") -> str:
    """A codice destinatario: 7 letters and digits, or the 6 of a public administration office."""
    compact = _compact(value)
    if not re.fullmatch(r"[A-Z0-9]{6,7}", compact):
        raise InvalidInput(
            _("The SDI code {value!r} is not valid: it has 7 letters and digits (6 for a public "
              "administration).").format(value=value),
            field=field)
    return compact


def check_email(value: str | None, *, field: str = "email") -> str:
    """An email address in the plain ``name@domain.tld`` form FiC and mail servers accept."""
    text = (value or "").strip()
    if len(text) > 254 or not _EMAIL.fullmatch(text):
        raise InvalidInput(
            _("The email address {value!r} is not valid: write it like name@example.com.").format(value=value),
            field=field)
    return text


def check_phone(value: str | None, *, field: str = "phone") -> str:
    """A phone number in E.164 (``+393331234567``); spaces, dots and dashes are dropped."""
    compact = _SEPARATORS.sub("", value or "")
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if not _E164.fullmatch(compact):
        raise InvalidInput(
            _("The phone number {value!r} is not valid: write it with the country code, like "
              "+39 333 1234567.").format(value=value),
            field=field)
    return compact
