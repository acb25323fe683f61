"""The integration API: one call gives a host everything it mounts, renders, fires and runs.

    app = fic_plugin.setup(MyShop(), database="shop.db", mount="/admin/fic")
    app.wsgi                                 # a WSGI app; mount it at ``mount``
    app.panel(order, language="it")          # the order page's fragment (links under ``mount``)
    app.events.order_paid(order)             # the shop's events: each one only queues a job
    app.worker.run()                         # the worker (``fic sync`` does the same)

The pluggy hooks stay the extension contract for developers; a host needs no ``shop_ready``, no
plugin name and no context of its own. Nothing is opened at construction: the database is
reached on first use, once per process (a ``fork`` after ``setup``, as gunicorn ``--preload``
does, gives each worker process its own connections) and once per thread. ``docs/integration.md``
explains the shape.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

from . import jobs
from .context import Context
from .hookspecs import hookimpl
from .manager import get_plugin_manager
from .plugin import CORE_NAME, FicPlugin
from .store import Store
from .web import csrf
from .web.app import FicWebApp, make_wsgi_app
from .web.panel import render_panel

if TYPE_CHECKING:
    from .model import Order, Payment, Refund


class DatabaseFile:
    """Answers ``shop_database`` with the database the host (or ``fic --db``) named: a SQLite path
    or a ``postgresql://`` URL."""

    def __init__(self, path: str | Path):
        self.path = path

    @hookimpl
    def shop_database(self) -> str:
        return str(self.path)


def setup(shop_plugin: object | Iterable[object] = (), *, database: str | Path | None = None,
          mount: str = "/fic", pm: pluggy.PluginManager | None = None,
          load_entrypoints: bool = True) -> FicApp:
    """fic-plugin for one shop: ``shop_plugin`` answers the shop services (``shop_get_order``,
    ``shop_is_admin``…; one object or several), ``database`` is the SQLite file of the plugin's
    tables (else the shop's ``shop_database`` hook says), ``mount`` is where the host mounts
    :attr:`FicApp.wsgi`.

    Plugins installed under the ``shop`` entry point load too; one registered twice (by the entry
    point and here) is registered once. With ``pm`` the host's own manager is completed instead.
    """
    plugins = [shop_plugin] if not isinstance(shop_plugin, list | tuple) else list(shop_plugin)
    if database is not None:
        plugins.append(DatabaseFile(database))
    if pm is None:
        pm = get_plugin_manager(plugins, load_entrypoints=load_entrypoints)
    else:
        for plugin in plugins:
            if not pm.is_registered(plugin):
                pm.register(plugin)
    return FicApp(pm, mount=mount)


class FicApp:
    """What a host holds: the WSGI app, the panel, the events and the worker of one shop."""

    def __init__(self, pm: pluggy.PluginManager, *, mount: str = "/fic"):
        self.pm = pm
        self.mount = "/" + mount.strip("/") if mount.strip("/") else ""
        core = pm.get_plugin(CORE_NAME)
        if core is None:
            # A manager the host built itself, where shop_ready was never fired.
            core = FicPlugin(pm)
            pm.register(core, name=CORE_NAME)
        core.mount = self.mount
        self._core: FicPlugin = core
        self._lock = threading.Lock()
        self._web: tuple[int, FicWebApp] | None = None
        self.events = Events(self)
        self.worker = Worker(self)

    def migrate(self) -> list[str]:
        """Create or upgrade the plugin's tables (what ``fic migrate`` does): once at install and
        after each upgrade; a request never migrates, it says "run fic migrate" instead."""
        return Store(self.pm.hook.shop_database()).migrate()

    @property
    def context(self) -> Context:
        """The shop's context in this process, made on first use (see :class:`FicPlugin`)."""
        return self._core.context

    def wsgi(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        """The screens and actions, as a WSGI app: mount it at :attr:`mount`. Links follow the
        path it is mounted at (``SCRIPT_NAME``), wherever that is."""
        return self._web_app()(environ, start_response)

    def _web_app(self) -> FicWebApp:
        pid = os.getpid()
        with self._lock:
            if self._web is None or self._web[0] != pid:
                self._web = (pid, make_wsgi_app(self.context))
            return self._web[1]

    def panel(self, order: Order, *, language: str | None = None, request: Any = None) -> str:
        """The panel for the order page, in ``language`` (``it``/``en``), else the language the
        request's browser prefers (a WSGI ``environ`` or an object with ``.environ`` / ``.META``),
        else the ``language`` setting. Never raises: a problem is shown inside the panel.

        With the request, the panel's forms only work from this browser (bound to its ``fic_csrf``
        cookie, which the plugin's pages set); without it, or before the browser has the cookie,
        they are bound to the order alone (``docs/security.md``)."""
        with csrf.browser(csrf.nonce_of(request)):
            return render_panel(self.context, order, mount=self.mount,
                                lang=language or _browser_language(request))


class Events:
    """The shop's events, fired through the plugin manager so every plugin hears them."""

    def __init__(self, app: FicApp):
        self._app = app
        self._hook = app.pm.hook

    def order_paid(self, order: Order, *, connection: Any = None) -> None:
        """The order is fully paid: its automatic document (and email) is queued when the
        settings ask for it. Returns in milliseconds; FiC is called by the worker.

        With ``connection`` (the shop's open connection to the same database) the job is written in
        the shop's transaction, and commits or rolls back with it; the other plugins' ``order_paid``
        is then the shop's to fire, after its commit.
        """
        if connection is not None:
            jobs.on_order_paid(self._app.context, order, connection=connection)
        else:
            self._hook.order_paid(order=order)

    def payment_recorded(self, order: Order, payment: Payment, *, connection: Any = None) -> None:
        """A payment (possibly partial) was recorded: the document's paid amount follows;
        ``connection`` as in :meth:`order_paid`."""
        if connection is not None:
            jobs.on_payment_recorded(self._app.context, order, payment, connection=connection)
        else:
            self._hook.payment_recorded(order=order, payment=payment)

    def order_refunded(self, order: Order, refund: Refund) -> None:
        """A refund was recorded: it goes to the activity log (credit notes are the owner's call)."""
        self._hook.order_refunded(order=order, refund=refund)


class Worker:
    """The worker: a loop of its own, one round (cron), or one job (a task queue's task)."""

    def __init__(self, app: FicApp):
        self._app = app

    def run(self, *, once: bool = False, interval: float = 60.0, stop: threading.Event | None = None) -> int:
        """Rounds until ``stop`` is set (or one, with ``once``): what ``fic sync`` runs."""
        return jobs.run_worker(self._app.context, once=once, interval=interval, stop=stop)

    def run_round(self) -> jobs.RoundReport:
        """Run the due jobs and the periodic check once."""
        return jobs.run_round(self._app.context)

    def execute_job(self, job_id: int) -> str:
        """Run one job by id: all a task queue (Celery, RQ, Huey) needs; ``done``, ``pending``
        (retry later), ``failed`` or ``skipped`` (another worker has it, or it is not due)."""
        return jobs.execute_job(self._app.context, job_id)


def _browser_language(request: Any) -> str | None:
    if request is None:
        return None
    environ = request if isinstance(request, dict) else (
        getattr(request, "environ", None) or getattr(request, "META", None) or {})
    accept = str(environ.get("HTTP_ACCEPT_LANGUAGE") or "")
    for part in accept.split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in ("it", "en"):
            return code
    return None
