"""Bad refunds and bad fiscal settings: a clear error naming the order, the line and the field,
and nothing written — no refund, no job, no setting."""

from __future__ import annotations

import json

import pytest
from werkzeug.test import Client

from fic_demo.app import make_app
from fic_demo.shop import DemoShop
from fic_plugin.errors import SettingsError
from fic_plugin.manager import get_plugin_manager
from fic_plugin.plugin import CORE_NAME
from fic_plugin.settings import load_settings, update_settings

CUSTOMER = {"name": "Mario Rossi", "type": "person", "tax_code": "RSSMRA85M01H501Q", "country_iso": "IT"}
LINES = [{"name": "Olio extravergine di oliva 1 L", "qty": "2", "unit_price": "12.50", "vat_rate": "22"},
         {"name": "Consulenza", "qty": "1", "unit_price": "100", "vat_rate": "22", "kind": "service"}]

ADDRESS = dict(address_street="Via Roma 1", address_postal_code="00184", address_city="Roma", address_province="RM")


@pytest.fixture
def api(tmp_path):
    shop = DemoShop(tmp_path / "shop.db", seed=False)
    pm = get_plugin_manager([shop], load_entrypoints=False)
    context = pm.get_plugin(CORE_NAME).context
    update_settings(context.store, {"language": "en"})
    app = make_app(pm, shop)
    client = Client(lambda environ, start: app({**environ, "REMOTE_ADDR": "127.0.0.1"}, start))
    assert client.post("/api/orders", json={"customer": CUSTOMER, "lines": LINES}).status_code == 201
    return client, shop, context


def written(shop) -> tuple:
    db = shop.store.db
    return tuple(db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]  # noqa: S608
                 for t in ("demo_refunds", "fic_jobs", "fic_documents"))


# The order: 2 × 12.50 + 100 at 22% = 152.50.
# (the demo answers in Italian: the words checked are numbers, names and fields)
REFUND_CASES = [
    ("more than the order's total", {"amount": "152.51"}, "refund.amount", "152,50 €"),
    ("an unknown line", {"lines": [{"index": 5, "qty": 1}]}, "refund.lines[0].line_index", "5"),
    ("quantity 0", {"lines": [{"index": 0, "qty": "0"}]}, "refund.lines[0].qty", "Olio extravergine"),
    ("more than sold", {"lines": [{"index": 0, "qty": "3"}]}, "refund.lines[0].qty", "Olio extravergine"),
    ("a negative amount", {"amount": "-1.00"}, "amount", ""),
    ("a zero amount", {"amount": "0"}, "amount", ""),
    ("amount and lines together", {"amount": "1.00", "lines": [{"index": 0, "qty": 1}]}, "amount", "2026-0001"),
    ("an index that is not a number", {"lines": [{"index": "uno", "qty": 1}]}, "lines[0].index", "2026-0001"),
    ("an unknown field", {"amount": "1.00", "coupon": "X"}, "coupon", "coupon"),
]


@pytest.mark.parametrize(("body", "field", "words"), [c[1:] for c in REFUND_CASES],
                         ids=[c[0] for c in REFUND_CASES])
