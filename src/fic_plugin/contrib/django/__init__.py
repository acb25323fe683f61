"""fic-plugin for Django: ``INSTALLED_APPS += ["fic_plugin.contrib.django"]``, a ``FIC = {...}`` dict
in settings, ``path("fic/", include("fic_plugin.contrib.django.urls"))`` and, in templates,
``{% load fic %}{% fic_order_panel order %}``. Fire the shop's events with :func:`order_paid` and
:func:`payment_recorded` (after commit). See ``docs/django.md``.
"""

from __future__ import annotations

from typing import Any


def order_paid(order: Any, *, using: str | None = None) -> None:
    from .events import order_paid as fire

    fire(order, using=using)


def payment_recorded(order: Any, payment: Any = None, *, using: str | None = None) -> None:
    from .events import payment_recorded as fire

    fire(order, payment, using=using)


def order_refunded(order: Any, refund: Any, *, using: str | None = None) -> None:
    from .events import order_refunded as fire

    fire(order, refund, using=using)


def get_context():
    """The plugin's context for this project (store, settings, FiC client, plugin manager)."""
    from .shop import get_context as build

    return build()
