"""Example: print the order date, the customer's own reference and your shop's name on documents.

fic-plugin puts "Ordine n. 1007" in the document's visible subject (the line printed under the
title). This plugin makes it "Ordine n. 1007 del 20/11/2026 - Vostro rif. PO-4471 - Bottega Rossi":

* the customer's reference (their purchase order number) comes from ``order.customer_reference``
  when your shop's ``Order`` has that attribute (an attrs subclass of ``fic_plugin.model.Order``);
* the shop name comes from the environment variable ``SHOP_NAME`` (left out when unset).

It only touches ``visible_subject``: ``subject`` holds fic-plugin's marker, which finds the
document again after a lost answer, and amounts must stay consistent with ``payments_list``.
"""

from __future__ import annotations

import os
from typing import Any

from fic_plugin import hookimpl
from fic_plugin.model import Order

#: FiC publishes no limit for the visible subject; keep it to one printed line.
MAX_LENGTH = 200


@hookimpl
def fic_document_payload(order: Order, document_type: str, payload: dict[str, Any]) -> None:
    parts = [payload.get("visible_subject") or f"Ordine n. {order.number}"]
    if order.created_at:
        parts[0] += f" del {order.created_at:%d/%m/%Y}"
    reference = (getattr(order, "customer_reference", None) or "").strip()
    if reference:
        parts.append(f"Vostro rif. {reference}")
    shop_name = os.environ.get("SHOP_NAME", "").strip()
    if shop_name:
        parts.append(shop_name)
    payload["visible_subject"] = " - ".join(parts)[:MAX_LENGTH]
