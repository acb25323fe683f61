"""Issue 14, done when: on the demo shop with its sandbox every seeded order's invoice is an
e-invoice whose XML the official schema accepts and that reaches "Consegnata" through a webhook;
without webhooks by polling; a scripted discard shows its reason and the fixed invoice is sent
once more. Everything real: the demo's HTTP server and JSON API, the sandbox, its SdI and its
signed webhook deliveries to ``/fic/webhooks``.
"""

from __future__ import annotations

import re
import socket
import time

import pytest
import requests

from einvoicetest import official_schema
from fic_demo.server import DemoRuntime
from fic_plugin.outbox import jobs
from fic_plugin.sdi import queue_send
from fic_plugin.settings import update_settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(what: str, check, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


@pytest.fixture
def demo(tmp_path, request):
    webhooks = getattr(request, "param", True)
    runtime = DemoRuntime(tmp_path / "shop.db", port=free_port(), sandbox_port=free_port(), worker_interval=0.2,
                          auto_invoice=True, webhooks=webhooks)
    runtime.start()
    # The SdI answers in a second of the sandbox's clock, not in days.
    side(runtime, "POST", "/sdi", json={"processing_ms": 100, "after_ms": 300})
    yield runtime
    runtime.stop()


def side(runtime, method, path, **kwargs):
    answer = requests.request(method, f"{runtime.sandbox_url}/__sandbox__{path}", timeout=15, **kwargs)
    answer.raise_for_status()
    return answer.json()


def api(runtime, method, path, **kwargs):
    answer = requests.request(method, f"{runtime.url}/api{path}", timeout=30, **kwargs)
    answer.raise_for_status()
    return answer.json()


def invoices(runtime) -> list[dict]:
    found = []
    for order in api(runtime, "GET", "/orders")["orders"]:
        full = api(runtime, "GET", f"/orders/{order['id']}")
        found += [dict(d, order_id=full["id"]) for d in full["documents"] if d["type"] == "invoice"]
    return found


def pay_every_order(runtime) -> int:
    orders = api(runtime, "GET", "/orders")["orders"]
    for order in orders:
        due = api(runtime, "GET", f"/orders/{order['id']}")["totals"]["due"]
        if due != "0.00":
            api(runtime, "POST", f"/orders/{order['id']}/payments", json={"amount": due, "method": "bank_transfer"})
    return len(orders)


def all_delivered(runtime, count: int) -> bool:
    found = invoices(runtime)
    return len(found) == count and all(d["ei_status"] == "accepted" for d in found)


def panel(runtime, order_id) -> str:
    html = requests.get(f"{runtime.url}/orders/{order_id}", timeout=30).text
    return re.sub(r"\s+", " ", html)


def test_every_seeded_order_becomes_a_valid_e_invoice_delivered_through_a_webhook(demo):
    wait_for("the webhook subscription", lambda: any(s.get("verified") for s in side(demo, "GET", "/webhooks")
                                                    ["subscriptions"]))
    count = pay_every_order(demo)
    wait_for("every invoice delivered", lambda: all_delivered(demo, count))
    schema = official_schema()
    for invoice in invoices(demo):
        assert invoice["e_invoice"] is True
        xml = requests.get(f"{demo.sandbox_url}/c/1/issued_documents/{invoice['fic_id']}/e_invoice/xml",
                           headers={"Authorization": "Bearer demo"}, timeout=15).text
        schema.validate(xml)  # raises, naming the element, when the official schema refuses it
        assert "Fattura elettronica: Consegnata" in panel(demo, invoice["order_id"])
    # The news came by webhook (the poll waits 15 minutes by default), and each invoice went once.
    kinds = [j.key.split(":")[0] for j in jobs(demo.context) if j.kind == "ei_refresh"]
    assert kinds and set(kinds) == {"webhook"}
    assert set(side(demo, "GET", "/sdi")["by_document"].values()) == {1}


@pytest.mark.parametrize("demo", [False], indirect=True)
def test_without_webhooks_the_worker_polls_until_delivered(demo):
    update_settings(demo.context.store, {"sdi_poll_seconds": 1})
    assert side(demo, "GET", "/webhooks")["subscriptions"] == []
    count = pay_every_order(demo)
    wait_for("every invoice delivered by polling", lambda: all_delivered(demo, count))
    assert {j.key.split(":")[0] for j in jobs(demo.context) if j.kind == "ei_refresh"} == {"poll"}


def test_a_scripted_discard_shows_its_reason_and_the_fixed_invoice_is_sent_once_more(demo):
    wait_for("the webhook subscription", lambda: any(s.get("verified") for s in side(demo, "GET", "/webhooks")
                                                    ["subscriptions"]))
    # The seed's paid order 1 gets its invoice from the worker's periodic check: let it go first.
    wait_for("order 1's invoice sent", lambda: [d["ei_status"] for d in invoices(demo)] == ["accepted"])
    side(demo, "POST", "/sdi", json={"outcome": "discarded", "reason": "Partita IVA del cessionario inesistente",
                                    "code": "00305", "solution": "Verifica la partita IVA", "processing_ms": 100,
                                    "after_ms": 300, "sends": 1})
    order = api(demo, "GET", "/orders/2")  # Laura Bianchi, partly paid by the seed
    api(demo, "POST", "/orders/2/payments", json={"amount": order["totals"]["due"], "method": "bank_transfer"})
    wait_for("the discard", lambda: [d["ei_status"] for d in invoices(demo) if d["order_id"] == order["id"]]
             == ["discarded"])
    text = panel(demo, order["id"])
    assert "Scartata dallo SdI" in text and "Partita IVA del cessionario inesistente" in text
    assert "Correggi e reinvia" in text
    [invoice] = [d for d in invoices(demo) if d["order_id"] == order["id"]]
    queue_send(demo.context, invoice["id"], resend=True)  # what "Correggi e reinvia" does
    wait_for("the corrected invoice delivered",
             lambda: [d["ei_status"] for d in invoices(demo) if d["order_id"] == order["id"]] == ["accepted"])
    assert side(demo, "GET", "/sdi")["by_document"][str(invoice["fic_id"])] == 2
    assert "Fattura elettronica: Consegnata" in panel(demo, order["id"])
