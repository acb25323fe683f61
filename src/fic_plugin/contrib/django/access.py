"""Who may use the plugin's panel and screens: ``FIC["PERMISSION"]``."""

from __future__ import annotations

from typing import Any

from .conf import fic_settings

DEFAULT_PERMISSION = "fic_plugin.manage_documents"


def required() -> tuple[str, ...]:
    value = fic_settings()["PERMISSION"] or DEFAULT_PERMISSION
    return (value,) if isinstance(value, str) else tuple(value)


def may_manage(user: Any) -> bool:
    """True when ``user`` has every item of ``FIC["PERMISSION"]``: ``app.codename`` permissions
    (``user.has_perm``) or user attributes such as ``is_staff``, as Oscar's dashboard writes them."""
    if user is None or not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", True):
        return False
    for item in required():
        if "." in item:
            if not user.has_perm(item):
                return False
        else:
            value = getattr(user, item, False)
            if not (value() if callable(value) else value):
                return False
    return True
