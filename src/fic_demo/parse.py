"""Check what a client sends to the demo shop's JSON API before anything is written.

Every problem is an :class:`~fic_plugin.errors.InvalidInput` naming the field as the client wrote
it (``customer.name``, ``lines[2].qty``), so the JSON API answers 400 with ``field`` set. Amounts
are decimal strings or integers: a JSON float like ``12.1`` is refused, because by the time it is
parsed it may no longer be exactly twelve euro and ten cents.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import attrs

from fic_plugin.errors import InvalidInput
from fic_plugin.i18n import _
from fic_plugin.model import LINE_KINDS, Customer, Line

from . import field_checks

CUSTOMER_KEYS = (
    "name", "type", "first_name", "last_name", "vat_number", "tax_code", "email", "phone", "pec",
    "sdi_code", "address_street", "address_postal_code", "address_city", "address_province",
    "country_iso",
)
LINE_KEYS = ("name", "qty", "unit_price", "vat_rate", "discount", "code", "kind")
ORDER_KEYS = ("customer", "lines", "prices_include_vat", "payment_method", "shipping", "oss",
              "cig", "cup", "po_number", "po_date")
#: FatturaPA's limits for a purchase order's references (DatiOrdineAcquisto, 2.1.2).
ORDER_REFERENCES = {"cig": r"[A-Z0-9]{10}", "cup": r"[A-Z0-9]{15}", "po_number": r"[^\x00-\x1f]{1,20}"}
PAYMENT_KEYS = ("amount", "method")
MAX_LINES = 500
METHOD_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,49}")


@attrs.frozen
class NewOrder:
    """A valid order request; ``lines`` are the products (shipping is apart, as the shop keeps it)."""

    customer: Customer
    lines: tuple[Line, ...]
    prices_include_vat: bool = False
    payment_method: str = "bank_transfer"
    shipping: Decimal = Decimal("0.00")
    #: An OSS sale: an EU consumer charged the VAT of their own country.
    oss: bool = False
    cig: str | None = None
    cup: str | None = None
    po_number: str | None = None
    po_date: date | None = None


def parse_order(body: Any) -> NewOrder:
    """Turn a ``POST /api/orders`` body into a :class:`NewOrder`, or say which field is wrong."""
    _object(body, "body", ORDER_KEYS, "")
    if "customer" not in body:
        raise InvalidInput(_("customer is missing: give the customer's name and details."), field="customer")
    customer = parse_customer(body["customer"])
    lines = body.get("lines")
    if not isinstance(lines, list) or not lines:
        raise InvalidInput(_("lines is empty: an order needs at least one product line."), field="lines")
    if len(lines) > MAX_LINES:
        raise InvalidInput(_("lines: at most {n} lines per order.").format(n=MAX_LINES), field="lines")
    include_vat = body.get("prices_include_vat", False)
    if not isinstance(include_vat, bool):
        raise InvalidInput(_("prices_include_vat must be true or false."), field="prices_include_vat")
    return NewOrder(
        customer=customer,
        lines=tuple(parse_line(line, f"lines[{i}]") for i, line in enumerate(lines)),
        prices_include_vat=include_vat,
        payment_method=parse_method(body.get("payment_method", "bank_transfer"), "payment_method"),
        shipping=amount(body.get("shipping", "0"), "shipping", places=2, minimum=Decimal("0")),
        oss=_oss(body.get("oss", False), customer),
        **order_references(body),
    )


def _oss(value: Any, customer: Customer) -> bool:
    """OSS (art. 74-sexies DPR 633/1972) is for consumers in another EU country only."""
    if not isinstance(value, bool):
        raise InvalidInput(_("oss must be true or false."), field="oss")
    if value and (customer.vat_area != "EU" or (customer.vat_number or "").strip()):
        raise InvalidInput(_("oss: an OSS sale is to a consumer in another EU country, not to a customer in "
                             "{country}{business}.").format(
            country=customer.country_iso, business=_(" with a VAT number") if customer.vat_number else ""),
            field="oss")
    return value


def order_references(body: dict) -> dict[str, Any]:
    """The optional CIG, CUP and purchase order number and date a public administration gives."""
    result: dict[str, Any] = {}
    words = {"cig": _("cig must be the 10 letters and digits of the tender code (CIG)."),
             "cup": _("cup must be the 15 letters and digits of the project code (CUP)."),
             "po_number": _("po_number must be 1 to 20 characters (the purchase order's number).")}
    for key, pattern in ORDER_REFERENCES.items():
        value = body.get(key)
        if value is None or value == "":
            continue
        text = value.strip().upper() if isinstance(value, str) and key != "po_number" else value
        if not isinstance(text, str) or not re.fullmatch(pattern, text.strip()):
            raise InvalidInput(words[key], field=key)
        result[key] = text.strip()
    if body.get("po_date") not in (None, ""):
        try:
            result["po_date"] = date.fromisoformat(str(body["po_date"]))
        except ValueError:
            raise InvalidInput(_("po_date must be a date like 2026-11-30."), field="po_date") from None
    return result



def parse_customer(data: Any) -> Customer:
    _object(data, "customer", CUSTOMER_KEYS, "customer.")
    values = {}
    for key in CUSTOMER_KEYS:
        value = data.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise InvalidInput(_("customer.{key} must be text.").format(key=key), field=f"customer.{key}")
        value = value.strip()
        if value:
            values[key] = value
    if not values.get("name"):
        raise InvalidInput(_("customer.name is missing: give the company's or the person's name."),
                           field="customer.name")
    values["type"] = values.get("type", "person")
    if values["type"] not in ("company", "person", "pa"):
        raise InvalidInput(_('customer.type must be "company", "person" or "pa" (public administration).'),
                           field="customer.type")
    if values["type"] == "pa" and not re.fullmatch(r"[A-Za-z0-9]{6}", values.get("sdi_code", "")):
        raise InvalidInput(_("customer.sdi_code of a public administration is its 6-character office code "
                             "(codice univoco ufficio)."), field="customer.sdi_code")
    values["country_iso"] = values.get("country_iso", "IT").upper()
    if not re.fullmatch(r"[A-Z]{2}", values["country_iso"]):
        raise InvalidInput(_("customer.country_iso must be the 2-letter ISO code of the country, like IT or DE."),
                           field="customer.country_iso")
    for key, check in (("email", field_checks.email), ("pec", field_checks.email), ("phone", field_checks.phone),
                       ("sdi_code", field_checks.sdi_code), ("address_province", field_checks.province),
                       ("address_postal_code", field_checks.postal_code)):
        if key in values:
            values[key] = check(values[key], field=f"customer.{key}", country=values["country_iso"])
    for key, check in (("vat_number", field_checks.vat_number), ("tax_code", field_checks.tax_code)):
        if key in values:
            values[key] = check(values[key], field=f"customer.{key}", country=values["country_iso"])
    if len(values["name"]) > 250:
        raise InvalidInput(_("customer.name is longer than 250 characters."), field="customer.name")
    return Customer(**values)


def parse_line(data: Any, where: str) -> Line:
    _object(data, where, LINE_KEYS, f"{where}.")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(_("{where}.name is missing: say what is sold.").format(where=where), field=f"{where}.name")
    if len(name) > 500:
        raise InvalidInput(_("{where}.name is longer than 500 characters.").format(where=where), field=f"{where}.name")
    qty = amount(data.get("qty", "1"), f"{where}.qty", places=5, minimum=Decimal("0"))
    if qty == 0:
        raise InvalidInput(_("{where}.qty must be a positive decimal string like \"2\" or \"1.5\".").format(where=where),
                           field=f"{where}.qty")
    vat_rate = amount(data.get("vat_rate"), f"{where}.vat_rate", places=2, minimum=Decimal("0"),
                      maximum=Decimal("100"), what=_("a VAT rate in percent, like \"22\" or \"10\""))
    code = data.get("code")
    if code is not None and not isinstance(code, str):
        raise InvalidInput(_("{where}.code must be text.").format(where=where), field=f"{where}.code")
    return Line(
        name=name.strip(),
        qty=qty,
        # FiC keeps unit prices to 5 decimals; more would be silently rounded on the invoice.
        unit_price=amount(data.get("unit_price"), f"{where}.unit_price", places=5, minimum=Decimal("0")),
        vat_rate=vat_rate,
        discount=amount(data.get("discount", "0"), f"{where}.discount", places=2, minimum=Decimal("0"),
                        maximum=Decimal("100"), what=_("a percentage between 0 and 100")),
        code=code or None,
        kind=_kind(data.get("kind"), where),
    )


def _kind(value: Any, where: str) -> str:
    """A line's kind: goods (default), service (a professional's fee: rivalsa INPS, cassa and
    ritenuta apply to it), shipping or fee."""
    if value is None or value == "product":  # product: the old name of goods
        return "goods"
    if value not in LINE_KINDS or value == "shipping":
        raise InvalidInput(_("{where}.kind must be one of goods, service, fee (shipping comes from the order's "
                             "shipping).").format(where=where), field=f"{where}.kind")
    return value


def parse_payment(body: Any) -> tuple[Decimal, str]:
    """Turn a ``POST /api/orders/{id}/payments`` body into (amount, method)."""
    _object(body, "body", PAYMENT_KEYS, "")
    value = amount(body.get("amount"), "amount", places=2, minimum=Decimal("0"))
    if value == 0:
        raise InvalidInput(_("amount must be more than zero, like \"12.50\"."), field="amount")
    return value, parse_method(body.get("method", "bank_transfer"), "method")


def parse_method(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(_("{field} is empty: say how the customer pays, e.g. bank_transfer, card, paypal or cash.")
                           .format(field=field), field=field)
    value = value.strip()
    if not METHOD_PATTERN.fullmatch(value):
        raise InvalidInput(_("{field} must be a short key in lowercase letters, digits and _, like bank_transfer.")
                           .format(field=field), field=field)
    return value


def amount(value: Any, field: str, *, places: int, minimum: Decimal | None = None,
           maximum: Decimal | None = None, what: str | None = None) -> Decimal:
    """A decimal from a string or an integer, with at most ``places`` decimals, within bounds."""
    what = what or _("a decimal string like \"12.50\"")
    if value is None or value == "":
        raise InvalidInput(_("{field} is missing: give {what}.").format(field=field, what=what), field=field)
    if isinstance(value, float):
        raise InvalidInput(_("{field} is a JSON number with decimals ({value}): send it as a string like "
                             "\"12.50\" so that no cent is lost.").format(field=field, value=value), field=field)
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidInput(_("{field} must be {what}.").format(field=field, what=what), field=field)
    try:
        number = Decimal(value.strip()) if isinstance(value, str) else Decimal(value)
    except InvalidOperation:
        raise InvalidInput(_("{field} is not a number: give {what}.").format(field=field, what=what),
                           field=field) from None
    if not number.is_finite():
        raise InvalidInput(_("{field} is not a number: give {what}.").format(field=field, what=what), field=field)
    if minimum is not None and number < minimum:
        raise InvalidInput(_("{field} cannot be negative ({value}).").format(field=field, value=value), field=field)
    if maximum is not None and number > maximum:
        raise InvalidInput(_("{field} must be {what}, not {value}.").format(field=field, what=what, value=value),
                           field=field)
    if number.as_tuple().exponent < -places:
        raise InvalidInput(_("{field} has more than {places} decimals ({value}).")
                           .format(field=field, places=places, value=value), field=field)
    if abs(number) >= Decimal("1e9"):
        raise InvalidInput(_("{field} is too large ({value}).").format(field=field, value=value), field=field)
    if number.as_tuple().exponent > 0:
        number = number.quantize(Decimal("1"))  # "1E+2" is stored and shown as "100"
    return number + 0  # and "-0" as "0"


def _object(data: Any, name: str, allowed: tuple[str, ...], prefix: str) -> None:
    if not isinstance(data, dict):
        raise InvalidInput(_("{name} must be a JSON object.").format(name=name), field=name)
    for key in data:
        if key not in allowed:
            raise InvalidInput(_("{prefix}{key} is not a known field (known: {known}).")
                               .format(prefix=prefix, key=key, known=", ".join(allowed)), field=f"{prefix}{key}")
