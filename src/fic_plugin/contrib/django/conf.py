"""The ``FIC = {...}`` dict of a Django project's settings, declared once.

Every key is declared here with its type, default and help: the system checks (``manage.py
check``), the docs (``docs/django.md``) and :func:`fic_settings` all come from :data:`KEYS`.
"""

from __future__ import annotations

import difflib
from typing import Any

import attrs


@attrs.frozen
class Key:
    name: str
    types: tuple[type, ...]
    default: Any
    help: str


KEYS: tuple[Key, ...] = (
    Key("ORDER_ADAPTER", (str,), None,
        "Dotted path of the class (or object) that turns your orders into fic_plugin.model.Order: "
        "get_order(order_id), and optionally order_id(obj), paid_orders(since), order_url(order). "
        "Oscar: fic_plugin.contrib.oscar.OscarOrders."),
    Key("DATABASE", (str,), "default",
        "Where the plugin keeps its fic_ tables: a Django database alias, a URL (postgresql://…, "
        "sqlite:///path) or a file path. A PostgreSQL alias keeps them in the shop's database, and "
        "events write their job inside the shop's transaction; a SQLite alias puts them in a file "
        "beside it (NAME + '.fic.sqlite3'), never into Django's own SQLite file."),
    Key("SCHEMA", (str,), None,
        "PostgreSQL only: the schema of the plugin's tables in the shop's database (default: the "
        "connection's search_path, usually public)."),
    Key("PERMISSION", (str, list, tuple), "fic_plugin.manage_documents",
        "What a user needs to use the panel and the screens: a permission (app_label.codename) or a "
        "user attribute (is_staff), or a list of them (all required)."),
    Key("BASE_TEMPLATE", (str,), "fic/page.html",
        "The template the plugin's screens extend; the screen goes in CONTENT_BLOCK."),
    Key("CONTENT_BLOCK", (str,), "content", "The block of BASE_TEMPLATE that receives the screen."),
    Key("TITLE_BLOCK", (str,), "title", "The block of BASE_TEMPLATE that receives the page title."),
    Key("API_URL", (str,), None, "Fatture in Cloud's API URL (the sandbox's in tests); env FIC_API_URL wins."),
    Key("ACCESS_TOKEN", (str,), None,
        "A FiC access token (token manuale); env FIC_ACCESS_TOKEN wins. Or run manage.py fic_connect."),
    Key("COMPANY_ID", (int,), None, "The FiC company id; env FIC_COMPANY_ID wins."),
    Key("VAT_MAPPING", (dict,), None, "Shop VAT rate -> FiC VAT id, e.g. {'22': 0, '10': 3, '0:EU': 28}."),
    Key("PAYMENT_MAPPING", (dict,), None,
        "Shop payment method -> FiC payment method id and account, e.g. {'card': {'payment_method_id': 5, 'payment_account_id': 2}}."),
    Key("SETTINGS", (dict,), None,
        "Any other plugin setting (auto_invoice, numeration, ...): written to the plugin's settings "
        "when the app starts, so the settings screen shows them."),
    Key("ACTION_BUDGET", (int, float), 3.0,
        "Seconds a panel action waits for FiC before it becomes a job ('in corso')."),
    Key("OSCAR", (dict,), None,
        "Oscar only: {'PAID_FROM': 'sources' | 'payment_events', 'PAYMENT_EVENT_TYPES': ['Paid']}."),
)
BY_NAME = {key.name: key for key in KEYS}


def raw_settings() -> dict[str, Any]:
    from django.conf import settings

    value = getattr(settings, "FIC", {})
    return value if isinstance(value, dict) else {}


#: With ``fic_plugin.contrib.oscar`` installed these defaults fit Oscar: its order mapping, the
#: permissions Oscar's dashboard asks of order staff, the screens inside the dashboard's layout.
OSCAR_DEFAULTS = {
    "ORDER_ADAPTER": "fic_plugin.contrib.oscar.OscarOrders",
    "PERMISSION": ["is_staff", "order.change_order"],
    "BASE_TEMPLATE": "oscar/dashboard/layout.html",
    "CONTENT_BLOCK": "dashboard_content",
}


def defaults() -> dict[str, Any]:
    from django.apps import apps

    values = {key.name: key.default for key in KEYS}
    if apps.is_installed("fic_plugin.contrib.oscar"):
        values.update(OSCAR_DEFAULTS)
    return values


def fic_settings() -> dict[str, Any]:
    """The ``FIC`` dict with the defaults of the keys it leaves out."""
    raw = raw_settings()
    return {name: raw.get(name, default) for name, default in defaults().items()}


def problems(raw: dict[str, Any]) -> list[tuple[str, str]]:
    """(key, what is wrong) for unknown keys and values of the wrong type."""
    found = []
    for name, value in raw.items():
        key = BY_NAME.get(name)
        if key is None:
            close = difflib.get_close_matches(str(name).upper(), BY_NAME, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            found.append((name, f"FIC[{name!r}] is not a setting of fic-plugin{hint}. "
                                f"Known keys: {', '.join(BY_NAME)}."))
        elif value is not None and (not isinstance(value, key.types) or isinstance(value, bool)):
            wanted = " or ".join(t.__name__ for t in key.types)
            found.append((name, f"FIC[{name!r}] must be a {wanted}, not {type(value).__name__} ({value!r})."))
    return found
