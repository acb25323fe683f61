"""``fic demo`` and DemoServer: ports, start-up configuration, the one printed line, Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from fic_demo.server import DemoRuntime
from fic_plugin.errors import FicError
from fic_plugin.i18n import language


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_busy_shop_port_stops_everything_before_it_starts(tmp_path, busy_port):
    runtime = DemoRuntime(tmp_path / "data" / "shop.db", port=busy_port, sandbox_port=free_port())
    with language("en"), pytest.raises(FicError) as error:
        runtime.start()
    assert str(error.value) == (f"Port {busy_port} is already in use: stop the other program or run "
                                f"fic demo --port {busy_port + 1}")
    assert not (tmp_path / "data").exists()  # nothing created, nothing seeded


def test_a_busy_sandbox_port_names_its_option(tmp_path, busy_port):
    runtime = DemoRuntime(tmp_path / "shop.db", port=free_port(), sandbox_port=busy_port)
    with language("en"), pytest.raises(FicError, match=f"fic demo --sandbox-port {busy_port + 1}$"):
        runtime.start()


def _fic(*args: str, db: Path, **popen) -> subprocess.Popen:
    env = {**os.environ, "FIC_LANGUAGE": "en", "PYTHONUNBUFFERED": "1"}
    for name in ("FIC_API_URL", "FIC_ACCESS_TOKEN", "FIC_COMPANY_ID"):
        env.pop(name, None)
    return subprocess.Popen([sys.executable, "-m", "fic_plugin.cli", "--db", str(db), *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def _ctrl_c_as_in_a_terminal() -> None:
    """In the demo's process, before it starts: SIGINT handled and not blocked, as a terminal
    leaves it. A suite started in the background by a non-interactive shell (``nohup make test &``)
    runs with SIGINT ignored, and its children inherit that: the demo then never saw the Ctrl-C
    and the test waited out its 20 s. What the test checks is the demo's own handling of Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def test_cli_on_a_busy_port_exits_with_one_line(tmp_path, busy_port):
    process = _fic("demo", "--port", str(busy_port), "--sandbox-port", str(free_port()), db=tmp_path / "shop.db")
    out, err = process.communicate(timeout=60)
    assert process.returncode == 1
    assert out == ""
    assert err.splitlines() == [f"fic: Port {busy_port} is already in use: stop the other program or run "
                                f"fic demo --port {busy_port + 1}"]


def _sandbox_available() -> bool:
    try:
        from fic_sandbox.server import SandboxServer  # noqa: F401
    except ImportError:
        return False
    return True


needs_sandbox = pytest.mark.skipif(not _sandbox_available(), reason="the local FiC sandbox is not built yet")


@needs_sandbox
def test_cli_runs_the_demo_until_ctrl_c(tmp_path):
    port, sandbox_port = free_port(), free_port()
    process = _fic("demo", "--port", str(port), "--sandbox-port", str(sandbox_port), "--worker-interval", "0.5",
                   db=tmp_path / "shop.db", preexec_fn=_ctrl_c_as_in_a_terminal)
    try:
        line = process.stdout.readline()
        assert line == f"Negozio demo: http://127.0.0.1:{port}  (FiC sandbox: http://127.0.0.1:{sandbox_port})\n"
        assert requests.get(f"http://127.0.0.1:{port}/api/orders", timeout=10).json()["total"] == 5
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert out == ""  # the address line only
    assert "Traceback" not in err
    assert (tmp_path / "sandbox.db").exists()  # the sandbox keeps its state next to the shop


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    if not _sandbox_available():
        pytest.skip("the local FiC sandbox is not built yet")
    from fic_demo.testing import DemoServer

    with DemoServer(tmp_path_factory.mktemp("demo")) as server:
        yield server


