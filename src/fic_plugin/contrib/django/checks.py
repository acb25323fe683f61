"""``manage.py check``: errors for a ``FIC`` dict that cannot work, warnings for what is missing.

Errors (the site would fail): an unknown key or a value of the wrong type (``fic_plugin.E001``),
an order adapter that is missing or does not import (``E002``), a ``DATABASE`` that cannot hold
the plugin's tables (``E003``), plugin settings in ``FIC`` that are not valid (``E004``).
Warnings (documents cannot be issued yet): no VAT mapping (``W001``), no FiC connection (``W002``).
"""

from __future__ import annotations

import os
from pathlib import Path

from django.core import checks

from ...errors import FicError
from .conf import fic_settings, problems, raw_settings

HINT = "See docs/django.md, 'Settings reference'."


@checks.register("fic_plugin")
def check_fic_settings(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    found = [checks.Error(message, hint=HINT, obj=f"FIC[{key!r}]", id="fic_plugin.E001")
             for key, message in problems(raw_settings())]
    if found:
        return found
    conf = fic_settings()
    from .shop import configured_settings, database_path, load_adapter

    try:
        load_adapter(conf["ORDER_ADAPTER"])
    except FicError as error:
        found.append(checks.Error(error.message, hint=HINT, obj="FIC['ORDER_ADAPTER']", id="fic_plugin.E002"))
    try:
        path = database_path(conf["DATABASE"])
    except FicError as error:
        found.append(checks.Error(error.message, hint=HINT, obj="FIC['DATABASE']", id="fic_plugin.E003"))
        path = None
    plugin_settings = configured_settings(conf)
    if plugin_settings:
        from ...settings import Settings

        try:
            Settings.from_mapping(plugin_settings)
        except FicError as error:
            found.append(checks.Error(f"FIC: {error.message}", hint=HINT, obj="FIC['SETTINGS']",
                                      id="fic_plugin.E004"))
    if found:
        return found
    stored = _stored(path)
    if not plugin_settings.get("vat_mapping") and not stored.get("vat_mapping"):
        found.append(checks.Warning(
            "No VAT mapping: documents cannot be issued until each shop VAT rate has its FiC VAT type.",
            hint="Set FIC['VAT_MAPPING'] = {'22': <FiC VAT id>, ...} or fill it on /fic/settings.",
            obj="FIC['VAT_MAPPING']", id="fic_plugin.W001"))
    token = os.environ.get("FIC_ACCESS_TOKEN") or conf["ACCESS_TOKEN"] or stored.get("token")
    company = os.environ.get("FIC_COMPANY_ID") or conf["COMPANY_ID"] or stored.get("fic_company_id")
    if not token or not company:
        found.append(checks.Warning(
            "Not connected to Fatture in Cloud: no access token or company id.",
            hint="Run manage.py fic_connect, or set FIC['ACCESS_TOKEN'] and FIC['COMPANY_ID'].",
            obj="FIC", id="fic_plugin.W002"))
    return found


def _stored(path: str | None) -> dict:
    """What the plugin's own settings hold; a database not created yet holds nothing."""
    if not path:
        return {}
    if not path.startswith("postgres") and not Path(path.removeprefix("sqlite:///")).exists():
        return {}
    from .shop import get_context

    try:
        context = get_context()
        return {"vat_mapping": context.settings.vat_mapping, "fic_company_id": context.settings.fic_company_id,
                "token": bool(context.store.get_secret("fic_access_token"))}
    except Exception:  # noqa: BLE001 - the check reports what it can; the site reports the rest
        return {}
