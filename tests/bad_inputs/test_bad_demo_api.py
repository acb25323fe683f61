"""The reference shop's JSON API with bad requests: 400 (404 for a missing order, 413 for a huge
body) with ``code`` and the ``field`` as the client wrote it, and nothing saved — no order, no
payment, no job for the plugin.
"""

from __future__ import annotations

import json

import pytest
from werkzeug.test import Client

from fic_demo.app import make_app
from fic_demo.shop import DemoShop
from fic_plugin.manager import get_plugin_manager
from fic_plugin.plugin import CORE_NAME
from fic_plugin.settings import update_settings

CUSTOMER = {"name": "Mario Rossi", "type": "person", "first_name": "Mario", "last_name": "Rossi",
            "tax_code": "RSSMRA85M01H501Q", "email": "mario.rossi@example.it", "country_iso": "IT"}
LINE = {"name": "Olio extravergine di oliva 1 L", "qty": "2", "unit_price": "12.50", "vat_rate": "22"}


@pytest.fixture
def api(tmp_path):
    shop = DemoShop(tmp_path / "shop.db", seed=False)
    pm = get_plugin_manager([shop], load_entrypoints=False)
    context = pm.get_plugin(CORE_NAME).context
    update_settings(context.store, {"auto_invoice": True, "language": "en"})
    app = make_app(pm, shop)
    # The demo answers its owner only: requests from this machine.
    client = Client(lambda environ, start: app({**environ, "REMOTE_ADDR": "127.0.0.1"}, start))
    created = client.post("/api/orders", json={"customer": CUSTOMER, "lines": [LINE]})
    assert created.status_code == 201
    return client, shop


def written(shop) -> tuple:
    db = shop.store.db
    return tuple(db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]  # noqa: S608
                 for t in ("demo_orders", "demo_lines", "demo_customers", "demo_payments", "fic_jobs"))


def order(**changes) -> dict:
    return {"customer": CUSTOMER, "lines": [LINE], **changes}


def customer(**changes) -> dict:
    return order(customer={**CUSTOMER, **changes})


def line(**changes) -> dict:
    return order(lines=[{**LINE, **changes}])


RAW = b'{"customer": {"name": "Mario"'
ORDER_CASES = [
    ("truncated JSON", RAW, "body"),
    ("JSON with single quotes", b"{'customer': {}}", "body"),
    ("empty body", b"", "body"),
    ("bytes that are not UTF-8", b'{"customer": "\xff\xfe"}', "body"),
    ("a list instead of an object", b"[]", "body"),
    ("unknown field", order(coupon="SCONTO100"), "coupon"),
    ("no customer", {"lines": [LINE]}, "customer"),
    ("no lines", order(lines=[]), "lines"),
    ("501 lines", order(lines=[LINE] * 501), "lines"),
    ("price as a JSON float", line(unit_price=12.1), "lines[0].unit_price"),
    ("negative quantity", line(qty="-1"), "lines[0].qty"),
    ("zero quantity", line(qty="0"), "lines[0].qty"),
    ("negative price", line(unit_price="-3.00"), "lines[0].unit_price"),
    ("price that is not a number", line(unit_price="dodici"), "lines[0].unit_price"),
    ("infinite price", line(unit_price="Infinity"), "lines[0].unit_price"),
    ("VAT rate over 100", line(vat_rate="122"), "lines[0].vat_rate"),
    ("P.IVA with a wrong check digit", customer(type="company", vat_number="01234567890"), "customer.vat_number"),
    ("codice fiscale of 15 characters", customer(tax_code="RSSMRA85M01H501"), "customer.tax_code"),
    ("SDI code of 3 characters", customer(sdi_code="ABC"), "customer.sdi_code"),
    ("email without a domain", customer(email="mario@"), "customer.email"),
    ("phone with letters", customer(phone="333-CALL-ME"), "customer.phone"),
    ("customer name over 250 characters", customer(name="R" * 251), "customer.name"),
    ("country that is not ISO", customer(country_iso="Italia"), "customer.country_iso"),
]


@pytest.mark.parametrize(("body", "field"), [c[1:] for c in ORDER_CASES], ids=[c[0] for c in ORDER_CASES])
def test_a_bad_order_is_400_naming_the_field_and_saves_nothing(api, body, field):
    client, shop = api
    before = written(shop)
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = client.post("/api/orders", data=data, content_type="application/json")
    assert response.status_code == 400, response.get_data(as_text=True)
    answer = response.get_json()
    assert (answer["code"], answer["field"]) == ("invalid_input", field)
    assert "Traceback" not in answer["error"]
    assert written(shop) == before


PAYMENT_CASES = [
    ("truncated JSON", b'{"amount": "10', 400, "body"),
    ("amount as a JSON float", {"amount": 38.92, "method": "card"}, 400, "amount"),
    ("zero amount", {"amount": "0", "method": "card"}, 400, "amount"),
    ("negative amount", {"amount": "-5.00", "method": "card"}, 400, "amount"),
    ("amount with 3 decimals", {"amount": "10.005", "method": "card"}, 400, "amount"),
    ("method with SQL in it", {"amount": "10.00", "method": "card'; DROP TABLE demo_orders; --"}, 400, "method"),
]


@pytest.mark.parametrize(("body", "status", "field"), [c[1:] for c in PAYMENT_CASES],
                         ids=[c[0] for c in PAYMENT_CASES])
def test_a_bad_payment_is_refused_and_fires_no_event(api, body, status, field):
    client, shop = api
    before = written(shop)
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = client.post("/api/orders/1/payments", data=data, content_type="application/json")
    assert response.status_code == status
    assert response.get_json()["field"] == field
    assert written(shop) == before  # no payment, so no order_paid, so no job


def test_a_payment_for_an_order_that_does_not_exist_is_404(api):
    client, shop = api
    before = written(shop)
    response = client.post("/api/orders/999/payments", json={"amount": "10.00", "method": "card"})
    assert response.status_code == 404 and response.get_json()["code"] == "not_found"
    assert written(shop) == before


def test_a_body_over_one_mebibyte_is_413(api):
    client, shop = api
    before = written(shop)
    response = client.post("/api/orders", data=b'{"customer": "' + b"x" * (1024 * 1024 + 10) + b'"}',
                           content_type="application/json")
    assert response.status_code == 413
    assert written(shop) == before


def test_emoji_and_rtl_names_are_accepted_and_kept_exactly(api):
    client, shop = api
    name = "שלום 🍝 Zoë"
    response = client.post("/api/orders", json=customer(name=name, first_name="שלום", last_name="Zoë"))
    assert response.status_code == 201
    assert client.get(f"/api/orders/{response.get_json()['id']}").get_json()["customer"]["name"] == name
