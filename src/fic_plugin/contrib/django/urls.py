"""``path("fic/", include("fic_plugin.contrib.django.urls"))``: every plugin URL, named for ``reverse()``
(``fic:order_page``, ``fic:create``, ``fic:settings``, ...), from the plugin's own URL map."""

from __future__ import annotations

import re

from django.urls import path, re_path

from ...web.app import URLS
from . import views

app_name = "fic"


def _pattern(rule: str) -> str:
    """werkzeug's ``/documents/<int:document_id>/view`` as a Django regex."""
    def convert(match: re.Match) -> str:
        converter, _, name = match.group(1).rpartition(":")
        body = {"int": r"\d+", "path": r".+"}.get(converter, r"[^/]+")
        return f"(?P<{name}>{body})"

    return "^" + re.sub(r"<([^>]+)>", convert, rule.lstrip("/")) + "$"


def _view(endpoint: str, methods: tuple[str, ...], converters: dict[str, type]):
    def view(request, **kwargs):
        kwargs = {k: converters.get(k, str)(v) for k, v in kwargs.items()}
        return views.screen(request, endpoint=endpoint, methods=methods, **kwargs)

    view.__name__ = f"fic_{endpoint}"
    return view


def _converters(rule: str) -> dict[str, type]:
    return {name: int for name in re.findall(r"<int:([^>]+)>", rule)}


urlpatterns = [path("", views.index, name="index")] + [
    re_path(_pattern(rule.rule), _view(rule.endpoint, tuple(sorted(rule.methods - {"HEAD", "OPTIONS"})) or ("GET",),
                                       _converters(rule.rule)), name=rule.endpoint)
    for rule in URLS.iter_rules()
]
