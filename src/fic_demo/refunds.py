"""Refunds in the demo shop: ``POST /api/orders/{id}/refunds`` and the "Rimborsa" form.

A refund gives back some lines (``{"lines": [{"index": 0, "qty": 1}]}``) or an amount
(``{"amount": "10.00"}``), with an optional ``"reason"``. It is checked before anything is
written (a line the order does not have, a quantity of 0 or above what was sold, more than is
left to refund), stored in ``demo_refunds``, then fic-plugin hears of it (``order_refunded``) and
issues the credit note when the order has an invoice.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from fic_plugin.errors import InvalidInput
from fic_plugin.i18n import _
from fic_plugin.model import Order, Refund, RefundLine
from fic_plugin.refunds import check_refund

from .parse import amount

REFUND_KEYS = ("amount", "lines", "reason")


class RefundingShop(Protocol):
    """What a refund needs of the shop (the demo's ``DemoShop`` is one). A protocol, so this module
    sits below the shop, which reads its orders' refunds from here."""

    store: Any
    pm: Any

    def shop_get_order(self, order_id: str) -> Order: ...

    def settings(self) -> Any: ...

    def totals(self, order: Order) -> Any: ...


def parse_refund(order: Order, body: Any, refunded_at: datetime) -> Refund:
    """A refund of ``order`` from its JSON body; its amount for lines is their share of the total."""
    if not isinstance(body, dict):
        raise InvalidInput(_("The body must be a JSON object like {\"amount\": \"10.00\"} or "
                             "{\"lines\": [{\"index\": 0, \"qty\": 1}]}."), field="body", order_id=order.id)
    unknown = sorted(set(body) - set(REFUND_KEYS))
    if unknown:
        raise InvalidInput(_("Unknown field {field!r} in the refund: use amount, lines and reason.").format(
            field=unknown[0]), field=unknown[0], order_id=order.id)
    reason = body.get("reason") or ""
    if not isinstance(reason, str) or len(reason) > 500:
        raise InvalidInput(_("reason must be a text of at most 500 characters."), field="reason", order_id=order.id)
    if ("amount" in body) == ("lines" in body):
        raise InvalidInput(_("Order {number}: give either the amount refunded or the refunded lines.").format(
            number=order.number), field="amount", order_id=order.id)
    if "lines" in body:
        return Refund(amount="0", reason=reason, refunded_at=refunded_at, lines=_lines(order, body["lines"]))
    value = amount(body["amount"], "amount", places=2, minimum=Decimal("0"))
    if value == 0:
        raise InvalidInput(_("Order {number}: the refund must be more than zero, like \"10.00\".").format(
            number=order.number), field="amount", order_id=order.id)
    return Refund(amount=value, reason=reason, refunded_at=refunded_at)


def _lines(order: Order, value: Any) -> tuple[RefundLine, ...]:
    if not isinstance(value, list) or not value:
        raise InvalidInput(_("Order {number}: lines must be a list like [{{\"index\": 0, \"qty\": 1}}].").format(
            number=order.number), field="lines", order_id=order.id)
    result = []
    for position, item in enumerate(value):
        where = f"lines[{position}]"
        if not isinstance(item, dict) or not isinstance(item.get("index"), int) or isinstance(item.get("index"), bool):
            raise InvalidInput(_("Order {number}: {where}.index must be the number of an order line (from 0).").format(
                number=order.number, where=where), field=f"{where}.index", order_id=order.id)
        qty = amount(item.get("qty", "1"), f"{where}.qty", places=5, minimum=Decimal("0"))
        result.append(RefundLine(line_index=item["index"], qty=qty))
    return tuple(result)


def record_refund(shop: RefundingShop, order_id: str, body: Any) -> tuple[Order, Refund]:
    """Check, store and announce a refund; nothing is written when it is refused."""
    order = shop.shop_get_order(str(order_id))
    refund = parse_refund(order, body, datetime.now())
    settings = shop.settings()
    # What the credit notes of earlier refunds gave back, and what this one would.
    credited = sum((r.amount for r in order.refunds), Decimal("0"))
    totals = check_refund(order, refund, settings, invoice_total=shop.totals(order).gross, credited=credited)
    if refund.lines:
        refund = Refund(amount=totals.amount_gross, reason=refund.reason, refunded_at=refund.refunded_at,
                        lines=refund.lines)
    with shop.store.transaction() as db:
        refund_id = db["demo_refunds"].insert({
            "order_id": int(order.id), "amount": str(refund.amount), "reason": refund.reason,
            "lines": json.dumps([{"line_index": r.line_index, "qty": str(r.qty)} for r in refund.lines]),
            "refunded_at": refund.refunded_at.isoformat(timespec="microseconds"),
        }).last_pk
    order = shop.shop_get_order(str(order_id))
    refund = next(r for r in order.refunds if r.id == str(refund_id))
    if shop.pm is not None:
        shop.pm.hook.order_refunded(order=order, refund=refund)
    return order, refund


def load_refunds(store: Any, ids: list[int]) -> dict[int, list[Refund]]:
    """The refunds of these orders (the shop's ``store``), oldest first."""
    result: dict[int, list[Refund]] = {i: [] for i in ids}
    if not ids or not store.db["demo_refunds"].exists():
        return result
    marks = ", ".join("?" for _ in ids)
    for row in store.db.query(f"SELECT * FROM demo_refunds WHERE order_id IN ({marks}) ORDER BY id", ids):
        result[row["order_id"]].append(Refund(
            amount=row["amount"], reason=row["reason"] or "", id=str(row["id"]),
            refunded_at=datetime.fromisoformat(row["refunded_at"]), lines=json.loads(row["lines"] or "[]")))
    return result


def refund_json(refund: Refund) -> dict[str, Any]:
    return {"id": refund.id, "amount": str(refund.amount), "reason": refund.reason,
            "refunded_at": refund.refunded_at.isoformat(),
            "lines": [{"index": r.line_index, "qty": str(r.qty)} for r in refund.lines]}
