"""Our totals against the sandbox's, cent for cent, over generated orders.

``fic_plugin.money`` and ``fic_sandbox.totals`` are two independent readings of
docs/totals.md; where they differ, one of them misreads the text. The payload goes over real HTTP
as JSON numbers, as the FiC client sends it, and creating it must never hit FiC's 422 "payments
do not add up to the amount due".
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal as D

import pytest
import requests
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from fic_plugin import json_codec
from fic_plugin.model import DOCUMENT_TYPES, Customer, Line, Order, Payment
from fic_plugin.payload import STAMP_DUTY_TYPES, build_document, expected_totals
from fic_plugin.settings import Settings

pytest.importorskip("fic_sandbox.server", reason="the sandbox server is not there yet")

HEADERS = {"Authorization": "Bearer sandbox-test", "Content-Type": "application/json"}
COMPARED = ("amount_net", "amount_rivalsa", "taxable_amount", "amount_vat", "amount_gross", "amount_due")
RATES = ("22", "10", "5", "4", "0")
CUSTOMER = Customer(name="Mario Rossi", tax_code="RSSMRA80A01H501U", address_street="Via Roma 1",
                    address_postal_code="00184", address_city="Roma", address_province="RM")


@pytest.fixture(scope="module")
def fic(sandbox):
    """The sandbox's URL and a vat_mapping built from its seeded VAT types, by value."""
    answer = requests.get(f"{sandbox.url}/c/{sandbox.company_id}/info/vat_types", headers=HEADERS, timeout=10)
    answer.raise_for_status()
    mapping: dict[str, int] = {}
    for vat in answer.json()["data"]:
        if not vat.get("is_disabled"):
            mapping.setdefault(format(D(str(vat["value"])).normalize(), "f"), vat["id"])
    assert set(RATES) <= set(mapping), f"the sandbox lacks a VAT type for some rate: {mapping}"
    return f"{sandbox.url}/c/{sandbox.company_id}", mapping


def cents(low: int, high: int) -> st.SearchStrategy[D]:
    return st.integers(low, high).map(lambda n: D(n) / 100)


lines = st.builds(Line, name=st.just("Articolo"), qty=cents(1, 10_000), unit_price=cents(0, 99_999),
                  vat_rate=st.sampled_from(RATES), discount=st.one_of(st.just(D(0)), cents(0, 10_000)))


@st.composite
def cases(draw):
    paid_cents = draw(st.integers(0, 500_000))
    order = Order(id="1", number="1", customer=CUSTOMER, lines=draw(st.lists(lines, min_size=1, max_size=40)),
                  prices_include_vat=draw(st.booleans()),
                  payments=(Payment(D(paid_cents) / 100, paid_at=datetime(2026, 3, 1)),) if paid_cents else ())
    options = {"rivalsa_inps": draw(st.booleans()), "stamp_duty": draw(st.booleans())}
    return order, options, draw(st.sampled_from(sorted(DOCUMENT_TYPES)))


def _post(url: str, payload: dict) -> requests.Response:
    body = json_codec.dumps({"data": payload})
    return requests.post(url, data=body.encode("utf-8"), headers=HEADERS, timeout=10)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=cases())
def test_local_totals_match_the_sandbox_to_the_cent(fic, case):
    base, vat_mapping = fic
    order, options, document_type = case
    settings_ = Settings.from_mapping({
        **options, "vat_mapping": vat_mapping,
        "payment_mapping": {"bank_transfer": {"payment_method_id": 1, "payment_account_id": 1,
                                          "ei_payment_method": "MP05"}}})
    local = expected_totals(order, settings_, document_type=document_type)
    assume(local.amount_gross > 0)
    payload = build_document(order, document_type, settings_, today=date(2026, 3, 10))

    answer = _post(f"{base}/issued_documents/totals", payload)
    assert answer.status_code == 200, answer.text
    remote = json.loads(answer.text, parse_float=D)["data"]
    mine = local.as_fic()
    for key in COMPARED:
        assert D(str(remote[key])) == mine[key], f"{key}: sandbox {remote[key]}, ours {mine[key]}"
    if settings_.stamp_duty and document_type in STAMP_DUTY_TYPES:
        # Both readings declare the bollo by the 77.47 rule here; see the test below for the rest.
        assert D(str(remote["stamp_duty"])) == local.stamp_duty
    assert {rate: {k: D(str(v)) for k, v in amounts.items() if k in ("amount_net", "amount_vat")}
            for rate, amounts in remote["vat_list"].items()} == mine["vat_list"]

    created = _post(f"{base}/issued_documents", payload)
    assert created.status_code == 200, f"create refused: {created.status_code} {created.text}"


def test_sandbox_totals_echo_the_declared_stamp_duty(fic):
    base, vat_mapping = fic
    settings_ = Settings.from_mapping({
        "stamp_duty": False, "vat_mapping": vat_mapping,
        "payment_mapping": {"bank_transfer": {"payment_method_id": 1, "payment_account_id": 1,
                                          "ei_payment_method": "MP05"}}})
    order = Order(id="2", number="2", customer=CUSTOMER, lines=(Line("Consulenza", "1", "500", "0"),))
    payload = build_document(order, "invoice", settings_, today=date(2026, 3, 10))
    assert payload["stamp_duty"] == 0
    remote = json.loads(_post(f"{base}/issued_documents/totals", payload).text, parse_float=D)["data"]
    assert D(str(remote["stamp_duty"])) == expected_totals(order, settings_).stamp_duty == 0


