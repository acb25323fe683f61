"""Money, dates and the template environment, in the shop owner's language.

Italian shop owners read ``1.234,56 €`` and ``28/11/2026``; Babel knows the rules, so the screens
never format numbers by hand. Templates render with autoescape on: anything a customer typed is
text, never markup.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path

import jinja2
from babel.dates import format_date, format_time
from babel.numbers import format_currency, format_decimal

from ..dates import ROME
from ..i18n import _, current_language, ngettext

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

#: Babel locale for each screen language. English keeps day/month order (en_GB) because the
#: documents themselves are Italian and a date must read the same on both.
LOCALES = {"it": "it_IT", "en": "en_GB"}
#: The tables keep UTC; the owner reads times as the clock on the shop's wall shows them.
SHOP_TIMEZONE = ROME


def locale() -> str:
    return LOCALES.get(current_language.get(), "it_IT")


def money(amount: Decimal | str | None, currency: str = "EUR") -> str:
    """``Decimal("1234.56")`` → ``1.234,56 €`` (Italian) or ``€1,234.56`` (English)."""
    if amount is None or amount == "":
        return ""
    return format_currency(Decimal(str(amount)), currency or "EUR", locale=locale())


def number(value: Decimal | int | str) -> str:
    return format_decimal(Decimal(str(value)), locale=locale())


def shop_time(value: date | datetime | str) -> date | datetime:
    """A stored instant (UTC, with its offset) in the shop's local time; a bare date as it is."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(SHOP_TIMEZONE).replace(tzinfo=None)
    return value


def day(value: date | datetime | str | None) -> str:
    """``28/11/2026`` in both languages (see :data:`LOCALES`)."""
    if not value:
        return ""
    return format_date(shop_time(value), "dd/MM/yyyy", locale=locale())


def clock(value: datetime | str | None) -> str:
    """``10:42``, the shop's local time."""
    if not value:
        return ""
    return format_time(shop_time(value), "HH:mm", locale=locale())


def moment(value: datetime | str | None) -> str:
    """``28/11/2026 10:42``, for the audit log and the job list."""
    if not value:
        return ""
    return f"{day(value)} {clock(value)}"


@cache
def environment(override: str | None = None) -> jinja2.Environment:
    """The screens' Jinja environment: the shop's override folder first, then the plugin's own.

    A shop may copy a template into ``override`` (env ``FIC_TEMPLATES``) to restyle a screen
    without forking the plugin. Gettext is bound to :mod:`fic_plugin.i18n`, whose language is
    a context variable, so one environment serves every request in its own language.
    """
    loaders: list[jinja2.BaseLoader] = []
    if override:
        loaders.append(jinja2.FileSystemLoader(override))
    loaders.append(jinja2.FileSystemLoader(str(TEMPLATES)))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.install_gettext_callables(gettext=_, ngettext=ngettext, newstyle=True)
    env.filters.update(money=money, day=day, clock=clock, moment=moment, number=number)
    env.globals["static_text"] = static_text
    return env


@cache
def static_text(name: str) -> str:
    """A static file's content, for inlining: the panel must not depend on a second request."""
    return (STATIC / name).read_text(encoding="utf-8")


def render(template: str, **values) -> str:
    import os

    return environment(os.environ.get("FIC_TEMPLATES") or None).get_template(template).render(**values)
