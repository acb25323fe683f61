"""VIES for intra-community sales: the host answers (``fic_vat_number_valid``); the plugin makes
no network call of its own."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import InvalidInput
from .eu_vat import check_eu_vat_number
from .i18n import _
from .model import Order, order_error
from .vat_types import is_eu_business

if TYPE_CHECKING:
    from .context import Context


def check_vies(context: Context, order: Order) -> None:
    """Ask the host (``fic_vat_number_valid``) whether an EU business's VAT number is registered."""
    customer = order.customer
    if not is_eu_business(customer):
        return
    try:
        number = check_eu_vat_number(customer.vat_number, customer.country_iso)
    except InvalidInput as error:
        raise order_error(order, error.message, "customer.vat_number") from None
    if context.pm.hook.fic_vat_number_valid(country_iso=customer.country_iso.upper(), vat_number=number) is False:
        raise InvalidInput(
            _("Order {number}: the VAT number {vat} is not registered in VIES, so the sale cannot be an "
              "intra-community one. Check it with the customer.").format(number=order.number, vat=number),
            field="customer.vat_number", order_id=order.id)
