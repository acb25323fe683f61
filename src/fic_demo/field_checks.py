"""Format checks, field by field and country by country, for the customers of the demo's order API.

The fiscal identifiers and contacts go through :mod:`fic_plugin.validation`, the checks the
plugin uses everywhere; this module adds what only an address form needs (CAP, province) and
tax codes of foreign customers, which follow their own country's rules.
"""

from __future__ import annotations

import re

from fic_plugin import validation
from fic_plugin.errors import InvalidInput
from fic_plugin.i18n import _


def email(value: str, *, field: str, country: str = "IT") -> str:
    return validation.check_email(value, field=field)


def phone(value: str, *, field: str, country: str = "IT") -> str:
    return validation.check_phone(value, field=field)


def sdi_code(value: str, *, field: str, country: str = "IT") -> str:
    return validation.check_sdi_code(value, field=field)


def vat_number(value: str, *, field: str, country: str = "IT") -> str:
    return validation.check_vat_number(value, country, field=field)


def tax_code(value: str, *, field: str, country: str = "IT") -> str:
    if country == "IT":
        return validation.check_tax_code(value, field=field)
    code = re.sub(r"\s", "", value).upper()
    if not re.fullmatch(r"[A-Z0-9]{1,28}", code):
        raise InvalidInput(_("{field}: {value!r} is not a tax code (letters and digits only).")
                           .format(field=field, value=value), field=field)
    return code


def province(value: str, *, field: str, country: str = "IT") -> str:
    if country != "IT":
        return value
    code = value.upper()
    if not re.fullmatch(r"[A-Z]{2}", code):
        raise InvalidInput(_("{field}: write the province as its 2-letter code, like MI or RM.").format(field=field),
                           field=field)
    return code


def postal_code(value: str, *, field: str, country: str = "IT") -> str:
    if country == "IT" and not re.fullmatch(r"[0-9]{5}", value):
        raise InvalidInput(_("{field}: an Italian CAP has 5 digits, like 20121.").format(field=field), field=field)
    if len(value) > 20:
        raise InvalidInput(_("{field} is longer than 20 characters.").format(field=field), field=field)
    return value
