"""fic-plugin bound to a Django project: the shop services answered from Django's settings.

One plugin manager per process, built on first use from ``settings.FIC`` and rebuilt when the
settings change (tests). The order adapter (``FIC["ORDER_ADAPTER"]``) turns the project's orders
into :class:`fic_plugin.model.Order`; everything else (mail, URLs) is Django's own.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from django.utils.module_loading import import_string

from ... import hookimpl
from ...errors import SettingsError
from ...model import EmailMessage, Order
from .conf import fic_settings

_lock = threading.Lock()
_state: dict[str, Any] = {}


class AdapterError(SettingsError):
    """``FIC["ORDER_ADAPTER"]`` is missing or does not import."""


def load_adapter(path: Any) -> Any:
    """The order adapter named by ``path``: a class is instantiated, an object used as it is."""
    if not path:
        raise AdapterError("FIC['ORDER_ADAPTER'] is not set: name the class that turns your orders "
                           "into fic_plugin.model.Order (Oscar: 'fic_plugin.contrib.oscar.OscarOrders').",
                           field="ORDER_ADAPTER")
    try:
        target = import_string(path)
    except ImportError as error:
        raise AdapterError(f"FIC['ORDER_ADAPTER'] = {path!r} does not import: {error}. Check the dotted "
                           "path (module.Class) and that its module imports without errors.",
                           field="ORDER_ADAPTER") from None
    adapter = target() if isinstance(target, type) else target
    if not callable(getattr(adapter, "get_order", None)):
        raise AdapterError(f"FIC['ORDER_ADAPTER'] = {path!r} has no get_order(order_id) method.",
                           field="ORDER_ADAPTER")
    return adapter


def database_path(value: str) -> str:
    """The store URL of the plugin's tables for ``FIC["DATABASE"]`` (a Django alias, a URL or a path).

    A PostgreSQL alias keeps the tables in the shop's own database (in ``FIC["SCHEMA"]`` when
    set), so events can write their job inside the shop's transaction. A SQLite alias gets a file
    beside Django's: never Django's own file, where one long write locks the other out.
    """
    from django.conf import settings

    if value.startswith(("sqlite:///", "postgresql://", "postgres://")):
        return value
    databases = getattr(settings, "DATABASES", {})
    if value in databases:
        config = databases[value]
        engine = config.get("ENGINE", "")
        if "postgresql" in engine:
            return postgres_url(config, fic_settings()["SCHEMA"])
        if "sqlite3" not in engine:
            raise SettingsError(f"FIC['DATABASE'] = {value!r} is a {engine} database: fic-plugin keeps its "
                                "tables in PostgreSQL or SQLite. Set FIC['DATABASE'] to "
                                "'postgresql://…' or 'sqlite:////var/lib/shop/fic.sqlite3'.", field="DATABASE")
        name = str(config.get("NAME") or "")
        if not name or name == ":memory:" or name.startswith("file:"):
            raise SettingsError(f"FIC['DATABASE'] = {value!r} is an in-memory SQLite database: set "
                                "FIC['DATABASE'] to a file, 'sqlite:////path/fic.sqlite3'.", field="DATABASE")
        return f"{name}.fic.sqlite3"
    if "://" in value:
        raise SettingsError(f"FIC['DATABASE'] = {value!r} is neither a database alias of DATABASES nor a "
                            "sqlite:/// or postgresql:// URL.", field="DATABASE")
    return value


def postgres_url(config: dict[str, Any], schema: str | None) -> str:
    """The libpq URL of a Django PostgreSQL database (``?schema=`` for the plugin's tables)."""
    from urllib.parse import quote, urlencode

    user = quote(str(config.get("USER") or ""), safe="")
    password = quote(str(config.get("PASSWORD") or ""), safe="")
    credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = config.get("HOST") or "localhost"
    port = f":{config['PORT']}" if config.get("PORT") else ""
    query = f"?{urlencode({'schema': schema})}" if schema else ""
    return f"postgresql://{credentials}{host}{port}/{quote(str(config.get('NAME') or ''), safe='')}{query}"


def same_database(alias: str) -> bool:
    """True when the plugin's tables are in the database of Django's ``alias`` (PostgreSQL): a job
    can then be written on Django's own connection, inside the shop's transaction."""
    from django.conf import settings

    conf = fic_settings()
    config = getattr(settings, "DATABASES", {}).get(alias)
    if not config or "postgresql" not in config.get("ENGINE", ""):
        return False
    return conf["DATABASE"] == alias or database_path(conf["DATABASE"]) == postgres_url(config, conf["SCHEMA"])


class DjangoShop:
    """The shop services of a Django project, registered on the plugin manager."""

    def __init__(self, adapter: Any, database: str):
        self.adapter = adapter
        self.database = database

    @hookimpl
    def shop_database(self) -> str:
        if "://" not in self.database or self.database.startswith("sqlite:///"):
            Path(self.database.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        return self.database

    @hookimpl
    def shop_get_order(self, order_id: str) -> Order | None:
        return self.adapter.get_order(str(order_id))

    @hookimpl
    def shop_paid_orders(self, since: datetime | None) -> Iterable[Order] | None:
        paid_orders = getattr(self.adapter, "paid_orders", None)
        return paid_orders(since) if paid_orders else None

    @hookimpl
    def shop_order_url(self, order: Order) -> str | None:
        order_url = getattr(self.adapter, "order_url", None)
        return order_url(order) if order_url else None

    @hookimpl
    def shop_send_email(self, message: EmailMessage) -> bool:
        from django.conf import settings
        from django.core.mail import EmailMultiAlternatives

        mail = EmailMultiAlternatives(message.subject, message.text or message.html,
                                      getattr(settings, "DEFAULT_FROM_EMAIL", None), list(message.to))
        mail.attach_alternative(message.html, "text/html")
        mail.send()
        return True

    @hookimpl
    def shop_is_admin(self, environ: dict) -> bool:
        # Under Django the plugin's pages are Django views with their own permission check; the
        # bare WSGI app, if someone mounted it anyway, stays closed.
        return False


def migrate() -> tuple[str, list[str]]:
    """Create or upgrade the plugin's tables in ``FIC["DATABASE"]``: (where, migrations applied)."""
    from ...store import Store

    store = Store(database_path(fic_settings()["DATABASE"]))
    try:
        return store.describe(), store.migrate()
    finally:
        store.close()


def get_context():
    """The plugin's context for this Django project (built once per process)."""
    with _lock:
        context = _state.get("context")
        if context is None:
            context = _state["context"] = _build_context()
        return context


def get_adapter() -> Any:
    get_context()
    return _state["adapter"]


def reset(**_: Any) -> None:
    """Forget the built context and close its database connection (connected to Django's
    ``setting_changed`` for ``FIC``; tests and ``fic_migrate`` call it too)."""
    with _lock:
        context = _state.get("context")
        if context is not None:
            context.store.close()
        _state.clear()


def _build_context():
    from ...manager import get_plugin_manager
    from ...plugin import CORE_NAME

    conf = fic_settings()
    adapter = load_adapter(conf["ORDER_ADAPTER"])
    shop = DjangoShop(adapter, database_path(conf["DATABASE"]))
    pm = get_plugin_manager([shop])
    try:
        context = pm.get_plugin(CORE_NAME).context
    except SettingsError as error:
        # The tables are missing or older than the code: say the Django way to fix it.
        raise SettingsError(error.message.replace("`fic migrate`", "`python manage.py fic_migrate`"),
                            field="DATABASE") from None
    context.connection_overrides = {k.lower(): conf[k] for k in ("API_URL", "ACCESS_TOKEN", "COMPANY_ID")
                                    if conf[k] not in (None, "")}
    apply_settings(context, conf)
    _state["adapter"] = adapter
    return context


def configured_settings(conf: dict[str, Any]) -> dict[str, Any]:
    """The plugin settings the ``FIC`` dict fixes: ``SETTINGS`` plus the two mappings."""
    values = dict(conf.get("SETTINGS") or {})
    if conf.get("VAT_MAPPING") is not None:
        values["vat_mapping"] = conf["VAT_MAPPING"]
    if conf.get("PAYMENT_MAPPING") is not None:
        values["payment_mapping"] = conf["PAYMENT_MAPPING"]
    return values


def apply_settings(context, conf: dict[str, Any]) -> None:
    """Write what ``FIC`` fixes into the plugin's settings when it differs (all or nothing)."""
    from ...messages import known_shortcodes
    from ...settings import Settings, load_settings, update_settings

    values = configured_settings(conf)
    if not values:
        return
    unknown = sorted(set(values) - {f.name for f in Settings.fields()})
    if unknown:
        raise SettingsError(f"FIC['SETTINGS'] has keys that are not fic-plugin settings: {', '.join(unknown)}.",
                            field="SETTINGS")
    current = load_settings(context.store).to_mapping()
    wanted = Settings.from_mapping({**current, **values}).to_mapping()
    changed = {k: values[k] for k in values if k not in current or wanted.get(k) != current.get(k)}
    if changed:
        update_settings(context.store, changed, shortcodes=known_shortcodes(context.pm))
