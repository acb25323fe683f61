"""fic-plugin: Fatture in Cloud documents for a pluggy-based shop.

A plugin that overrides behaviour writes::

    from fic_plugin import hookimpl

    @hookimpl
    def fic_document_payload(order, document_type, payload):
        payload["visible_subject"] = f"Ordine {order.number}"
"""

import pluggy

__version__ = "0.1.0"

#: Marks a function as an implementation of a hook of the ``shop`` project.
hookimpl = pluggy.HookimplMarker("shop")

__all__ = ["__version__", "hookimpl"]
