"""The demo shop's data, services and pages: seed, paid orders, e-mail, the order page and its panel."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from email import message_from_bytes
from email.message import Message

import pluggy
import pytest
import requests
from werkzeug.serving import make_server
from werkzeug.test import Client

from fic_demo.app import make_app
from fic_demo.parse import parse_order
from fic_demo.seed import demo_orders
from fic_demo.shop import DemoShop
from fic_plugin import hookimpl, hookspecs, validation
from fic_plugin.errors import FicError
from fic_plugin.manager import get_plugin_manager
from fic_plugin.model import EmailMessage
from fic_plugin.settings import update_settings

FALLBACK = "Pannello Fatture in Cloud non disponibile"


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> DemoShop:
    return DemoShop(tmp_path_factory.mktemp("seeded") / "shop.db")


def serve(app) -> tuple[str, object]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}", server


@pytest.fixture(scope="module")
def site(seeded) -> Iterator[str]:
    pm = get_plugin_manager([seeded], load_entrypoints=False)
    url, server = serve(make_app(pm, seeded))
    yield url
    server.shutdown()
    server.server_close()


# --- seed ----------------------------------------------------------------------------------------------


def test_the_seed_covers_the_cases_an_italian_shop_meets(seeded):
    orders = {o.customer.name: o for o in seeded.orders()}
    assert len(orders) == 5
    rossi, bianchi = orders["Rossi Forniture S.r.l."], orders["Laura Bianchi"]
    assert rossi.customer.type == "company" and rossi.customer.sdi_code
    assert validation.check_vat_number(rossi.customer.vat_number) == "01234567897"
    assert bianchi.customer.vat_number is None
    assert validation.check_tax_code(bianchi.customer.tax_code) == bianchi.customer.tax_code
    assert {o.customer.country_iso for o in orders.values()} >= {"IT", "DE", "US"}
    assert validation.check_vat_number(orders["Feinkost Müller GmbH"].customer.vat_number, "DE")
    rates = {line.vat_rate for o in orders.values() for line in o.lines}
    assert {Decimal("22"), Decimal("10"), Decimal("4")} <= rates
    assert any(line.discount for o in orders.values() for line in o.lines)
    assert all(any(line.kind == "shipping" for line in o.lines) for o in orders.values())
    assert sum(o.prices_include_vat for o in orders.values()) == 1
    assert "Libro: I Promessi Sposi" in {line.name for line in bianchi.lines if line.vat_rate == 4}
    assert sorted(o.status for o in orders.values()) == ["paid", "partly_paid", "pending", "pending", "pending"]
    assert rossi.status == "paid" and rossi.amount_paid == seeded.totals(rossi).gross and rossi.paid_at
    assert Decimal("0") < bianchi.amount_paid < seeded.totals(bianchi).gross


def test_seeding_happens_once_on_a_fresh_database(seeded):
    again = DemoShop(seeded.db_path)
    assert again.count_orders() == seeded.count_orders() == len(demo_orders())


def test_an_empty_shop_when_asked(tmp_path):
    assert DemoShop(tmp_path / "shop.db", seed=False).count_orders() == 0


# --- shop services ---------------------------------------------------------------------------------------


def test_shop_services_through_the_plugin_manager(seeded):
    pm = get_plugin_manager([seeded], load_entrypoints=False)
    assert pm.hook.shop_database() == str(seeded.db_path)
    order = pm.hook.shop_get_order(order_id="1")
    assert order.number and order.customer.name
    assert pm.hook.shop_get_order(order_id="999") is None
    assert pm.hook.shop_get_order(order_id="abc") is None
    seeded.base_url = "https://bottega.example.it/"
    try:
        assert pm.hook.shop_order_url(order=order).startswith("https://bottega.example.it/i-miei-ordini/1/")
    finally:
        seeded.base_url = "http://127.0.0.1:8000"
    assert pm.hook.shop_is_admin(environ={"REMOTE_ADDR": "127.0.0.1"}) is True
    assert pm.hook.shop_is_admin(environ={"REMOTE_ADDR": "192.168.1.20"}) is False


def test_paid_orders_are_paged_in_payment_order(tmp_path):
    shop = DemoShop(tmp_path / "shop.db", seed=False)
    shop.page_size = 3  # several pages with a handful of orders
    start = datetime(2026, 3, 1, 9, 0)
    body = {"customer": {"name": "Mario Rossi"},
            "lines": [{"name": "Pasta di Gragnano 500 g", "qty": "1", "unit_price": "2.00", "vat_rate": "4"}]}
    paid_at = {}
    for i in range(8):
        order = shop.create_order(parse_order(body))
        # Paid in an order different from creation, two at the very same moment.
        moment = start + timedelta(hours=(i * 5) % 8) if i != 7 else start + timedelta(hours=5)
        shop.record_payment(order.id, Decimal("2.08"), "card", moment)
        paid_at[order.id] = moment
    shop.create_order(parse_order(body))  # never paid

    walked = shop.shop_paid_orders(since=None)
    assert not isinstance(walked, list)  # lazy: an iterator over pages
    ids = [o.id for o in walked]
    assert ids == sorted(paid_at, key=lambda i: (paid_at[i], int(i)))
    since = start + timedelta(hours=5)
    assert [o.id for o in shop.shop_paid_orders(since=since)] == [i for i in ids if paid_at[i] >= since]


# --- e-mail -------------------------------------------------------------------------------------------


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.original_content or envelope.content))
        return "250 OK"


class Login:
    def __call__(self, server, session, envelope, mechanism, auth_data):
        from aiosmtpd.smtp import AuthResult

        ok = auth_data.login == b"bottega" and auth_data.password == b"giusta"
        return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd answers 535 itself


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Inbox, int]]:
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    port = free_port()  # aiosmtpd's start-up probe cannot follow a port 0
    controller = Controller(inbox, hostname="127.0.0.1", port=port, authenticator=Login(), auth_require_tls=False)
    controller.start()
    yield inbox, port
    controller.stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _mail_shop(tmp_path, port: int, **settings) -> DemoShop:
    shop = DemoShop(tmp_path / "shop.db", seed=False)
    update_settings(shop.store, {"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_security": "none",
                                 "smtp_from": "negozio@bottega.example", **settings})
    return shop


MESSAGE = EmailMessage(to=("laura.bianchi@example.it",), subject="Fattura n. 12/A", order_id="2",
                       html="<p>Gentile Laura, <b>grazie</b>.</p>", text="Gentile Laura, grazie.")


def test_send_email_with_html_and_text(tmp_path, smtp):
    inbox, port = smtp
    shop = _mail_shop(tmp_path, port, smtp_username="bottega", smtp_password="giusta")
    before = len(inbox.messages)
    assert shop.shop_send_email(message=MESSAGE) is True
    assert len(inbox.messages) == before + 1
    mail = inbox.messages[-1]
    assert mail["To"] == "laura.bianchi@example.it" and mail["From"] == "negozio@bottega.example"
    assert mail["Subject"] == "Fattura n. 12/A" and mail.get_content_type() == "multipart/alternative"
    parts = {p.get_content_type(): p.get_payload(decode=True).decode() for p in mail.get_payload()}
    assert "<b>grazie</b>" in parts["text/html"] and parts["text/plain"].strip() == "Gentile Laura, grazie."


def test_send_email_failures_are_readable_and_keep_the_password(tmp_path, smtp):
    _, port = smtp
    shop = _mail_shop(tmp_path, port, smtp_username="bottega", smtp_password="sbagliata-segreta")
    with pytest.raises(FicError) as refused:
        shop.shop_send_email(message=MESSAGE)
    assert "smtp_password" in str(refused.value) and "sbagliata-segreta" not in str(refused.value)

    free = free_port()
    update_settings(shop.store, {"smtp_port": free})
    with pytest.raises(FicError) as unreachable:
        shop.shop_send_email(message=MESSAGE)
    assert f"127.0.0.1:{free}" in str(unreachable.value) and "sbagliata-segreta" not in str(unreachable.value)

    update_settings(shop.store, {"smtp_host": ""})
    with pytest.raises(FicError, match="smtp_host"):
        shop.shop_send_email(message=MESSAGE)


# --- pages ----------------------------------------------------------------------------------------------


def test_order_list_in_italian(site, seeded):
    page = requests.get(site + "/orders", timeout=10)
    assert page.status_code == 200
    for order in seeded.orders():
        assert order.number in page.text and order.customer.name in page.text
    assert "Pagato in parte" in page.text and "Da pagare" in page.text
    assert "241,55 €" in page.text  # the paid B2B order's total, Italian format


def test_order_page_embeds_the_plugin_panel(site):
    page = requests.get(site + "/orders/2", timeout=10)
    assert page.status_code == 200
    assert "Laura Bianchi" in page.text and "BNCLRA90D45F205B" in page.text
    assert "Registra pagamento" in page.text and "Spedizione" in page.text
    assert 'class="fic-panel"' in page.text and FALLBACK not in page.text
    assert requests.get(site + "/orders/999", timeout=10).status_code == 404


def _bare_pm(*plugins) -> pluggy.PluginManager:
    pm = pluggy.PluginManager("shop")
    pm.add_hookspecs(hookspecs)
    for plugin in plugins:
        pm.register(plugin)
    pm.hook.shop_ready.call_historic(kwargs={"pm": pm})
    return pm


class BrokenPanel:
    @hookimpl
    def order_panel_render(self, order):
        raise RuntimeError("template exploded at line 12")


@pytest.mark.parametrize("plugins", [(), (BrokenPanel(),)], ids=["no-panel", "panel-raises"])
def test_order_page_without_a_panel_shows_the_fallback(seeded, plugins):
    client = Client(make_app(_bare_pm(seeded, *plugins), seeded))
    page = client.get("/orders/1", environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert FALLBACK in text and "Traceback" not in text and "exploded" not in text
    assert "Registra pagamento" in text


def test_payment_form_records_and_redirects(tmp_path):
    shop = DemoShop(tmp_path / "shop.db")
    pm = get_plugin_manager([shop], load_entrypoints=False)
    url, server = serve(make_app(pm, shop))
    try:
        due = shop.totals(shop.shop_get_order("2")).gross - shop.shop_get_order("2").amount_paid
        wrong = requests.post(url + "/orders/2/payments", data={"amount": "dieci", "method": "card"}, timeout=10)
        assert wrong.status_code == 400 and 'role="alert"' in wrong.text and 'value="dieci"' in wrong.text
        foreign = requests.post(url + "/orders/2/payments", data={"amount": "1", "method": "card"},
                                headers={"Origin": "https://evil.example"}, timeout=10)
        assert foreign.status_code == 403
        assert shop.shop_get_order("2").amount_paid == Decimal("20.00")

        paid = requests.post(url + "/orders/2/payments", timeout=10,
                             data={"amount": str(due).replace(".", ","), "method": "card"})
        assert paid.status_code == 200 and paid.history[0].status_code == 303
        assert "Pagamento registrato" in paid.text and "Carta di credito" in paid.text
        order = shop.shop_get_order("2")
        assert order.status == "paid" and order.amount_paid == shop.totals(order).gross
        assert re.search(r'id="due">0,00 €<', paid.text)
    finally:
        server.shutdown()
        server.server_close()


def test_requests_from_elsewhere_are_refused(seeded):
    client = Client(make_app(get_plugin_manager([seeded], load_entrypoints=False), seeded))
    for path in ("/orders", "/orders/1", "/api/orders/1"):
        response = client.get(path, environ_base={"REMOTE_ADDR": "203.0.113.7"})
        assert response.status_code == 403, path
    assert client.get("/api/orders/1", environ_base={"REMOTE_ADDR": "203.0.113.7"}).json["error"]


def test_a_shop_file_from_before_a_column_or_an_index_gets_them_and_keeps_its_orders(tmp_path):
    """Opening a shop checks its tables in one query and only then walks them: a file made before
    a column (OSS orders) or an index existed is completed, not taken for complete."""
    import sqlite3

    path = tmp_path / "old.db"
    orders = len(DemoShop(path).orders())
    with sqlite3.connect(path) as old:
        old.execute("DROP INDEX demo_orders_paid")
        old.execute("ALTER TABLE demo_orders DROP COLUMN oss")
    reopened = DemoShop(path, seed=False)
    names = {row[0] for row in reopened.store.db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    columns = {row[1] for row in reopened.store.db.execute("PRAGMA table_info(demo_orders)")}
    assert "demo_orders_paid" in names and "oss" in columns
    assert len(reopened.orders()) == orders > 0
