"""Which FiC VAT type — hence which FatturaPA natura — each line of a document gets.

Pure, like ``payload``: the order, the ``vat_mapping`` setting and FiC's VAT types in, an id out,
or an error naming the order, the line and the setting. A 0% line's natura depends on the
customer and the supply (docs/totals.md §9); OSS sales use the rate of the customer's country.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from .errors import SettingsError
from .i18n import _
from .model import Line, Order, order_error
from .settings import Settings, rate_key


def line_natura(order: Order, line: Line, settings: Settings, naturas: dict[int, str | None] | None) -> str | None:
    """The FatturaPA natura of a 0% line, when FiC's VAT types are known (else ``None``)."""
    if naturas is None or Decimal(line.vat_rate) != 0:
        return None
    vat_id = mapped_vat_id(order, line, settings)
    return naturas.get(vat_id) if vat_id is not None else None


def mapped_vat_id(order: Order, line: Line, settings: Settings) -> int | None:
    mapped = next((k for k in vat_mapping_keys(order, line) if k in settings.vat_mapping), None)
    return None if mapped is None else settings.vat_mapping[mapped]


def vat_mapping_keys(order: Order, line: Line) -> list[str]:
    """The ``vat_mapping`` keys that may hold the line's FiC VAT type, the most precise first.

    A 0% sale's natura depends on the customer and the supply (../shared/fatturapa/BRIEF.md):
    goods to an EU business N3.2 (art. 41 DL 331/1993), services to a business abroad N2.1
    (art. 7-ter DPR 633/1972), exported goods N3.1 (art. 8). An EU consumer pays Italian VAT
    (art. 7-bis), so their lines use the Italian keys — or, in an OSS sale, the VAT of their
    country (``19:DE``, art. 74-sexies DPR 633/1972).
    """
    key = rate_key(line.vat_rate)
    customer = order.customer
    if order.oss:
        return [f"{key}:{customer.country_iso.upper()}"]
    supply = "services" if line.kind == "service" else "goods"
    area = customer.vat_area
    if area == "EU" and not is_eu_business(customer):
        area = "IT"
    if area == "IT":
        return [f"{key}:IT", key]
    scoped = "EU-business" if area == "EU" else area
    return [f"{key}:{scoped}:{supply}", f"{key}:{area}", key]


def is_eu_business(customer: Any) -> bool:
    """An EU customer (outside Italy) with a VAT number: a business for intra-EU VAT."""
    return customer.vat_area == "EU" and bool((customer.vat_number or "").strip())


def natura_vat_id(order: Order, natura: str, naturas: dict[int, str | None] | None) -> int:
    found = sorted(vat_id for vat_id, code in (naturas or {}).items() if code == natura)
    if not found:
        raise SettingsError(
            _("Order {number}: the bollo charged to the customer is a zero-rate line of natura {natura}, but "
              "Fatture in Cloud has no VAT type with that natura. Add one in Fatture in Cloud, or turn "
              "off Bollo a carico del cliente.").format(number=order.number, natura=natura),
            field="stamp_duty_charged_to_customer", order_id=order.id)
    return found[0]


def vat_id_for(order: Order, line: Line, settings: Settings, vat_rates: dict[int, Decimal] | None,
            vat_naturas: dict[int, str | None] | None = None) -> int:
    key = rate_key(line.vat_rate)
    mapped = next((k for k in vat_mapping_keys(order, line) if k in settings.vat_mapping), None)
    if mapped is None and order.oss:
        raise SettingsError(
            _("Order {number}: an OSS sale to {country} at the rate {rate} (line {line!r}) needs the FiC VAT type of "
              "that country's rate: map {key} in Configurazione imposte.").format(
                number=order.number, country=order.customer.country_iso.upper(), rate=key, line=line.name,
                key=f"{key}:{order.customer.country_iso.upper()}"),
            field="vat_mapping", order_id=order.id)
    if mapped is None:
        raise SettingsError(
            _("Order {number}: the VAT rate {rate}% (line {line!r}) has no FiC VAT type. Map it in "
              "Configurazione imposte.").format(number=order.number, rate=key, line=line.name),
            field="vat_mapping", order_id=order.id)
    vat_id = settings.vat_mapping[mapped]
    if vat_rates is not None:
        actual = vat_rates.get(vat_id)
        if actual is None or Decimal(actual) != Decimal(key):
            found = _("does not exist") if actual is None else _("is {value}%").format(value=actual)
            raise SettingsError(
                _("Order {number}: the VAT rate {rate}% is mapped to FiC VAT type {id}, which {found}. "
                  "Fix it in Configurazione imposte.").format(number=order.number, rate=key, id=vat_id,
                                                             found=found),
                field="vat_mapping", order_id=order.id)
    if vat_naturas is not None and Decimal(key) == 0 and not vat_naturas.get(vat_id):
        # SdI 00400: a 0% line without Natura is discarded.
        raise SettingsError(
            _("Order {number}: the zero VAT rate (line {line!r}) is mapped to FiC VAT type {id}, which has "
              "no natura (N1 … N7); the SdI refuses a zero-rate line without one (00400). Map it to a VAT type "
              "with a natura in Configurazione imposte.").format(number=order.number, line=line.name, id=vat_id),
            field="vat_mapping", order_id=order.id)
    if vat_naturas is not None and (vat_naturas.get(vat_id) or "").startswith("N3.2") and (
            not is_eu_business(order.customer) or line.kind == "service"):
        # Art. 41 DL 331/1993: N3.2 is a supply of goods to a business in another EU country.
        raise SettingsError(
            _("Order {number}: line {line!r} would be an intra-community supply (N3.2, FiC VAT type {id}), "
              "but that is only goods sold to an EU business with a VAT number; a consumer pays Italian VAT. "
              "Fix the mapping {key} in Configurazione imposte.").format(
                number=order.number, line=line.name, id=vat_id, key=mapped),
            field="vat_mapping", order_id=order.id)
    return vat_id


def check_oss(order: Order) -> None:
    """An OSS sale (``order.oss``) is to a consumer in another EU country, nobody else."""
    customer = order.customer
    if not order.oss:
        return
    if customer.is_italian or customer.vat_area != "EU" or is_eu_business(customer):
        raise order_error(order, _("it is marked as an OSS sale, but OSS is only for consumers in another EU "
                                    "country and the customer is in {country}{business}. Remove the OSS mark.").format(
            country=customer.country_iso.upper(),
            business=_(" with a VAT number") if is_eu_business(customer) else ""), "oss")
