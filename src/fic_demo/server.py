"""``fic demo``: the reference shop, the local FiC sandbox and the worker, in one process.

:class:`DemoRuntime` starts the pieces in threads and stops them in reverse order;
:func:`run_demo` (the CLI) serves in the foreground until Ctrl-C, and
:class:`fic_demo.testing.DemoServer` runs the same thing on free ports for tests.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from pathlib import Path
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

from fic_plugin.errors import FicError, NotAvailable
from fic_plugin.i18n import _
from fic_plugin.manager import get_plugin_manager
from fic_plugin.mappings import STANDARD_RATES, suggest_mappings
from fic_plugin.plugin import CORE_NAME
from fic_plugin.settings import update_settings

from .app import METHOD_LABELS, make_app
from .shop import PUBLIC_URL_ENV, DemoShop

log = logging.getLogger(__name__)

#: The sandbox accepts any bearer token; the demo stores this one so the client sends something.
SANDBOX_TOKEN = "demo-sandbox-token"
#: Mapped up front so that an order typed into the demo with any Italian rate can be invoiced.


def check_port(host: str, port: int, option: str) -> None:
    """Fail before starting anything when ``port`` is taken, naming the option that moves it."""
    if not port:
        return
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        # SO_REUSEADDR ignores sockets in TIME_WAIT but still fails on a listening one.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            raise FicError(_("Port {port} is already in use: stop the other program or run fic demo {option} {next}")
                           .format(port=port, option=option, next=port + 1)) from None


class DemoRuntime:
    """The running demo: shop, sandbox (unless ``fic_url``), worker and web server."""

    def __init__(self, db_path: str | Path, *, host: str = "127.0.0.1", port: int = 8000,
                 fic_url: str | None = None, sandbox_port: int = 8765, worker_interval: float = 2.0,
                 worker: bool = True, public_url: str | None = None, auto_invoice: bool = False,
                 webhooks: bool = True):
        self.db_path = Path(db_path)
        self.host, self.port = host, port
        self.fic_url, self.sandbox_port = fic_url, sandbox_port
        self.worker_interval, self.run_worker = worker_interval, worker
        self.public_url = public_url
        self.auto_invoice = auto_invoice
        self.webhooks = webhooks
        self.url = ""
        self.sandbox_url: str | None = None
        self.server: BaseWSGIServer | None = None
        self._stack = contextlib.ExitStack()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self, *, serve_in_thread: bool = True) -> DemoRuntime:
        check_port(self.host, self.port, "--port")
        if not self.fic_url:
            check_port("127.0.0.1", self.sandbox_port, "--sandbox-port")
        try:
            self._start(serve_in_thread)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, serve_in_thread: bool) -> None:
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        self.shop = DemoShop(self.db_path)
        if self.fic_url:
            fic_url = self.fic_url.rstrip("/")
        else:
            fic_url = self._start_sandbox()
        self.pm = get_plugin_manager([self.shop])
        self.context = self.pm.get_plugin(CORE_NAME).context
        configure_plugin(self.context, self.shop, fic_url,
                         sandbox_company_id=None if self.fic_url else self.sandbox_company_id,
                         auto_invoice=self.auto_invoice)
        try:
            self.server = make_server(self.host, self.port, make_app(self.pm, self.shop, public_url=self.public_url),
                                      threaded=True)
        except OSError:
            raise FicError(_("Port {port} is already in use: stop the other program or run fic demo --port {next}")
                           .format(port=self.port, next=self.port + 1)) from None
        shown_host = "127.0.0.1" if self.host in ("", "0.0.0.0", "::") else self.host
        self.url = f"http://{shown_host}:{self.server.server_port}"
        self.shop.base_url = (self.public_url or os.environ.get(PUBLIC_URL_ENV) or self.url).rstrip("/")
        stored = self.context.settings.public_url
        if not stored or stored.startswith(("http://127.0.0.1", "http://localhost")):
            # The customer's PDF links ({document_url}) go through the plugin mounted at /fic.
            update_settings(self.context.store, {"public_url": f"{self.shop.base_url}/fic"})
        if self.run_worker:
            self._start_worker()
        if self.webhooks and self.sandbox_url:
            # The sandbox verifies the sink with a request to this very server: subscribe once it serves.
            thread = threading.Thread(target=subscribe_to_sandbox, args=(self.context, self.sandbox_url, self.url),
                                      name="demo-webhooks", daemon=True)
            thread.start()
            self._threads.append(thread)
        if serve_in_thread:
            thread = threading.Thread(target=self.server.serve_forever, name="demo-shop", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _start_sandbox(self) -> str:
        try:
            from fic_sandbox.server import SandboxServer
        except ImportError:
            raise NotAvailable(_("The local FiC sandbox is not installed: run fic demo --fic-url URL "
                                 "to use another FiC API.")) from None
        sandbox = self._stack.enter_context(
            SandboxServer(port=self.sandbox_port, state=str(self.db_path.parent / "sandbox.db")))
        self.sandbox_url = sandbox.url
        self.shop.sms_log_url = f"{sandbox.url}/__sandbox__/sms"
        self.sandbox_company_id = getattr(sandbox, "company_id", 1)
        return sandbox.url

    def _start_worker(self) -> None:
        try:
            from fic_plugin.jobs import run_worker
        except ImportError:
            log.warning("fic_plugin.jobs is not available: the demo runs without the background worker")
            return
        import inspect

        kwargs: dict[str, Any] = {"once": False, "interval": self.worker_interval, "progress": False}
        if "stop" in inspect.signature(run_worker).parameters:
            kwargs["stop"] = self._stop

        def work() -> None:
            try:
                run_worker(self.context, **kwargs)
            except Exception:  # noqa: BLE001 - the shop keeps serving; the log says why the worker died
                log.exception("the demo's worker stopped")

        thread = threading.Thread(target=work, name="demo-worker", daemon=True)
        thread.start()
        self._threads.append(thread)

    def serve_forever(self) -> None:
        assert self.server is not None
        self.server.serve_forever()

    def stop(self) -> None:
        """Stop the web server, the worker (when it can be told to) and the sandbox."""
        self._stop.set()
        if self.server is not None:
            if any(t.name == "demo-shop" for t in self._threads):
                self.server.shutdown()
            self.server.server_close()
            self.server = None
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()
        self._stack.close()


def configure_plugin(context: Any, shop: DemoShop, fic_url: str, *, sandbox_company_id: int | None,
                     auto_invoice: bool = False) -> None:
    """Point the plugin at the FiC API and fill the VAT and payment mappings it lacks.

    With the sandbox the connection is the demo's own (company 1, a demo token). With another
    FiC API the token and company come from ``fic connect`` or the environment; the mappings are
    suggested only when they can be read.
    """
    store = context.store
    changes: dict[str, Any] = {"fic_api_url": fic_url}
    if sandbox_company_id is not None:
        changes.update(fic_company_id=sandbox_company_id, fic_access_token=SANDBOX_TOKEN)
    if not context.settings.shop_name:
        changes["shop_name"] = "Bottega Demo"
    raw = store.raw_settings()
    if sandbox_company_id is not None and "sms_provider" not in raw:
        # SMS can be tried without an account: the test provider sends nothing, the sandbox shows
        # each SMS at /__sandbox__/sms. Only on a fresh shop.
        changes["sms_provider"] = "test"
        if "sms_senders" not in raw:
            changes["sms_senders"] = "BottegaDemo"
    if auto_invoice and "auto_invoice" not in store.raw_settings():
        # `fic demo` shows the automation out of the box: a paid order gets its invoice and email
        # within one worker round. Only on a fresh shop: an owner's own choice stays.
        changes["auto_invoice"] = True
    update_settings(store, changes)
    context.reset_client()
    fill_missing_mappings(context, shop)


def subscribe_to_sandbox(context: Any, sandbox_url: str, shop_url: str) -> None:
    """Trust the sandbox's webhook key and subscribe ``/fic/webhooks`` to its events, once: the
    panel then shows an e-invoice go "Inviata allo SdI" → "Consegnata" as the SdI answers."""
    import requests

    from fic_plugin.errors import FicError
    from fic_plugin.webhooks import subscribe, subscriptions

    sink = f"{shop_url}/fic/webhooks"
    try:
        key = requests.get(f"{sandbox_url}/__sandbox__/webhooks/public_key", timeout=10).json()["pem"]
        if context.settings.fic_webhook_public_key != key.strip():
            update_settings(context.store, {"fic_webhook_public_key": key})
        if not any(row.get("sink") == sink for row in subscriptions(context)):
            subscribe(context, sink)
    except (FicError, requests.RequestException, KeyError, ValueError) as error:
        log.warning("the demo is not subscribed to the sandbox's webhooks (%s): SdI states come by polling", error)


def fill_missing_mappings(context: Any, shop: DemoShop) -> None:
    """Match the shop's VAT rates and payment methods with the FiC it talks to (rates by value);
    what the owner mapped already stays as it is."""
    _, token, company_id = context.connection()
    if not token or company_id is None:
        log.warning("No FiC token or company yet: run fic connect, then set the VAT and payment mappings")
        return
    try:
        vat_types, methods, accounts = fetch_lookups(context)
    except FicError as error:
        log.warning("Could not read FiC's VAT types and payment methods: %s", error)
        return
    settings = context.settings
    suggestion = suggest_mappings(vat_types, methods, accounts, _shop_rates(shop), _shop_methods(shop))
    vat_mapping = {**suggestion["vat_mapping"], **settings.vat_mapping}
    payment_mapping = {**suggestion["payment_mapping"], **settings.payment_mapping}
    if vat_mapping != settings.vat_mapping or payment_mapping != settings.payment_mapping:
        update_settings(context.store, {"vat_mapping": vat_mapping, "payment_mapping": payment_mapping})
    if suggestion["unmatched"]:
        log.warning("No FiC match for %s: set them with fic settings set", ", ".join(suggestion["unmatched"]))


def fetch_lookups(context: Any) -> tuple[list[dict], list[dict], list[dict]]:
    """FiC's VAT types, payment methods and accounts, through the plugin's client."""
    client = context.client
    return client.vat_types(), client.payment_methods(), client.payment_accounts()


def _shop_rates(shop: DemoShop) -> list[str]:
    used = [r for (r,) in shop.store.db.execute("SELECT DISTINCT vat_rate FROM demo_lines")]
    return [*STANDARD_RATES, *used]


def _shop_methods(shop: DemoShop) -> list[str]:
    used = [m for (m,) in shop.store.db.execute(
        "SELECT payment_method FROM demo_orders UNION SELECT method FROM demo_payments")]
    return [*METHOD_LABELS, *used]


def run_demo(db_path: str | Path, host: str, port: int, fic_url: str | None, sandbox_port: int,
             worker_interval: float) -> int:
    """Run the demo in the foreground until Ctrl-C; the shop's address is printed on one line."""
    runtime = DemoRuntime(db_path, host=host, port=port, fic_url=fic_url, sandbox_port=sandbox_port,
                          worker_interval=worker_interval, auto_invoice=True)
    runtime.start(serve_in_thread=False)
    where = f"FiC sandbox: {runtime.sandbox_url}" if runtime.sandbox_url else f"FiC: {fic_url}"
    print(f"Negozio demo: {runtime.url}  ({where})", flush=True)
    try:
        runtime.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        runtime.stop()
    return 0
