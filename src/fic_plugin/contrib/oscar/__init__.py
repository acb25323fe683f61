"""fic-plugin for Django Oscar: the order mapping, fiscal data, the dashboard panel. See ``docs/oscar.md``.

``FIC = {"ORDER_ADAPTER": "fic_plugin.contrib.oscar.OscarOrders", ...}``.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    # Lazy: settings name the adapter before Django's apps are loaded.
    if name == "OscarOrders":
        from .adapter import OscarOrders

        return OscarOrders
    raise AttributeError(name)
