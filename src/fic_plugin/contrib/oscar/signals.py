"""Oscar's payments fire the plugin's events by themselves: no checkout code to fork.

A debit ``Transaction`` on a payment source (``PAID_FROM = "sources"``, what Oscar's checkout
writes) or a ``PaymentEvent`` of a listed type (``"payment_events"``, what the dashboard records)
calls :func:`fic_plugin.contrib.django.events.payment_changed` after the shop's transaction
commits: a rolled-back checkout issues nothing.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save


def connect() -> None:
    from oscar.core.loading import get_model

    post_save.connect(_transaction_saved, sender=get_model("payment", "Transaction"),
                      dispatch_uid="fic_oscar_transaction")
    post_save.connect(_payment_event_saved, sender=get_model("order", "PaymentEvent"),
                      dispatch_uid="fic_oscar_payment_event")


def _options() -> dict[str, Any]:
    from ..django.conf import fic_settings

    return dict(fic_settings()["OSCAR"] or {})


def _transaction_saved(sender: Any, instance: Any, created: bool, using: str, **kwargs: Any) -> None:
    if created and instance.txn_type == "Debit" and _options().get("PAID_FROM", "sources") == "sources":
        from ..django.events import payment_changed

        payment_changed(instance.source.order, using=using)


def _payment_event_saved(sender: Any, instance: Any, created: bool, using: str, **kwargs: Any) -> None:
    options = _options()
    if not created or options.get("PAID_FROM", "sources") != "payment_events":
        return
    if instance.event_type.name in options.get("PAYMENT_EVENT_TYPES", ("Paid", "Settled")):
        from ..django.events import payment_changed

        payment_changed(instance.order, using=using)
