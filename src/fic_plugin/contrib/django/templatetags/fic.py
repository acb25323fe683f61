"""``{% load fic %}{% fic_order_panel order %}``: the order's fiscal documents and their actions."""

from __future__ import annotations

from django import template
from django.utils.safestring import mark_safe

register = template.Library()


@register.simple_tag(takes_context=True)
def fic_order_panel(context, order) -> str:
    from ..panel import panel_html

    return mark_safe(panel_html(context.get("request"), order))  # the plugin's templates escape
