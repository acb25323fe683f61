"""The shop's events, fired after the shop's transaction commits.

``transaction.on_commit`` means an event fired inside an ``atomic()`` block that rolls back issues
nothing, and the plugin reads the order as committed. ``robust=True``: a plugin failure is logged,
never raised into the shop's checkout (the worker's periodic check catches up on paid orders).
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from django.db import transaction

log = logging.getLogger(__name__)


def order_paid(order: Any, *, using: str | None = None) -> None:
    """The order is fully paid: queue its automatic document (when the settings ask for one)."""
    _after_commit("order_paid", order, using)


def payment_recorded(order: Any, payment: Any = None, *, using: str | None = None) -> None:
    """A payment came in: queue the update of the paid amount in FiC. ``payment`` is a
    :class:`fic_plugin.model.Payment`; without it, the order's latest payment as the adapter maps it."""
    _after_commit("payment_recorded", order, using, payment=payment)


def order_refunded(order: Any, refund: Any, *, using: str | None = None) -> None:
    """Money went back to the customer (a :class:`fic_plugin.model.Refund`)."""
    _after_commit("order_refunded", order, using, refund=refund)


def _after_commit(event: str, order: Any, using: str | None, **extra: Any) -> None:
    from .panel import order_id_of

    transaction.on_commit(partial(fire, event, order_id_of(order), **extra), using=using, robust=True)


def fire(event: str, order_id: str, **extra: Any) -> None:
    """Fire ``event`` for the committed order now (what ``on_commit`` calls)."""
    from .shop import get_context

    context = get_context()
    order = context.order(order_id)
    hook = context.pm.hook
    if event == "order_paid":
        hook.order_paid(order=order)
    elif event == "payment_recorded":
        payment = extra.get("payment") or (order.payments[-1] if order.payments else None)
        if payment is None:
            log.warning("fic-plugin: payment_recorded for order %s, which has no payment", order_id)
            return
        hook.payment_recorded(order=order, payment=payment)
    elif event == "order_refunded":
        hook.order_refunded(order=order, refund=extra["refund"])


def payment_changed(order: Any, *, using: str | None = None) -> None:
    """The order's payments changed: after commit, sync the paid amount and, when the order is now
    fully paid, fire ``order_paid`` (what Oscar's payment signals call; replays are harmless)."""
    from .panel import order_id_of

    transaction.on_commit(partial(_payment_changed, order_id_of(order)), using=using, robust=True)


def _payment_changed(order_id: str) -> None:
    from .shop import get_context

    context = get_context()
    order = context.order(order_id)
    if order.payments:
        context.pm.hook.payment_recorded(order=order, payment=order.payments[-1])
    if order.paid_at is not None:
        context.pm.hook.order_paid(order=order)
