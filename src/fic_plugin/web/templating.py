"""The screens' template environment.

Templates render with autoescape on: anything a customer typed is text, never markup. Money and
dates go through :mod:`fic_plugin.formatting` (Babel), exposed to templates as filters.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import jinja2

from ..formatting import clock, day, moment, money, number
from ..i18n import _, ngettext

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


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
    return environment(os.environ.get("FIC_TEMPLATES") or None).get_template(template).render(**values)
