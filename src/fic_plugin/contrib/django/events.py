"""The shop's events, fired after the shop's transaction commits.

``transaction.on_commit`` means an event fired inside an ``atomic()`` block that rolls back issues
nothing, and the plugin reads the order as committed. ``robust=True``: a plugin failure is logged,
never raised into the shop's checkout (the worker's periodic check catches up on paid orders).

When the plugin's tables live in the shop's own PostgreSQL database (``FIC["DATABASE"]`` names
its alias), the job row is also written *now*, on Django's connection, inside the shop's
transaction (a real outbox): a crash between the shop's COMMIT and the after-commit hook loses
nothing, and a rollback takes the job with it. The hook after commit then finds the job there
(jobs are keyed) and adds nothing.
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

    order_id = order_id_of(order)
    if event != "order_refunded":
        _write_jobs_in_transaction(order_id, using, paid=event == "order_paid",
                                   recorded=event == "payment_recorded", payment=extra.get("payment"))
    transaction.on_commit(partial(fire, event, order_id, **extra), using=using, robust=True)


def _write_jobs_in_transaction(order_id: str, using: str | None, *, paid: bool, recorded: bool,
                               payment: Any = None) -> None:
    """The outbox: the event's jobs on the shop's own connection, when the tables are there.

    ``recorded``: the payment's sync; ``paid``: the automatic document (``None``: when the order
    is paid by now, for a change of payments)."""
    from django.db import DEFAULT_DB_ALIAS, connections

    from ...errors import FicError
    from .shop import get_context, same_database

    alias = using or DEFAULT_DB_ALIAS
    if not same_database(alias):
        return
    from ... import jobs

    context = get_context()
    try:
        # A savepoint: a failure here never aborts the shop's transaction (PostgreSQL would).
        with transaction.atomic(using=alias):
            order = context.order(order_id)
            connection = connections[alias]
            if recorded or paid is None:
                chosen = payment or (order.payments[-1] if order.payments else None)
                if chosen is not None:
                    jobs.on_payment_recorded(context, order, chosen, connection=connection)
            if paid or (paid is None and order.paid_at is not None):
                jobs.on_order_paid(context, order, connection=connection)
    except FicError as error:
        log.warning("fic-plugin: order %s: no job written in the shop's transaction: %s", order_id, error)


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

    order_id = order_id_of(order)
    _write_jobs_in_transaction(order_id, using, paid=None, recorded=False)
    transaction.on_commit(partial(_payment_changed, order_id), using=using, robust=True)


def _payment_changed(order_id: str) -> None:
    from .shop import get_context

    context = get_context()
    order = context.order(order_id)
    if order.payments:
        context.pm.hook.payment_recorded(order=order, payment=order.payments[-1])
    if order.paid_at is not None:
        context.pm.hook.order_paid(order=order)
