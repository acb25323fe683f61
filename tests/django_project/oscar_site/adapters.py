"""Adapters the tests name in FIC['ORDER_ADAPTER']."""

from fic_plugin.contrib.oscar.adapter import OscarOrders


class ShopOrders(OscarOrders):
    """The project's own mapping, as a host would subclass it."""