def test_demo_server_configures_the_plugin_for_the_sandbox(demo):
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", demo.url) and demo.sandbox_url != demo.url
    assert demo.db_path.exists()
    settings = demo.context.settings
    assert settings.fic_api_url == demo.sandbox_url and settings.fic_company_id == 1
    assert demo.context.store.get_secret("fic_access_token")
    # Mapped from the sandbox's lookups by value and name (its 22% is id 0, 10% id 3, 4% id 4).
    assert {k: settings.vat_mapping[k] for k in ("22", "10", "4")} == {"22": 0, "10": 3, "4": 4}
    # 0% by customer and supply: a domestic sale N2.2 (id 6, never N3.x), goods to the German
    # company an intra-community supply (N3.2, id 28), to the American an export (N3.1, id 23).
    keys = ("0", "0:EU-business:goods", "0:extra-EU:goods", "0:EU", "0:extra-EU")
    assert {k: settings.vat_mapping.get(k) for k in keys} == {
        "0": 6, "0:EU-business:goods": 28, "0:extra-EU:goods": 23, "0:EU": None, "0:extra-EU": None}
    assert set(settings.payment_mapping) >= {"bank_transfer", "card", "paypal", "cash"}
    # {order_url} is the customer's page of the order (a key in the link), not the owner's.
    customer_url = demo.shop.shop_order_url(demo.shop.shop_get_order("1"))
    assert customer_url.startswith(f"{demo.url}/i-miei-ordini/1/")
    customer_page = requests.get(customer_url, timeout=10)
    assert customer_page.status_code == 200 and "Il tuo ordine n." in customer_page.text
    assert 'class="fic-panel"' not in customer_page.text and "/fic/settings" not in customer_page.text
    assert requests.get(f"{demo.url}/i-miei-ordini/1/guessed", timeout=10).status_code == 404
    page = requests.get(demo.url + "/orders/1", timeout=10)
    assert page.status_code == 200 and 'class="fic-panel"' in page.text
    assert requests.get(demo.url + "/fic/settings", timeout=10).status_code == 200


def test_paying_an_order_in_the_demo_issues_its_invoice(demo):
    from fic_plugin.settings import update_settings

    update_settings(demo.context.store, {"auto_invoice": True})
    try:
        order = requests.get(demo.url + "/api/orders/2", timeout=10).json()
        paid = requests.post(demo.url + "/api/orders/2/payments", timeout=10,
                             json={"amount": order["totals"]["due"], "method": "bank_transfer"}).json()
        assert paid["status"] == "paid" and paid["warnings"] == []
        deadline = time.monotonic() + 30
        documents: list = []
        while time.monotonic() < deadline:
            documents = requests.get(demo.url + "/api/orders/2", timeout=10).json()["documents"]
            if any(d["type"] == "invoice" and d["fic_id"] and d["status"] == "paid" for d in documents):
                break
            time.sleep(0.3)
        invoice = next(d for d in documents if d["type"] == "invoice")
        assert invoice["fic_id"] and invoice["number"] and invoice["status"] == "paid", documents
        assert invoice["amount_paid"] == order["totals"]["gross"]
    finally:
        update_settings(demo.context.store, {"auto_invoice": False})


@needs_sandbox
def test_demo_against_another_fic_api(tmp_path, monkeypatch):
    from fic_demo.testing import DemoServer
    from fic_sandbox.server import SandboxServer

    monkeypatch.setenv("FIC_DEMO_PUBLIC_URL", "https://bottega.example.it")
    with SandboxServer(port=0) as fic:
        monkeypatch.delenv("FIC_ACCESS_TOKEN", raising=False)
        monkeypatch.delenv("FIC_COMPANY_ID", raising=False)
        with DemoServer(tmp_path / "no-token", fic_url=fic.url, worker=False) as demo:
            assert demo.sandbox_url is None
            assert demo.context.settings.fic_api_url == fic.url
            assert demo.context.store.get_secret("fic_access_token") is None  # never invented for a real FiC
            assert demo.context.settings.vat_mapping == {}  # nothing to read the lookups with
        monkeypatch.setenv("FIC_ACCESS_TOKEN", "a/token-from-fic-connect")
        monkeypatch.setenv("FIC_COMPANY_ID", str(fic.company_id))
        with DemoServer(tmp_path / "with-token", fic_url=fic.url, worker=False) as demo:
            assert demo.context.settings.vat_mapping["22"] == 0
            assert demo.context.settings.payment_mapping["paypal"]["payment_method_id"] == 3
            order = demo.shop.shop_get_order("1")
            assert demo.pm.hook.shop_order_url(order=order).startswith("https://bottega.example.it/i-miei-ordini/1/")


def test_the_demos_eu_and_export_orders_carry_their_own_exemption(demo):
    from fic_plugin.documents import Documents

    natures = {}
    for order_id in ("3", "4"):  # Feinkost Müller GmbH (DE), Emily Johnson (US)
        document = Documents(demo.context).create(order_id, "proforma")
        fic = requests.get(f"{demo.sandbox_url}/__sandbox__/documents", timeout=10).json()["data"]
        [stored] = [d for d in fic if d["id"] == document.fic_id]
        natures[order_id] = {item["vat"]["id"] for item in stored["items_list"] if item["vat"]["value"] == 0}
    assert natures == {"3": {28}, "4": {23}}
