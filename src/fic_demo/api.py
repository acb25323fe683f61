"""How the demo shop's orders look in its JSON API (``/api/orders``).

Amounts are decimal strings, times ISO 8601: a client never has to guess a float's cents. The
``documents`` of an order come from fic-plugin's store, so a test can follow a document from the
shop's side without reading the plugin's tables itself.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fic_plugin.model import Document, Order, Payment

from .parse import CUSTOMER_KEYS
from .refunds import refund_json
from .shop import DemoShop
from .totals import line_total

DOCUMENT_KEYS = ("id", "type", "fic_id", "number", "numeration", "date", "status", "amount_paid",
                 "sent_at", "sent_to", "converted_from", "last_error", "amount_due", "amount_gross",
                 # a credit note: the local id of the invoice it corrects
                 "corrects", "e_invoice", "ei_status")


def _text(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def payment_json(payment: Payment) -> dict[str, Any]:
    return {"id": payment.id, "amount": str(payment.amount), "method": payment.method,
            "paid_at": payment.paid_at.isoformat()}


def document_json(document: Document) -> dict[str, Any]:
    return {key: _text(getattr(document, key)) for key in DOCUMENT_KEYS}


def order_json(shop: DemoShop, order: Order, *, documents: bool = True) -> dict[str, Any]:
    totals = shop.totals(order)
    paid = order.amount_paid
    data: dict[str, Any] = {
        "id": order.id,
        "number": order.number,
        "created_at": order.created_at.isoformat(),
        "customer": {k: getattr(order.customer, k) for k in CUSTOMER_KEYS},
        "lines": [
            {"name": line.name, "code": line.code, "kind": line.kind, "qty": str(line.qty),
             "unit_price": str(line.unit_price), "vat_rate": str(line.vat_rate),
             "discount": str(line.discount), "total": str(line_total(line))}
            for line in order.lines
        ],
        "prices_include_vat": order.prices_include_vat,
        "oss": order.oss,
        "payment_method": order.payment_method,
        "currency": order.currency,
        "totals": {
            "net": str(totals.net), "vat": str(totals.vat), "gross": str(totals.gross),
            "rivalsa": str(totals.rivalsa), "cassa": str(totals.cassa), "stamp_duty": str(totals.stamp_duty),
            "withholding_tax": str(totals.withholding_tax), "to_pay": str(totals.to_pay),
            "vat_list": {rate: {k: str(v) for k, v in amounts.items()} for rate, amounts in totals.vat_list.items()},
            "paid": str(paid),
            "due": str(max(totals.to_pay - paid, Decimal("0.00"))),
        },
        "payments": [payment_json(p) for p in order.payments],
        "refunds": [refund_json(r) for r in order.refunds],
        "amount_paid": str(paid),
        "paid_at": order.paid_at.isoformat() if order.paid_at else None,
        "status": order.status,
        "cig": order.cig, "cup": order.cup, "po_number": order.po_number,
        "po_date": order.po_date.isoformat() if order.po_date else None,
        "url": shop.admin_order_url(order),
        "customer_url": shop.shop_order_url(order),
    }
    if documents:
        data["documents"] = [document_json(d) for d in shop.documents(order.id)]
    return data
