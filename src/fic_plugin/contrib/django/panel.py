"""The order panel inside a Django page: ``{% load fic %}{% fic_order_panel order %}``."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.middleware.csrf import get_token
from markupsafe import escape

from ...errors import FicError
from ...model import Order
from ...web.panel import render_panel
from .access import may_manage
from .shop import get_adapter, get_context


def order_id_of(order: Any) -> str:
    """The plugin's id of a shop order: the adapter's ``order_id(obj)``, else its primary key."""
    if isinstance(order, Order):
        return order.id
    if isinstance(order, str | int):
        return str(order)
    adapter = get_adapter()
    to_id = getattr(adapter, "order_id", None)
    return str(to_id(order)) if to_id else str(order.pk)


def panel_html(request: HttpRequest | None, order: Any) -> str:
    """The panel for ``order`` (a model instance, an id or a fic Order), for this request's user,
    language and CSRF token; empty for users without ``FIC["PERMISSION"]``."""
    from .views import DJANGO_CSRF_FIELD, django_language, mount

    if request is None or not may_manage(getattr(request, "user", None)):
        return ""
    context = get_context()
    lang = django_language(context)
    try:
        fic_order = order if isinstance(order, Order) else context.order(order_id_of(order))
    except FicError as error:
        return f'<div class="fic-panel"><p class="fic-flash fic-error" role="alert">{escape(error.message)}</p></div>'
    return render_panel(context, fic_order, mount=mount(), lang=lang, csrf_token=get_token(request),
                        csrf_field=DJANGO_CSRF_FIELD, flash=False)
