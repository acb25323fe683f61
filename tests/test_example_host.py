"""examples/minimal_host.py, as a host runs it: the order page, the panel under the host's own
mount, a payment that becomes an invoice in FiC (the sandbox) through the worker, and
``fic_plugin.setup`` without rituals."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
from werkzeug.test import Client

import fic_plugin
from fic_plugin.settings import update_settings
from shoptest import (
    SANDBOX_PAYMENT_MAPPING,
    SANDBOX_VAT_MAPPING,
    TEST_TOKEN,
    fic_documents,
    sandbox_call,
)

ROOT = Path(__file__).resolve().parents[1]


def load_example():
    spec = importlib.util.spec_from_file_location("minimal_host", ROOT / "examples" / "minimal_host.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def host(tmp_path, sandbox, monkeypatch):
    sandbox_call(sandbox, "POST", "/__sandbox__/reset")
    for name, value in (("FIC_API_URL", sandbox.url), ("FIC_ACCESS_TOKEN", TEST_TOKEN), ("FIC_COMPANY_ID", "1"),
                        ("FIC_RATE_HOURLY", "1000000"), ("FIC_RATE_SHORT_TERM", "1000000")):
        monkeypatch.setenv(name, value)
    app, fic = load_example().make_host(str(tmp_path / "host.db"), mount="/admin/fic")
    fic.migrate()  # what a host does once at install (`fic migrate`)
    update_settings(fic.context.store, {"vat_mapping": SANDBOX_VAT_MAPPING, "payment_mapping": SANDBOX_PAYMENT_MAPPING,
                                        "auto_invoice": True, "shop_name": "Bottega Esempio"})
    return Client(app), fic


def test_the_example_host_issues_an_invoice_when_an_order_is_paid(host, sandbox):
    client, fic = host
    page = client.get("/orders/1").get_data(as_text=True)
    assert "Ordine 2026-001" in page and 'action="/admin/fic/orders/1/documents"' in page

    before = len(fic_documents(sandbox))
    assert client.post("/orders/1/paid").status_code == 303
    report = fic.worker.run_round()
    assert report.failed == 0 and report.done >= 1

    documents = fic_documents(sandbox)
    assert len(documents) == before + 1 and documents[-1]["type"] == "invoice"
    page = client.get("/orders/1").get_data(as_text=True)
    assert "/admin/fic/documents/" in page  # the new invoice's links follow the mount
    screen = client.get("/admin/fic/settings")
    assert screen.status_code == 200 and 'action="/admin/fic/settings"' in screen.get_data(as_text=True)


def test_the_panel_speaks_the_language_asked_or_the_browsers(host):
    _client, fic = host
    order = fic.context.order("1")
    italian = fic.panel(order, language="it")
    english = fic.panel(order, request={"HTTP_ACCEPT_LANGUAGE": "en-GB,en;q=0.9"})
    assert "Create document" in english and "Create document" not in italian


def test_setup_registers_what_the_entry_point_registered_already(tmp_path):
    """A host whose shop module is installed under the ``shop`` entry point *and* passed to
    ``setup`` gets it once, not ``ValueError: Plugin already registered``."""
    from fic_plugin import hookimpl
    from fic_plugin.manager import get_plugin_manager

    module = types.ModuleType("my_shop_fic")
    module.shop_database = hookimpl(lambda: str(tmp_path / "shop.db"))
    pm = get_plugin_manager(load_entrypoints=False)
    pm.register(module)  # what load_setuptools_entrypoints("shop") does for an installed plugin
    app = fic_plugin.setup(module, pm=pm)
    assert [p for p in app.pm.get_plugins() if p is module] == [module]
    assert [p for p in fic_plugin.setup([module, module], load_entrypoints=False).pm.get_plugins()
            if p is module] == [module]


def test_setup_opens_no_database_until_used(tmp_path):
    """Lazy and fork-safe: nothing is opened at construction, so a preloading server can fork."""
    database = tmp_path / "lazy.db"
    code = ("import fic_plugin, os, sys\n"
            f"app = fic_plugin.setup(database={str(database)!r}, load_entrypoints=False)\n"
            f"print(os.path.exists({str(database)!r}))\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_each_process_gets_its_own_context_after_a_fork(tmp_path):
    app = fic_plugin.setup(database=tmp_path / "fork.db", load_entrypoints=False)
    app.migrate()
    parent = app.context
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: a fresh context on its own connection
        ok = app.context is not parent and app.context.store.db.execute("SELECT 1").fetchone() == (1,)
        os.write(write, b"1" if ok else b"0")
        os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 1) == b"1"
    assert app.context is parent