#: The sandbox's 0% VAT types for a domestic sale (N1, N2.1, N2.2, N4, N5, N6.1: never N3.x); an
#: EU business's goods are N3.2 (28), services N2.1 (22), exported goods N3.1 (23).
NATURA_IDS = (21, 22, 6, 24, 25, 26)
SCOPED = {"0:EU-business:goods": 28, "0:EU-business:services": 22, "0:extra-EU:goods": 23,
          "0:extra-EU:services": 22}
kinds = st.sampled_from(("goods", "service", "shipping", "fee"))
fiscal_lines = st.builds(Line, name=st.just("Riga"), qty=cents(1, 500), unit_price=cents(0, 99_999),
                         vat_rate=st.sampled_from(RATES), discount=st.one_of(st.just(D(0)), cents(0, 10_000)),
                         kind=kinds)
BUSINESS = Customer(name="Rossi S.r.l.", type="company", vat_number="00905811006", sdi_code="ABC1234",
                    address_street="Via Torino 12", address_postal_code="20123", address_city="Milano",
                    address_province="MI")
EU_BUSINESS = Customer(name="Feinkost GmbH", type="company", vat_number="DE136695976", country_iso="DE",
                       address_street="Unter den Linden 1", address_city="Berlin")
US_BUSINESS = Customer(name="Acme Inc.", type="company", vat_number="US12345", country_iso="US",
                       address_street="1 Main Street", address_city="Springfield")


@st.composite
def fiscal_cases(draw):
    order = Order(id="3", number="3", customer=draw(st.sampled_from((CUSTOMER, BUSINESS, EU_BUSINESS, US_BUSINESS))),
                  lines=draw(st.lists(fiscal_lines, min_size=1, max_size=12)),
                  prices_include_vat=draw(st.booleans()))
    options = {
        "rivalsa_inps": draw(st.booleans()),
        "rivalsa_included_in_price": draw(st.booleans()),
        "cassa_type": draw(st.sampled_from(("", "TC01", "TC04"))),
        "cassa_rate": draw(st.sampled_from(("0", "2", "4"))),
        "withholding_tax": draw(st.sampled_from(("0", "20", "23"))),
        "stamp_duty": draw(st.booleans()),
        "stamp_duty_charged_to_customer": draw(st.booleans()),
    }
    return order, options, draw(st.sampled_from(NATURA_IDS)), draw(st.sampled_from(("invoice", "receipt",
                                                                                    "credit_note")))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=fiscal_cases())
def test_fiscal_rules_local_equal_sandbox_and_invoice_equals_order(fic, case):
    """Goods and services, rivalsa included or on top, cassa, ritenuta, bollo charged or declared,
    gross or net prices, every natura at 0%: our totals are the sandbox's to the cent, and the
    document totals what the customer is charged: the lines at the shop's prices (contributions
    carved out of them, or added on top, which the shop then charges: expected_totals is its
    checkout total), plus the bollo when the customer pays it."""
    base, vat_mapping = fic
    order, options, zero_id, document_type = case
    answer = requests.get(f"{base}/info/vat_types", headers=HEADERS, timeout=10).json()["data"]
    vat_rates = {v["id"]: D(str(v["value"])) for v in answer}
    vat_naturas = {v["id"]: v.get("ei_type") for v in answer}
    settings_ = Settings.from_mapping({
        **options, "vat_mapping": {**vat_mapping, "0": zero_id, **SCOPED},
        "payment_mapping": {"bank_transfer": {"payment_method_id": 1, "payment_account_id": 1,
                                              "ei_payment_method": "MP05"}}})
    local = expected_totals(order, settings_, document_type=document_type, vat_naturas=vat_naturas)
    assume(local.amount_gross > 0)
    payload = build_document(order, document_type, settings_, today=date(2026, 3, 10), vat_rates=vat_rates,
                             vat_naturas=vat_naturas)

    remote = json.loads(_post(f"{base}/issued_documents/totals", payload).text, parse_float=D)["data"]
    mine = local.as_fic()
    for key in (*COMPARED, "amount_cassa", "amount_withholding_tax", "stamp_duty"):
        assert D(str(remote[key])) == mine[key], f"{key}: sandbox {remote[key]}, ours {mine[key]}"

    # The lines at the shop's prices, and the bollo when the customer pays it.
    plain = expected_totals(order, Settings.from_mapping({"vat_mapping": {**vat_mapping, "0": zero_id, **SCOPED}}))
    bollo = local.stamp_duty if settings_.stamp_duty_charged_to_customer else 0
    if settings_.rivalsa_included_in_price:
        assert local.amount_gross == plain.amount_gross + bollo
    else:  # charged on top: the shop's prices stay, rivalsa and cassa (and their VAT) are added
        assert local.amount_net == plain.amount_net + bollo
        assert local.amount_gross >= plain.amount_gross + bollo + local.amount_rivalsa + local.amount_cassa
    created = _post(f"{base}/issued_documents", payload)
    assert created.status_code == 200, created.text