def test_a_bad_refund_is_400_naming_order_line_and_field_and_writes_nothing(api, body, field, words):
    client, shop, _context = api
    before = written(shop)
    response = client.post("/api/orders/1/refunds", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 400, response.get_data(as_text=True)
    answer = response.get_json()
    assert answer["field"] == field and words in answer["error"], answer
    if field.startswith("refund."):
        assert "2026-0001" in answer["error"]  # the order, by its number
    assert written(shop) == before


def test_a_second_refund_may_not_exceed_what_is_left(api):
    client, shop, _context = api
    assert client.post("/api/orders/1/refunds", json={"amount": "150.00"}).status_code == 201
    before = written(shop)
    response = client.post("/api/orders/1/refunds", json={"amount": "2.51"})
    assert response.status_code == 400 and "2,50 €" in response.get_json()["error"]
    assert written(shop) == before
    assert client.post("/api/orders/1/refunds", json={"lines": [{"index": 0, "qty": "3"}]}).status_code == 400


SETTING_CASES = [
    ("withholding_tax", "101"), ("withholding_tax", "-5"), ("withholding_tax", "venti"),
    ("cassa_type", "TC23"), ("cassa_type", "TC00"), ("cassa_rate", "150"), ("withholding_tax_causal", "ZZ"),
]


@pytest.mark.parametrize(("key", "value"), SETTING_CASES)
def test_a_bad_fiscal_setting_names_its_key_and_writes_nothing(api, key, value):
    _client, _shop, context = api
    before = load_settings(context.store)
    with pytest.raises(SettingsError) as error:
        update_settings(context.store, {key: value, "cassa_rate": "4"} if key != "cassa_rate" else {key: value})
    assert error.value.field == key and key in str(error.value)
    assert load_settings(context.store) == before


def test_an_oss_order_to_an_italian_customer_is_400_and_saves_nothing(api):
    client, shop, _context = api
    before = shop.count_orders()
    response = client.post("/api/orders", json={"customer": CUSTOMER, "lines": LINES, "oss": True})
    assert response.status_code == 400 and response.get_json()["field"] == "oss"
    assert "IT" in response.get_json()["error"] and shop.count_orders() == before


def test_an_oss_order_to_an_eu_consumer_is_kept(api):
    client, shop, _context = api
    consumer = {"name": "Hans Meier", "type": "person", "country_iso": "DE"}
    created = client.post("/api/orders", json={"customer": consumer, "lines": LINES[:1], "oss": True})
    assert created.status_code == 201
    assert client.get(f"/api/orders/{created.get_json()['id']}").get_json()["oss"] is True


# --- the plugin's own refusals of bad mappings (pure: nothing is sent, nothing written) ------------------

def _build(order, mapping, rates, naturas):
    from datetime import date

    from fic_plugin.payload import build_document
    from fic_plugin.settings import Settings

    settings = Settings.from_mapping({"vat_mapping": mapping, "payment_mapping": {
        "bank_transfer": {"payment_method_id": 1, "payment_account_id": 1}}})
    return build_document(order, "invoice", settings, today=date(2026, 3, 10), vat_rates=rates, vat_naturas=naturas)


def test_a_rate_mapped_to_a_vat_type_of_another_rate_names_order_line_and_field():
    from fic_plugin.model import Customer, Line, Order

    order = Order(id="5", number="2026-0005", customer=Customer(name="Mario Rossi", tax_code="RSSMRA85M01H501Q", **ADDRESS),
                  lines=[Line("Pasta", "1", "2.10", "10")])
    with pytest.raises(SettingsError) as error:
        _build(order, {"10": 0}, {0: 22}, {0: None})
    text = str(error.value)
    assert error.value.field == "vat_mapping" and "2026-0005" in text and "10%" in text and "22%" in text


def test_a_zero_rate_mapped_to_a_vat_type_without_natura_names_order_line_and_field():
    from fic_plugin.model import Customer, Line, Order

    order = Order(id="5", number="2026-0005", customer=Customer(name="Mario Rossi", tax_code="RSSMRA85M01H501Q", **ADDRESS),
                  lines=[Line("Libro usato", "1", "8", "0")])
    with pytest.raises(SettingsError) as error:
        _build(order, {"0": 40}, {40: 0}, {40: None})
    text = str(error.value)
    assert error.value.field == "vat_mapping" and "2026-0005" in text and "Libro usato" in text


def test_the_rimborsa_form_records_a_refund_or_shows_the_error_and_writes_nothing(api):
    client, shop, _context = api
    headers = {"Origin": "http://localhost"}
    refused = client.post("/orders/1/refunds", data={"qty_0": "5", "reason": "reso"}, headers=headers)
    assert refused.status_code == 400 and "Olio extravergine" in refused.get_data(as_text=True)
    assert shop.shop_get_order("1").refunds == ()
    done = client.post("/orders/1/refunds", data={"qty_0": "1", "reason": "reso"}, headers=headers)
    assert done.status_code == 303
    [refund] = shop.shop_get_order("1").refunds
    assert refund.reason == "reso" and [(r.line_index, r.qty) for r in refund.lines] == [(0, 1)]
    assert client.post("/orders/1/refunds", data={"amount": "10,00"}, headers=headers).status_code == 303
    assert [str(r.amount) for r in shop.shop_get_order("1").refunds][1] == "10.00"
