"""Opening the shops of the registry (:mod:`fic_plugin.shop_registry`) for the workers.

:func:`open_shop` opens a shop and checks its database (present, migrated, connected to the
company the registry says) and registers the plugin the registry's ``plugin`` factory makes for it.
A bad shop is reported and skipped by the workers; it never stops the others. :class:`OpenShops`
keeps the shops a worker process served last, :func:`release` closes what a slice of work opened.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .cli_shop import cli_context
from .errors import FicError, SettingsError
from .fic.lookups import LookupCache, SharedStore
from .i18n import _
from .shop_registry import Shop

if TYPE_CHECKING:
    from .context import Context

log = logging.getLogger(__name__)


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

#: FiC lookups a worker with a shared store (Redis, with the engine) keeps in its own memory for
#: each shop it keeps open: four lookups and the numbering of a few document types. The others are
#: one round trip to the store away, so the lookups a worker holds do not grow with the companies
#: it serves (a real company's are some 50 KiB: with ``LookupCache``'s 8,192 entries a worker
#: serving 2,000 companies could hold 100 MiB of them).
LOOKUPS_PER_SHOP = 8


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
    accounts, email senders) are kept apart, in ``lookups``: a worker serving more shops than it
    keeps open (the dispatcher goes round them all) reopens most shops for each job, and used to
    ask FiC for the lookups again with every invoice. With a ``shared`` store (Redis, where every
    process of the platform finds them) the worker keeps only :data:`LOOKUPS_PER_SHOP` for each
    shop it keeps open and reads the others from the store; without one, every company's. Each
    use checks the file is still there and still the registry's company, and drops the client
    when the stored connection (token, company, URL) changed. The thread's database connection is
    closed after each use: nothing is held open per thread and shop between jobs.
    """

    def __init__(self, size: int | None = None, shared: SharedStore | None = None):
        self.size = size or open_shops_size()
        self._contexts: OrderedDict[Shop, tuple[Context, tuple]] = OrderedDict()
        self._lock = threading.Lock()
        self._opening: dict[Shop, threading.Lock] = {}
        self.lookups = LookupCache() if shared is None else LookupCache(
            size=LOOKUPS_PER_SHOP * self.size, shared=shared)

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
