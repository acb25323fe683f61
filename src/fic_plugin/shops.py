"""The shops registry: a platform that hosts many shops tells the workers which ones to serve.

A TOML file (or JSON, by its extension)::

    [[shop]]
    id = "rossi"                                  # unique, the name in logs and ``fic status``
    db = "/srv/shops/rossi/shop.db"               # the shop database: a SQLite file or postgresql://…
    company_id = 1234                             # optional: the FiC company it must be connected to
    enabled = true                                # optional (default true)
    queue = "web-1"                               # optional: the engine queue of the machine holding a SQLite file
    plugin = "platform.fic:shop_plugin"           # optional: who answers for this shop's orders (below)

A platform's shops keep their orders in the platform's own tables (often one PostgreSQL schema per
shop), which one installed ``shop`` plugin cannot tell apart: it is given no shop. ``plugin``
names a factory, ``module:callable``, called with the :class:`Shop` each time the shop is opened;
the object it returns is registered in that shop's plugin manager and answers its ``shop_*``
hooks (``shop_get_order``, ``shop_paid_orders``, …). A top-level ``plugin`` is every shop's
default.

Loading checks what can be checked without opening anything (ids unique, fields present and of
the right type, one database per shop); :func:`open_shop` opens a shop and checks its database
(present, migrated, connected to the company the registry says). A bad shop is reported and
skipped by the workers; it never stops the others.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
import socket
import threading
import tomllib
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from .cli_shop import cli_context
from .errors import FicError, SettingsError
from .fic.lookups import LookupCache
from .i18n import _

if TYPE_CHECKING:
    from .context import Context

log = logging.getLogger(__name__)

#: Where the registry is looked for when ``--shops`` is not given.
DEFAULT_SHOPS_FILE = "shops.toml"
SHOPS_ENV = "FIC_SHOPS"
#: The engines ``fic sync`` runs jobs on (``--engine``, ``FIC_ENGINE``, the ``engine`` setting).
ENGINES = ("embedded", "celery")


@attrs.frozen
class Shop:
    id: str
    db: str
    enabled: bool = True
    company_id: int | None = None
    queue: str | None = None
    #: ``module:callable`` making the plugin that answers for this shop's orders, or None (an
    #: installed ``shop`` plugin, or the reference shop's file, answers).
    plugin: str | None = None

    @property
    def is_sqlite(self) -> bool:
        return not self.db.startswith(("postgresql://", "postgres://"))

    def engine_queue(self) -> str:
        """The engine queue that serves this shop: a SQLite file is only reachable from the
        machine that holds it (its ``queue``, default this machine's name); PostgreSQL from any."""
        if self.is_sqlite:
            return "fic-" + (self.queue or socket.gethostname())
        return self.queue or "fic"


class RegistryError(SettingsError):
    """The registry file itself is wrong: nothing is served until it is fixed."""


def registry_path(path: str | Path | None = None) -> Path:
    return Path(path or os.environ.get(SHOPS_ENV) or DEFAULT_SHOPS_FILE)


def _read_registry(file: Path) -> Any:
    if not file.exists():
        raise RegistryError(_("The shops registry {file} does not exist: write it (see docs/scaling.md) or pass "
                              "--shops FILE.").format(file=file))
    try:
        text = file.read_text(encoding="utf-8")
        return json.loads(text) if file.suffix == ".json" else tomllib.loads(text)
    except (ValueError, UnicodeDecodeError) as error:
        raise RegistryError(_("The shops registry {file} cannot be read: {reason}.").format(
            file=file, reason=error)) from None


def registry_engine(path: str | Path | None = None) -> str | None:
    """The registry's ``engine`` (``embedded`` or ``celery``, a top-level key): the platform's
    setting for ``fic sync --all-shops`` when neither ``--engine`` nor ``FIC_ENGINE`` is given."""
    file = registry_path(path)
    data = _read_registry(file)
    engine = data.get("engine") if isinstance(data, dict) else None
    if engine is not None and engine not in ENGINES:
        raise RegistryError(_("The shops registry {file}: engine is embedded or celery, not {value}.").format(
            file=file, value=engine))
    return engine


def load_registry(path: str | Path | None = None) -> list[Shop]:
    """Every shop of the registry, in file order; RegistryError naming the file, shop and field."""
    file = registry_path(path)
    data = _read_registry(file)
    rows = data.get("shop", data.get("shops")) if isinstance(data, dict) else None
    if not isinstance(rows, list):
        raise RegistryError(_("The shops registry {file} has no list of shops ([[shop]] in TOML, "
                              '"shops": [...] in JSON).').format(file=file))
    default_plugin = data.get("plugin")
    if default_plugin is not None:
        _check_plugin_path(file, default_plugin, _("the top-level plugin"))
    shops: list[Shop] = []
    seen_ids: dict[str, int] = {}
    seen_dbs: dict[str, str] = {}
    for number, row in enumerate(rows, start=1):
        shop = _shop_from_row(file, number, row)
        if shop.plugin is None and default_plugin is not None:
            shop = attrs.evolve(shop, plugin=default_plugin)
        if shop.id in seen_ids:
            raise RegistryError(_("The shops registry {file}: shop id {id} appears twice (shops {first} and "
                                  "{second}); every shop needs its own id.").format(
                file=file, id=shop.id, first=seen_ids[shop.id], second=number))
        key = _database_key(shop.db)
        if key in seen_dbs:
            raise RegistryError(_("The shops registry {file}: shops {first} and {second} name the same database "
                                  "{db}; every shop has its own.").format(
                file=file, first=seen_dbs[key], second=shop.id, db=shop.db))
        seen_ids[shop.id], seen_dbs[key] = number, shop.id
        shops.append(shop)
    return shops


def _shop_from_row(file: Path, number: int, row: Any) -> Shop:
    if not isinstance(row, dict):
        raise RegistryError(_("The shops registry {file}: shop {number} is not a table of fields.").format(
            file=file, number=number))
    unknown = set(row) - {"id", "db", "enabled", "company_id", "queue", "plugin"}
    if unknown:
        raise RegistryError(_("The shops registry {file}: shop {number} has unknown field(s) {fields} "
                              "(known: id, db, enabled, company_id, queue, plugin).").format(
            file=file, number=number, fields=", ".join(sorted(unknown))))
    for field in ("id", "db"):
        if not isinstance(row.get(field), str) or not row[field].strip():
            raise RegistryError(_("The shops registry {file}: shop {number} needs a text field {field}.").format(
                file=file, number=number, field=field))
    if not isinstance(row.get("enabled", True), bool):
        raise RegistryError(_("The shops registry {file}: shop {id}: enabled is true or false.").format(
            file=file, id=row["id"]))
    company = row.get("company_id")
    if company is not None and (isinstance(company, bool) or not isinstance(company, int) or company <= 0):
        raise RegistryError(_("The shops registry {file}: shop {id}: company_id is FiC's company number "
                              "(a positive integer).").format(file=file, id=row["id"]))
    queue = row.get("queue")
    if queue is not None and not isinstance(queue, str):
        raise RegistryError(_("The shops registry {file}: shop {id}: queue is a text.").format(
            file=file, id=row["id"]))
    plugin = row.get("plugin")
    if plugin is not None:
        _check_plugin_path(file, plugin, _("shop {id}: plugin").format(id=row["id"]))
    return Shop(id=row["id"].strip(), db=row["db"].strip(), enabled=row.get("enabled", True),
                company_id=company, queue=queue, plugin=plugin)


def _check_plugin_path(file: Path, value: Any, where: str) -> None:
    """``module:callable`` in form only: importing it is the worker's job (the registry is also
    read where the platform's code is not installed, by ``fic status``)."""
    module, _sep, name = value.partition(":") if isinstance(value, str) else ("", "", "")
    if not (module and name and all(part.isidentifier() for part in [*module.split("."), *name.split(".")])):
        raise RegistryError(_("The shops registry {file}: {where} is {value!r}: write it as module:callable, "
                              "e.g. \"platform.fic:shop_plugin\".").format(file=file, where=where, value=value))


def shop_plugin(shop: Shop) -> object | None:
    """The object the registry's ``plugin`` factory makes for ``shop`` (None without one); a
    ShopUnavailable (permanent) naming the shop and the factory when it cannot be imported or fails."""
    if shop.plugin is None:
        return None
    module_name, _sep, name = shop.plugin.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
        for part in name.split("."):
            target = getattr(target, part)
    except Exception as error:  # noqa: BLE001 - ImportError, AttributeError, or the module's own failure
        raise ShopUnavailable(shop, _("Shop {shop}: its plugin {plugin} cannot be imported ({reason}): install the "
                                      "platform's package where the workers run, or fix plugin in the shops "
                                      "registry.").format(shop=shop.id, plugin=shop.plugin, reason=error),
                              permanent=True) from None
    try:
        made = target(shop)
    except Exception as error:  # noqa: BLE001 - the platform's code: one shop's failure, said
        raise ShopUnavailable(shop, _("Shop {shop}: its plugin {plugin} failed ({kind}: {reason}).").format(
            shop=shop.id, plugin=shop.plugin, kind=type(error).__name__, reason=error)) from None
    if made is None:
        raise ShopUnavailable(shop, _("Shop {shop}: its plugin {plugin} returned nothing: it must return the "
                                      "object that answers the shop_* hooks.").format(shop=shop.id, plugin=shop.plugin),
                              permanent=True)
    return made


def _database_key(db: str) -> str:
    if db.startswith(("postgresql://", "postgres://")):
        return db
    return str(Path(db.removeprefix("sqlite:///")).resolve())


class ShopUnavailable(FicError):
    """One shop cannot be served now (its database is missing, broken, or another company's)."""

    def __init__(self, shop: Shop, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.shop = shop
        #: True when waiting cannot help (no such file, another company's database): the registry
        #: must change. Otherwise (a locked or unreachable database) the shop is tried again.
        self.permanent = permanent


def _check_file(shop: Shop) -> None:
    if shop.is_sqlite and not Path(shop.db.removeprefix("sqlite:///")).exists():
        raise ShopUnavailable(shop, _("Shop {shop}: its database {db} does not exist (a moved or deleted file?); "
                                      "fix db in the shops registry.").format(shop=shop.id, db=shop.db), permanent=True)


def _check(shop: Shop, context: Context, connection: tuple | None = None) -> None:
    """ShopUnavailable when the shop's file is gone or its database belongs to another company:
    checked on every use, since a file can be moved and a company changed while a worker runs."""
    _check_file(shop)
    if shop.company_id is not None:
        _url, _token, company = connection or context.connection()
        if company is not None and company != shop.company_id:
            raise ShopUnavailable(shop, _(
                "Shop {shop}: its database {db} is connected to FiC company {found}, not {expected}: it belongs "
                "to another shop's company; fix db or company_id in the shops registry.").format(
                shop=shop.id, db=shop.db, found=company, expected=shop.company_id), permanent=True)


def _unavailable(shop: Shop, error: Exception) -> ShopUnavailable:
    if isinstance(error, ShopUnavailable):
        return error
    if isinstance(error, FicError):
        return ShopUnavailable(shop, _("Shop {shop}: {reason}").format(shop=shop.id, reason=error))
    return ShopUnavailable(shop, _("Shop {shop}: its database {db} cannot be opened ({kind}: {reason}).").format(
        shop=shop.id, db=shop.db, kind=type(error).__name__, reason=error))


def open_shop(shop: Shop) -> Context:
    """The plugin context of one shop, checked: database present and migrated, and connected
    to the FiC company the registry names."""
    _check_file(shop)
    made = shop_plugin(shop)
    try:
        context = cli_context(shop.db, plugins=[made] if made is not None else ())
    except Exception as error:  # noqa: BLE001 - a broken file must not stop the other shops
        raise _unavailable(shop, error) from None
    try:
        _check(shop, context)
    except ShopUnavailable:
        context.store.close()
        raise
    return context


@contextmanager
def shop_context(shop: Shop) -> Iterator[Context]:
    """A shop's context for one slice of work, closed after it: a worker serving thousands of
    shops keeps no connection or file open between turns (memory stays flat)."""
    context = open_shop(shop)
    try:
        yield context
    finally:
        release(context)


@contextmanager
def shop_jobs(shop: Shop) -> Iterator[Context]:
    """A shop's jobs and settings without its plugins (no orders: ``context.pm`` is None): what a
    dispatcher reads on every pass over thousands of shops, for the price of opening the database
    file (no plugin manager, no schema walk, no company check: the workers check the company
    before running anything, and :func:`shop_context` when the dispatcher looks for paid orders)."""
    from .context import Context
    from .store import Store

    _check_file(shop)
    try:
        context = Context(pm=None, store=Store(shop.db))  # type: ignore[arg-type] - no hooks are called
    except Exception as error:  # noqa: BLE001 - a broken file must not stop the other shops
        raise _unavailable(shop, error) from None
    try:
        yield context
    finally:
        context.store.close()


#: Shop contexts a worker process keeps between jobs (see :class:`OpenShops`); ``FIC_OPEN_SHOPS``
#: in the environment sets another number. A used context holds about 130 KiB of the process's
#: memory (33 KiB of Python objects: its plugin manager, settings and FiC client; the rest is
#: the allocator's), so 256 of them are about 35 MiB. No connection is kept: see :func:`release`.
OPEN_SHOPS = 256


def open_shops_size(environ: Mapping[str, str] = os.environ) -> int:
    """``FIC_OPEN_SHOPS``, or :data:`OPEN_SHOPS`; a SettingsError naming it when wrong."""
    return env_count(environ, "FIC_OPEN_SHOPS", OPEN_SHOPS, _(
        "FIC_OPEN_SHOPS is {value!r}: give the number of shops a worker keeps open, 1 or more (default {default})."))


def env_count(environ: Mapping[str, str], name: str, default: int, wrong: str) -> int:
    """The whole number of 1 or more in ``environ[name]``, ``default`` when unset; ``wrong`` (with
    ``{value}`` and ``{default}``) is the SettingsError's message for anything else."""
    value = str(environ.get(name, "")).strip()
    if not value:
        return default
    if not value.isdigit() or int(value) < 1:
        raise SettingsError(wrong.format(value=value, default=default), field=name)
    return int(value)


def release(context: Context) -> None:
    """Done with a shop for now, in this thread: the plugin's connection and the shop plugin's
    (``shop_release``) are closed, so a worker holds nothing open per shop between jobs."""
    try:
        context.pm.hook.shop_release()
    except Exception:  # noqa: BLE001 - the shop's code: its failure must not stop the worker
        log.warning("fic-plugin: a shop plugin's shop_release failed", exc_info=True)
    finally:
        context.store.close()


def lookup_scope(connection: tuple) -> str:
    """What a company's cached lookups are filed under: its API, company and token (digested,
    so no token sits in a key), so no shop ever reads another's, even one naming the same company."""
    url, token, company = connection
    return hashlib.sha256(f"{url}\n{company}\n{token}".encode()).hexdigest()


class OpenShops:
    """The contexts of the shops a worker process served last, kept between jobs.

    Opening a shop (its plugin manager, schema check, FiC client) costs more CPU than running one
    of its jobs. At most ``size`` shops are kept (the least recently used is let go), so memory
    stays flat however many shops the registry holds. FiC's lookups (VAT types, payment methods,
    accounts, email senders) are kept apart, in ``lookups``, for every company served: a worker
    serving more shops than it keeps open (the dispatcher goes round them all) reopens most shops
    for each job, and used to ask FiC for the lookups again with every invoice. Each
    use checks the file is still there and still the registry's company, and drops the client
    when the stored connection (token, company, URL) changed. The thread's database connection is
    closed after each use: nothing is held open per thread and shop between jobs.
    """

    def __init__(self, size: int | None = None):
        self.size = size or open_shops_size()
        self._contexts: OrderedDict[Shop, tuple[Context, tuple]] = OrderedDict()
        self._lock = threading.Lock()
        self._opening: dict[Shop, threading.Lock] = {}
        self.lookups = LookupCache()

    @contextmanager
    def use(self, shop: Shop) -> Iterator[Context]:
        context = self._get(shop)
        try:
            try:
                connection = context.connection()
                _check(shop, context, connection)
                self._refresh_client(shop, context, connection)
                if not context.client.shares_lookups:
                    context.client.share_lookups(self.lookups, lookup_scope(connection))
            except Exception as error:  # noqa: BLE001 - the shop is reopened next time
                self.forget(shop)
                raise _unavailable(shop, error) from None
            yield context
        finally:
            release(context)

    def forget(self, shop: Shop) -> None:
        with self._lock:
            self._contexts.pop(shop, None)

    def __len__(self) -> int:
        return len(self._contexts)

    def _get(self, shop: Shop) -> Context:
        with self._lock:
            found = self._contexts.get(shop)
            if found is not None:
                self._contexts.move_to_end(shop)
                return found[0]
            opening = self._opening.setdefault(shop, threading.Lock())
        # One thread opens a shop; the others wanting it meanwhile wait for that context.
        with opening:
            with self._lock:
                found = self._contexts.get(shop)
            if found is not None:
                return found[0]
            try:
                context = open_shop(shop)
            finally:
                with self._lock:
                    self._opening.pop(shop, None)
            with self._lock:
                self._contexts[shop] = (context, context.connection())
                while len(self._contexts) > self.size:
                    self._contexts.popitem(last=False)
            return context

    def _refresh_client(self, shop: Shop, context: Context, connection: tuple) -> None:
        with self._lock:
            found = self._contexts.get(shop)
            if found is None or found[0] is not context or found[1] == connection:
                return
            self._contexts[shop] = (context, connection)
        context.reset_client()


def company_key(context: Context) -> str:
    """The FiC quota a shop draws on: its company and app (the API's base URL)."""
    url, _token, company = context.connection()
    return f"{company}@{url}"
