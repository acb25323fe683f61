"""Invariants of the totals and the instalments over generated orders (hypothesis).

Whatever the mix of rates, discounts, quantities, gross or net prices, rivalsa and bollo: the
instalments add up to the amount due (else FiC answers 422), the gross is taxable + VAT, and with
gross prices the document total is exactly what the customer paid, line by line.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal as D

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from fic_plugin.model import Customer, Line, Order, Payment
from fic_plugin.money import round2
from fic_plugin.payload import PAYMENT_TYPES, STAMP_DUTY_TYPES, build_document, expected_totals
from fic_plugin.settings import Settings

RATES = ("22", "10", "5", "4", "0")
MAPPING = {"vat_mapping": {"22": 0, "10": 3, "5": 7, "4": 4, "0": 1010},
           "payment_mapping": {"bank_transfer": {"payment_method_id": 11, "payment_account_id": 21, "ei_payment_method": "MP05"}}}
CUSTOMER = Customer(name="Mario Rossi", tax_code="RSSMRA80A01H501U", address_street="Via Roma 1",
                    address_postal_code="00184", address_city="Roma", address_province="RM")


def cents(low: int, high: int) -> st.SearchStrategy[D]:
    """Amounts with up to 2 decimals, as a shop stores them."""
    return st.integers(low, high).map(lambda n: D(n) / 100)


lines = st.builds(
    Line,
    name=st.just("Articolo"),
    qty=cents(1, 10_000),
    unit_price=cents(0, 99_999),
    vat_rate=st.sampled_from(RATES),
    discount=st.one_of(st.just(D(0)), cents(0, 10_000)),
)


@st.composite
def orders(draw) -> tuple[Order, Settings, str]:
    order_lines = draw(st.lists(lines, min_size=1, max_size=40))
    settings_ = Settings.from_mapping({**MAPPING, "rivalsa_inps": draw(st.booleans()),
                                       "stamp_duty": draw(st.booleans()),
                                       "payment_due_days": draw(st.integers(0, 90))})
    paid_cents = draw(st.integers(0, 2_000_000))
    payments = (Payment(D(paid_cents) / 100, paid_at=datetime(2026, 3, 1)),) if paid_cents else ()
    order = Order(id="1", number="1", customer=CUSTOMER, lines=order_lines, payments=payments,
                  prices_include_vat=draw(st.booleans()))
    return order, settings_, draw(st.sampled_from(PAYMENT_TYPES))


@settings(max_examples=300, deadline=None)
@given(orders())
def test_totals_and_instalments_invariants(case):
    order, settings_, document_type = case
    totals = expected_totals(order, settings_, document_type=document_type)
    assume(totals.amount_gross > 0)
    payload = build_document(order, document_type, settings_, today=date(2026, 3, 10))

    instalments = payload["payments_list"]
    assert sum(i["amount"] for i in instalments) == totals.amount_due
    assert all(i["amount"] > 0 for i in instalments)
    assert all(i["amount"] == round2(i["amount"]) for i in instalments)
    assert totals.amount_gross == totals.taxable_amount + totals.amount_vat
    assert totals.taxable_amount == totals.amount_net + totals.amount_rivalsa
    assert totals.amount_vat == sum(vat for _, vat in totals.vat_list.values())
    assert totals.taxable_amount == sum(taxable for taxable, _ in totals.vat_list.values())
    assert set(totals.vat_list) == {format(line.vat_rate.normalize(), "f") for line in order.lines}

    line_totals = sum(round2(line.unit_price * line.qty * (1 - line.discount / 100)) for line in order.lines)
    if order.prices_include_vat and not settings_.rivalsa_inps:
        assert totals.amount_gross == line_totals
    if not order.prices_include_vat:
        assert totals.amount_net == line_totals
    if settings_.stamp_duty and document_type in STAMP_DUTY_TYPES:
        expected_bollo = D("2.00") if totals.not_subject_to_vat > D("77.47") else D(0)
        assert payload["stamp_duty"] == expected_bollo
