"""The dashboard's navigation entry (``OSCAR_DASHBOARD_NAVIGATION.append(fic_plugin.contrib.oscar.nav.ENTRY)``)."""

from __future__ import annotations

from typing import Any


def can_manage(user: Any, url_name: str, url_args: Any = None, url_kwargs: Any = None) -> bool:
    """Oscar's ``access_fn``: the entry shows to whoever may use the plugin (``FIC["PERMISSION"]``)."""
    from ..django.access import may_manage

    return may_manage(user)


ENTRY = {
    "label": "Fatture in Cloud",
    "icon": "fas fa-file-invoice",
    "url_name": "fic:settings",
    "access_fn": can_manage,
}
