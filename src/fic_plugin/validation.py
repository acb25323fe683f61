"""Checks of the Italian fiscal identifiers and contacts a document carries.

Shared by the payload, the settings and send screens and the demo API, so a wrong Partita IVA is
refused with the same words everywhere, before FiC or the SdI refuse it days later. Each check
returns the value normalised (upper case, no spaces) or raises
:class:`~fic_plugin.errors.InvalidInput` with ``field`` set.
"""

from __future__ import annotations

import re

from .errors import InvalidInput
from .i18n import _

_SEPARATORS = re.compile(r"[\s.\-/()]")
_TAX_CODE_PERSON = re.compile(
    r"[A-Z]{6}[0-9LMNPQRSTUV]{2}[ABCDEHLMPRST][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z]"
)
# Odd positions (1st, 3rd, ...) of a codice fiscale weigh by this table (DM 23/12/1976);
# digits weigh as the letter in the same place (0 as A, 1 as B, ...).
_ODD_WEIGHTS = [1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23]
_EMAIL = re.compile(r"[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[A-Za-z]{2,}")
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")


def _compact(value: str | None) -> str:
    return re.sub(r"\s", "", value or "").upper()


def partita_iva_is_valid(digits: str) -> bool:
    """The check digit of an 11-digit Partita IVA (the Luhn variant of DPR 605/1973)."""
    if not re.fullmatch(r"[0-9]{11}", digits) or digits[:7] == "0000000":
        return False
    total = 0
    for index, char in enumerate(digits[:10]):
        number = int(char)
        if index % 2:
            number *= 2
            if number > 9:
                number -= 9
        total += number
    return (10 - total % 10) % 10 == int(digits[10])


def codice_fiscale_check_char(first15: str) -> str:
    """The control letter of a person's codice fiscale, from its first 15 characters."""
    total = 0
    for index, char in enumerate(first15):
        position = int(char) if char.isdigit() else ord(char) - ord("A")
        total += _ODD_WEIGHTS[position] if index % 2 == 0 else position
    return chr(ord("A") + total % 26)


def check_vat_number(value: str | None, country_iso: str | None = "IT", *, field: str = "vat_number") -> str:
    """A Partita IVA: 11 digits with a valid check digit for Italy (an ``IT`` prefix is fine);
    elsewhere 2 to 15 letters and digits, since each country has its own format."""
    compact = _SEPARATORS.sub("", value or "").upper()
    country = (country_iso or "IT").upper()
    if compact.startswith(country) and len(compact) > len(country):
        compact = compact[len(country):]
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
    if not _TAX_CODE_PERSON.fullmatch(compact):
        raise InvalidInput(
            _("The tax code {value!r} is not valid: a codice fiscale has 16 letters and digits "
              "(like RSSMRA80A01H501U), or 11 digits for a company.").format(value=value),
            field=field)
    if codice_fiscale_check_char(compact[:15]) != compact[15]:
        raise InvalidInput(
            _("The tax code {value!r} is not valid: its last letter does not match; check for a typo.").format(
                value=value),
            field=field)
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
