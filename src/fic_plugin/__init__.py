"""fic-plugin: Fatture in Cloud documents for a pluggy-based shop.

A host integrates it with one call (``docs/integration.md``)::

    import fic_plugin

    fic = fic_plugin.setup(MyShop(), database="shop.db", mount="/fic")

A plugin that overrides behaviour writes::

    from fic_plugin import hookimpl

    @hookimpl
    def fic_document_payload(order, document_type, payload):
        payload["visible_subject"] = f"Ordine {order.number}"
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .hookspecs import hookimpl
from .version import __version__

if TYPE_CHECKING:
    from .integration import FicApp, setup

__all__ = ["FicApp", "__version__", "hookimpl", "setup"]


def __getattr__(name: str) -> Any:
    # ``setup`` and ``FicApp`` load the whole plugin (web, worker, FiC client); a module that only
    # marks hooks (``from fic_plugin import hookimpl``) should not pay for that, so they load on
    # first use.
    if name in ("setup", "FicApp"):
        from . import integration

        return getattr(integration, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
