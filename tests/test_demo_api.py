"""The demo shop's JSON API, against a real server: shapes, validation, payments and their events."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from werkzeug.serving import make_server

from fic_demo.app import make_app
from fic_demo.shop import DemoShop
from fic_plugin import hookimpl
from fic_plugin.manager import get_plugin_manager


class Recorder:
    """Counts the shop events fic-plugin would receive."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Decimal | None]] = []

    @hookimpl
    def payment_recorded(self, order, payment) -> None:
        assert payment in order.payments  # the hook contract: the order already includes it
        self.calls.append(("payment_recorded", order.id, payment.amount))

    @hookimpl
    def order_paid(self, order) -> None:
        assert order.paid_at is not None and order.status == "paid"
        self.calls.append(("order_paid", order.id, None))

    @hookimpl
    def order_refunded(self, order, refund) -> None:
        assert refund in order.refunds  # like payments: the order already includes it
        self.calls.append(("order_refunded", order.id, refund.amount))

    def count(self, hook: str, order_id: str) -> int:
        return sum(1 for name, oid, _ in self.calls if name == hook and oid == order_id)


class Demo:
    def __init__(self, shop: DemoShop, recorder: Recorder, url: str):
        self.shop, self.recorder, self.url = shop, recorder, url

    def post(self, path: str, body) -> requests.Response:
        data = body if isinstance(body, bytes) else json.dumps(body)
        return requests.post(self.url + path, data=data, headers={"Content-Type": "application/json"},
                             timeout=10)

    def get(self, path: str) -> requests.Response:
        return requests.get(self.url + path, timeout=10)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Iterator[Demo]:
    shop = DemoShop(tmp_path_factory.mktemp("demo") / "shop.db")
    recorder = Recorder()
    pm = get_plugin_manager([shop, recorder], load_entrypoints=False)
    server = make_server("127.0.0.1", 0, make_app(pm, shop), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Demo(shop, recorder, f"http://127.0.0.1:{server.server_port}")
    server.shutdown()
    server.server_close()


def order_body(**changes) -> dict:
    body = {
        "customer": {
            "name": "Trattoria Da Gino S.n.c.", "type": "company", "vat_number": "01234567897",
            "tax_code": "01234567897", "email": "gino@trattoria.example", "phone": "+39 06 1234567",
            "pec": "gino@pec.example", "sdi_code": "m5uxcr1", "address_street": "Via del Corso 10",
            "address_postal_code": "00186", "address_city": "Roma", "address_province": "rm", "country_iso": "it",
        },
        "lines": [
            {"name": "Olio extravergine di oliva 1 L", "qty": "3", "unit_price": "9.90", "vat_rate": "4",
             "discount": "0"},
            {"name": "Prosciutto di Parma DOP 200 g", "qty": "2", "unit_price": "5.25", "vat_rate": "10",
             "discount": "10"},
        ],
        "prices_include_vat": False,
        "payment_method": "bank_transfer",
        "shipping": "7.90",
    }
    body.update(changes)
    return body


def test_create_then_read_an_order(demo):
    created = demo.post("/api/orders", order_body())
    assert created.status_code == 201, created.text
    order_id = created.json()["id"]

    order = demo.get(f"/api/orders/{order_id}").json()
    assert order["id"] == order_id and order["number"]
    assert order["customer"]["name"] == "Trattoria Da Gino S.n.c."
    # Normalised on the way in: SDI code, province and country upper case, phone compacted.
    assert order["customer"]["sdi_code"] == "M5UXCR1"
    assert order["customer"]["address_province"] == "RM" and order["customer"]["country_iso"] == "IT"
    assert order["customer"]["phone"] == "+39061234567"
    assert [line["kind"] for line in order["lines"]] == ["goods", "goods", "shipping"]
    shipping = order["lines"][2]
    # The shipping follows the highest rate among the products (10%, not the default 22%).
    assert (shipping["name"], shipping["unit_price"], shipping["vat_rate"]) == ("Spedizione", "7.90", "10")
    # 3 × 9.90 = 29.70 at 4%; 2 × 5.25 × 0.9 = 9.45 + 7.90 = 17.35 at 10%.
    assert order["lines"][1]["total"] == "9.45"
    assert order["totals"]["vat_list"] == {"10": {"net": "17.35", "vat": "1.74"}, "4": {"net": "29.70", "vat": "1.19"}}
    assert order["totals"]["gross"] == "49.98"
    assert order["payments"] == [] and order["paid_at"] is None and order["status"] == "pending"
    assert order["documents"] == []
    assert order["url"].endswith(f"/orders/{order_id}")

    listed = demo.get("/api/orders").json()
    assert order_id in [o["id"] for o in listed["orders"]]


def test_prices_including_vat_keep_the_gross(demo):
    body = order_body(prices_include_vat=True, shipping="0", lines=[
        {"name": "Moka per caffè 3 tazze", "qty": "1", "unit_price": "29.90", "vat_rate": "22"},
    ])
    order_id = demo.post("/api/orders", body).json()["id"]
    order = demo.get(f"/api/orders/{order_id}").json()
    assert order["totals"] == {"net": "24.51", "vat": "5.39", "gross": "29.90", "paid": "0",
                               "due": "29.90", "vat_list": {"22": {"net": "24.51", "vat": "5.39"}},
                               "rivalsa": "0.00", "cassa": "0.00", "stamp_duty": "0", "withholding_tax": "0.00",
                               "to_pay": "29.90"}
    assert [line["kind"] for line in order["lines"]] == ["goods"]  # no shipping line at 0


def _customer(**changes) -> dict:
    return {**order_body()["customer"], **changes}


def _line(**changes) -> dict:
    return {**order_body()["lines"][0], **changes}


INVALID = [
    (b'{"customer": {"name": "Tru', "body"),
    (b"[1, 2]", "body"),
    (b"", "body"),
    (order_body(customer=_customer(name="  ")), "customer.name"),
    (order_body(customer={k: v for k, v in _customer().items() if k != "name"}), "customer.name"),
    (order_body(customer=_customer(type="ente")), "customer.type"),
    (order_body(customer=_customer(country_iso="ITA")), "customer.country_iso"),
    (order_body(customer=_customer(email="gino@trattoria")), "customer.email"),
    (order_body(customer=_customer(pec="not an address")), "customer.pec"),
    (order_body(customer=_customer(vat_number="01234567890")), "customer.vat_number"),
    (order_body(customer=_customer(tax_code="RSSMRA85M01H501A")), "customer.tax_code"),
    (order_body(customer=_customer(sdi_code="ABC")), "customer.sdi_code"),
    (order_body(customer=_customer(phone="call me")), "customer.phone"),
    (order_body(customer=_customer(nickname="Gino")), "customer.nickname"),
    (order_body(customer=_customer(name=42)), "customer.name"),
    (order_body(lines=[]), "lines"),
    (order_body(lines="olio"), "lines"),
    (order_body(lines=[_line(qty="0")]), "lines[0].qty"),
    (order_body(lines=[_line(), _line(qty="-1")]), "lines[1].qty"),
    (order_body(lines=[_line(qty="tre")]), "lines[0].qty"),
    (order_body(lines=[_line(qty=1.5)]), "lines[0].qty"),
    (order_body(lines=[_line(unit_price="-9.90")]), "lines[0].unit_price"),
    (order_body(lines=[_line(unit_price=9.9)]), "lines[0].unit_price"),
    (order_body(lines=[_line(unit_price="9.123456")]), "lines[0].unit_price"),
    (order_body(lines=[_line(vat_rate="ventidue")]), "lines[0].vat_rate"),
    (order_body(lines=[_line(vat_rate=None)]), "lines[0].vat_rate"),
    (order_body(lines=[_line(vat_rate="122")]), "lines[0].vat_rate"),
    (order_body(lines=[_line(discount="101")]), "lines[0].discount"),
    (order_body(lines=[_line(discount="-5")]), "lines[0].discount"),
    (order_body(lines=[_line(name="")]), "lines[0].name"),
    (order_body(lines=[_line(colour="red")]), "lines[0].colour"),
    (order_body(payment_method=""), "payment_method"),
    (order_body(payment_method="Bonifico!"), "payment_method"),
    (order_body(shipping="-1.00"), "shipping"),
    (order_body(shipping=4.9), "shipping"),
    (order_body(prices_include_vat="yes"), "prices_include_vat"),
    (order_body(coupon="SCONTO10"), "coupon"),
]


@pytest.mark.parametrize(("body", "field"), INVALID, ids=[f"{i}-{f}" for i, (_, f) in enumerate(INVALID)])
def test_invalid_orders_name_the_field_and_write_nothing(demo, body, field):
    before = demo.shop.count_orders()
    response = demo.post("/api/orders", body)
    assert response.status_code == 400, response.text
    answer = response.json()
    assert answer["field"] == field
    assert answer["error"]
    assert demo.shop.count_orders() == before


def test_amounts_are_stored_as_plain_decimals(demo):
    body = order_body(shipping="-0", lines=[_line(qty="1E+1", unit_price="0.5", discount=0)])
    order = demo.get(f"/api/orders/{demo.post('/api/orders', body).json()['id']}").json()
    assert [(line["qty"], line["unit_price"], line["discount"]) for line in order["lines"]] == [("10", "0.5", "0")]
    assert order["totals"]["gross"] == "5.20"


def test_floats_are_refused_asking_for_strings(demo):
    answer = demo.post("/api/orders", order_body(shipping=4.9)).json()
    assert '"12.50"' in answer["error"] and "4.9" in answer["error"]


def test_an_order_is_written_whole_or_not_at_all(demo):
    db = demo.shop.store.db
    customers = db.execute("SELECT COUNT(*) FROM demo_customers").fetchone()[0]
    orders = demo.shop.count_orders()
    # A real constraint failing halfway through, after the customer and order rows are written.
    db.execute("CREATE TRIGGER refuse_boom BEFORE INSERT ON demo_lines WHEN NEW.name = 'BOOM' "
               "BEGIN SELECT RAISE(ABORT, 'boom refused'); END")
    try:
        response = demo.post("/api/orders", order_body(lines=[_line(), _line(name="BOOM")]))
    finally:
        db.execute("DROP TRIGGER refuse_boom")
    assert response.status_code == 500
    assert "boom refused" not in response.text  # no internals in the answer
    assert db.execute("SELECT COUNT(*) FROM demo_customers").fetchone()[0] == customers
    assert demo.shop.count_orders() == orders
    assert demo.post("/api/orders", order_body()).status_code == 201  # the shop still works


def test_partial_then_full_payment_fires_the_events_once(demo):
    order_id = demo.post("/api/orders", order_body()).json()["id"]  # total 49.98

    first = demo.post(f"/api/orders/{order_id}/payments", {"amount": "20.00", "method": "bank_transfer"})
    assert first.status_code == 201, first.text
    answer = first.json()
    assert (answer["amount_paid"], answer["status"], answer["paid_at"]) == ("20.00", "partly_paid", None)
    assert answer["payment"]["amount"] == "20.00" and answer["warnings"] == []
    assert demo.recorder.count("payment_recorded", order_id) == 1
    assert demo.recorder.count("order_paid", order_id) == 0

    second = demo.post(f"/api/orders/{order_id}/payments", {"amount": "29.98", "method": "card"}).json()
    assert (second["amount_paid"], second["status"], second["became_paid"]) == ("49.98", "paid", True)
    assert second["paid_at"]
    assert demo.recorder.count("payment_recorded", order_id) == 2
    assert demo.recorder.count("order_paid", order_id) == 1

    extra = demo.post(f"/api/orders/{order_id}/payments", {"amount": 5, "method": "cash"}).json()
    assert extra["amount_paid"] == "54.98" and extra["became_paid"] is False
    assert len(extra["warnings"]) == 1  # overpaid: says how much came in against the total
    assert "54.98" in extra["warnings"][0] and "49.98" in extra["warnings"][0]
    assert demo.recorder.count("order_paid", order_id) == 1
    assert extra["paid_at"] == second["paid_at"]  # paid when first covered, not moved later

    order = demo.get(f"/api/orders/{order_id}").json()
    assert [p["method"] for p in order["payments"]] == ["bank_transfer", "card", "cash"]
    assert order["totals"]["due"] == "0.00"


def test_concurrent_payments_fire_order_paid_once(demo):
    order_id = demo.post("/api/orders", order_body()).json()["id"]  # total 49.98
    results = []

    def pay() -> None:
        results.append(demo.post(f"/api/orders/{order_id}/payments", {"amount": "25.00", "method": "card"}))

    threads = [threading.Thread(target=pay) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.status_code for r in results] == [201] * 4
    assert sum(r.json()["became_paid"] for r in results) == 1
    assert demo.recorder.count("payment_recorded", order_id) == 4
    assert demo.recorder.count("order_paid", order_id) == 1


@pytest.mark.parametrize(("body", "field"), [
    ({"amount": 12.5, "method": "card"}, "amount"),
    ({"amount": "-3", "method": "card"}, "amount"),
    ({"amount": "0", "method": "card"}, "amount"),
    ({"amount": "1.234", "method": "card"}, "amount"),
    ({"method": "card"}, "amount"),
    ({"amount": "10", "method": ""}, "method"),
    ({"amount": "10", "method": "card", "note": "x"}, "note"),
])
def test_invalid_payments(demo, body, field):
    order_id = demo.post("/api/orders", order_body()).json()["id"]
    response = demo.post(f"/api/orders/{order_id}/payments", body)
    assert response.status_code == 400 and response.json()["field"] == field
    assert demo.get(f"/api/orders/{order_id}").json()["payments"] == []
    assert demo.recorder.count("payment_recorded", order_id) == 0


def test_unknown_orders_are_404(demo):
    assert demo.get("/api/orders/99999").status_code == 404
    response = demo.post("/api/orders/99999/payments", {"amount": "1.00", "method": "card"})
    assert response.status_code == 404 and "99999" in response.json()["error"]


def test_documents_come_from_the_plugin_store(demo):
    from fic_plugin.model import Document

    order_id = demo.post("/api/orders", order_body()).json()["id"]
    demo.shop.store.insert_document(Document(id=None, order_id=order_id, type="invoice", fic_id=777, number=12,
                                             numeration="/A", status="partly_paid", amount_paid="20.00"))
    documents = demo.get(f"/api/orders/{order_id}").json()["documents"]
    assert documents == [{
        "id": documents[0]["id"], "type": "invoice", "fic_id": 777, "number": 12, "numeration": "/A",
        "date": None, "status": "partly_paid", "amount_paid": "20.00", "sent_at": None, "sent_to": None,
        "converted_from": None, "last_error": None,
        "amount_due": None, "amount_gross": None, "corrects": None, "e_invoice": False, "ei_status": None,
    }]


def test_a_payment_survives_a_failing_plugin(tmp_path: Path):
    class Broken:
        @hookimpl
        def payment_recorded(self, order, payment):
            raise RuntimeError("queue is down")

    shop = DemoShop(tmp_path / "shop.db", seed=False)
    get_plugin_manager([shop, Broken()], load_entrypoints=False)
    from fic_demo.parse import parse_order

    order = shop.create_order(parse_order(order_body()))
    result = shop.record_payment(order.id, Decimal("10.00"), "card")
    assert result.events_failed and "queue is down" in result.warnings[0]
    assert shop.shop_get_order(order.id).amount_paid == Decimal("10.00")


def test_a_service_with_rivalsa_on_top_is_charged_at_checkout(demo):
    """With rivalsa INPS charged on top of the price, the shop's total includes it, so the invoice
    of the paid order totals what was paid; a line's kind comes from the API (default goods)."""
    from fic_plugin.settings import update_settings

    update_settings(demo.shop.store, {"rivalsa_inps": True, "rivalsa_included_in_price": False})
    try:
        body = order_body(shipping="0", lines=[
            {"name": "Consulenza", "qty": "1", "unit_price": "100", "vat_rate": "22", "kind": "service"},
            {"name": "Manuale", "qty": "1", "unit_price": "10", "vat_rate": "22"}])
        order = demo.get(f"/api/orders/{demo.post('/api/orders', body).json()['id']}").json()
        page = demo.get(f"/orders/{order['id']}").text
    finally:
        update_settings(demo.shop.store, {"rivalsa_inps": False, "rivalsa_included_in_price": True})
    assert [line["kind"] for line in order["lines"]] == ["service", "goods"]
    assert order["totals"]["rivalsa"] == "4.00"  # on the service only
    # (100 + 4 + 10) + 22% = 139.08: what the customer pays, what the invoice totals.
    assert order["totals"]["gross"] == order["totals"]["to_pay"] == order["totals"]["due"] == "139.08"
    assert "Rivalsa INPS" in page


def test_refunds_by_amount_and_by_lines_fire_order_refunded_and_are_listed(demo):
    order_id = demo.post("/api/orders", order_body()).json()["id"]
    by_amount = demo.post(f"/api/orders/{order_id}/refunds", {"amount": "10.00", "reason": "reso"})
    assert by_amount.status_code == 201, by_amount.text
    by_lines = demo.post(f"/api/orders/{order_id}/refunds", {"lines": [{"index": 0, "qty": 1}]})
    assert by_lines.status_code == 201, by_lines.text
    assert demo.recorder.count("order_refunded", str(order_id)) == 2
    order = demo.get(f"/api/orders/{order_id}").json()
    refunds = order["refunds"]
    assert [(r["amount"], r["reason"], r["lines"]) for r in refunds] == [
        ("10.00", "reso", []), (refunds[1]["amount"], "", [{"index": 0, "qty": "1"}])]
    line = order["lines"][0]  # one of them, with its discount and its VAT
    one = Decimal(line["total"]) / Decimal(line["qty"]) * (1 + Decimal(line["vat_rate"]) / 100)
    assert abs(Decimal(refunds[1]["amount"]) - one) <= Decimal("0.01")
    assert "Rimborsa" in demo.get(f"/orders/{order_id}").text
