"""Order -> FiC document: every rule of issue 4 on the payload, with readable errors."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal as D

import pytest

from fic_plugin.errors import InvalidInput, SettingsError
from fic_plugin.i18n import language
from fic_plugin.model import DOCUMENT_TYPES, Customer, Line, Order, Payment
from fic_plugin.payload import build_document, expected_totals, notes_html, payments_list
from fic_plugin.settings import Settings

TODAY = date(2026, 3, 10)


@pytest.fixture(autouse=True)
def english():
    """These tests match the English source texts; the Italian ones are checked by test_web_i18n."""
    with language("en"):
        yield
MAPPINGS = {
    "vat_mapping": {"22": 0, "10": 3, "5": 7, "4": 4, "0": 1010},
    "payment_mapping": {"bank_transfer": {"payment_method_id": 11, "payment_account_id": 21, "ei_payment_method": "MP05"},
                        "card": {"payment_method_id": 12, "payment_account_id": None, "ei_payment_method": "MP08"}},
}


def settings(**changes) -> Settings:
    return Settings.from_mapping({**MAPPINGS, **changes})


def person(**changes) -> Customer:
    values = dict(name="Mario Rossi", type="person", first_name="Mario", last_name="Rossi",
                  tax_code="RSSMRA80A01H501U", email="mario@example.it", phone="+39 333 123 4567",
                  address_street="Via Roma 1", address_postal_code="00184", address_city="Roma",
                  address_province="RM")
    values.update(changes)
    return Customer(**values)


def company(**changes) -> Customer:
    values = dict(name="Rossi S.r.l.", type="company", vat_number="IT00905811006", pec="rossi@pec.it",
                  sdi_code="abc1234", address_street="Via Torino 12", address_postal_code="20123",
                  address_city="Milano", address_province="MI")
    values.update(changes)
    return Customer(**values)


def order(*lines: Line, customer: Customer | None = None, **changes) -> Order:
    lines = lines or (Line("Olio 1 L", "2", "12.50", "22", code="OL1"),
                      Line("Spedizione", "1", "6.90", "22", kind="shipping"))
    return Order(id="o-7", number="1007", customer=customer or person(), lines=lines, **changes)


def build(the_order: Order | None = None, document_type: str = "invoice", **setting_changes):
    return build_document(the_order or order(), document_type, settings(**setting_changes), today=TODAY)


def test_header_fields():
    data = build_document(order(), "invoice", settings(), today=TODAY, marker="fic-plugin:order-o-7:invoice:1")
    assert data["type"] == "invoice"
    assert data["date"] == "2026-03-10"
    assert data["currency"] == {"id": "EUR"}
    assert data["language"] == {"code": "it", "name": "Italiano"}
    assert data["visible_subject"] == "Ordine n. 1007"
    assert data["subject"] == "fic-plugin:order-o-7:invoice:1"
    assert data["use_gross_prices"] is False
    assert "notes" not in data and "numeration" not in data


def test_every_money_value_is_decimal():
    data = build(order(payments=(Payment("10", paid_at=datetime(2026, 3, 1)),)), rivalsa_inps=True)
    for item in data["items_list"]:
        assert all(isinstance(item[k], D) for k in ("qty", "net_price", "discount"))
    assert all(isinstance(p["amount"], D) for p in data["payments_list"])
    assert isinstance(data["rivalsa"], D) and isinstance(data["stamp_duty"], D)


def test_person_entity():
    entity = build()["entity"]
    assert entity == {
        "type": "person", "name": "Mario Rossi", "first_name": "Mario", "last_name": "Rossi",
        "tax_code": "RSSMRA80A01H501U", "address_street": "Via Roma 1", "address_postal_code": "00184",
        "address_city": "Roma", "address_province": "RM", "country": "Italia", "country_iso": "IT",
        "email": "mario@example.it", "phone": "+393331234567", "ei_code": "0000000"}


def test_company_entity_with_sdi_code_and_pec():
    entity = build(order(customer=company(first_name="Ignored")))["entity"]
    assert entity["type"] == "company"
    assert "first_name" not in entity
    assert entity["vat_number"] == "00905811006"  # prefix dropped: FiC has country_iso for that
    assert entity["certified_email"] == "rossi@pec.it"
    assert entity["ei_code"] == "ABC1234"


@pytest.mark.parametrize(("iso", "country"), [("DE", "Germania"), ("FR", "Francia"), ("US", "Stati Uniti"),
                                              ("JP", "Giappone"), ("BR", "Brasile"), ("CZ", "Repubblica Ceca"),
                                              ("QQ", "QQ")])
def test_foreign_customers(iso, country):
    number = {"DE": "DE136695976", "FR": "FR40303265045", "CZ": "CZ25123891"}.get(iso, "123456789")
    customer = company(vat_number=number, country_iso=iso, sdi_code=None, pec=None, tax_code=None)
    entity = build(order(customer=customer))["entity"]
    assert (entity["country"], entity["country_iso"], entity["ei_code"]) == (country, iso, "XXXXXXX")


def test_foreign_person_needs_no_italian_codes():
    customer = person(country_iso="DE", tax_code=None, phone=None)
    assert build(order(customer=customer))["entity"]["ei_code"] == "XXXXXXX"


def test_items_net_prices_map_vat_ids():
    lines = (Line("A", "1.5", "10.12345", "22", discount="5", code="A1"), Line("B", "1", "3", "10"),
             Line("Bollo", "1", "2", "0", kind="fee"))
    items = build(order(*lines))["items_list"]
    assert items[0] == {"name": "A", "code": "A1", "qty": D("1.5"), "net_price": D("10.12345"), "discount": D("5"),
                        "vat": {"id": 0}, "apply_withholding_taxes": False}
    assert [i["vat"]["id"] for i in items] == [0, 3, 1010]
    assert all("gross_price" not in i for i in items)


def test_items_gross_prices_when_order_prices_include_vat():
    data = build(order(Line("Soggiorno", "1", "75", "10"), prices_include_vat=True))
    assert data["use_gross_prices"] is True
    assert data["items_list"][0]["gross_price"] == D("75")
    assert "net_price" not in data["items_list"][0]
    assert data["payments_list"][0]["amount"] == D("75")


def test_prices_beyond_fic_precision_are_rounded_where_fic_rounds():
    data = build(order(Line("X", "3", "0.3333333", "22")))
    assert data["items_list"][0]["net_price"] == D("0.33333")
    assert data["payments_list"][0]["amount"] == D("1.22")  # 3 x 0.33333 = 1.00 net, 0.22 VAT


def test_unmapped_vat_rate_names_rate_order_and_where_to_fix():
    with pytest.raises(SettingsError) as error:
        build(order(Line("Libro", "1", "10", "5.5")))
    assert "5.5%" in str(error.value) and "1007" in str(error.value)
    assert "Configurazione imposte" in str(error.value)
    assert (error.value.field, error.value.order_id) == ("vat_mapping", "o-7")


def test_vat_mapping_checked_against_fic_vat_types():
    the_order = order(Line("A", "1", "10", "22"))
    assert build_document(the_order, "invoice", settings(), today=TODAY, vat_rates={0: D("22")})
    with pytest.raises(SettingsError, match="is 10%"):
        build_document(the_order, "invoice", settings(), today=TODAY, vat_rates={0: D("10")})
    with pytest.raises(SettingsError, match="does not exist"):
        build_document(the_order, "invoice", settings(), today=TODAY, vat_rates={3: D("10")})


@pytest.mark.parametrize(("country", "mapping", "expected"), [
    ("DE", {"0": 1010, "0:EU": 28, "0:extra-EU": 23}, 28),  # intra-community supply, N3.2
    ("US", {"0": 1010, "0:EU": 28, "0:extra-EU": 23}, 23),  # export, N3.1
    ("IT", {"0": 1010, "0:EU": 28, "0:extra-EU": 23}, 1010),
    ("DE", {"0": 1010}, 1010),  # no key for the area: the rate's own
    ("FR", {"0": 1010, "0:IT": 6}, 1010),
])
def test_zero_rate_takes_the_vat_type_of_the_customers_area(country, mapping, expected):
    numbers = {"DE": "DE136695976", "FR": "FR40303265045", "US": "123456789"}
    customer = company(vat_number=numbers[country], country_iso=country, sdi_code=None) if country != "IT" \
        else company()
    data = build(order(Line("Miele", "2", "7.00", "0"), Line("Olio", "1", "10", "22"), customer=customer),
                 vat_mapping={"22": 0, **mapping})
    assert [item["vat"]["id"] for item in data["items_list"]] == [expected, 0]


@pytest.mark.parametrize(("price", "expected"), [("77.47", D("0")), ("77.48", D("2.00"))])
def test_stamp_duty_on_the_part_outside_vat(price, expected):
    the_order = order(Line("Consulenza", "1", price, "0"), Line("Libro", "1", "100", "22"))
    data = build(the_order, stamp_duty=True)
    assert data["stamp_duty"] == expected
    # Declared, not charged: the instalment is what the customer pays for the lines.
    assert data["payments_list"][0]["amount"] == D(price) + D("122")


@pytest.mark.parametrize("document_type", ["quote", "delivery_note"])
def test_no_stamp_duty_no_payments_on_quotes_and_ddt(document_type):
    the_order = order(Line("Consulenza", "1", "500", "0"), payment_method="unmapped")
    data = build(the_order, document_type, stamp_duty=True)
    assert "stamp_duty" not in data
    assert "payments_list" not in data and "payment_method" not in data


@pytest.mark.parametrize("document_type", ["invoice", "proforma", "receipt", "credit_note"])
def test_payable_types_carry_stamp_duty_and_payments(document_type):
    data = build(order(Line("Consulenza", "1", "500", "0")), document_type, stamp_duty=True)
    assert data.get("stamp_duty") == (None if document_type == "proforma" else D("2.00"))
    assert data["payment_method"] == {"id": 11}
    assert data["payments_list"] == [{"amount": D("500"), "due_date": "2026-03-10", "status": "not_paid",
                                      "payment_account": {"id": 21}}]


@pytest.mark.parametrize("document_type", sorted(DOCUMENT_TYPES))
def test_numeration_on_every_type_but_ddt(document_type):
    data = build(order(), document_type, numeration="/A")
    assert data.get("numeration") == (None if document_type == "delivery_note" else "/A")


def test_unmapped_payment_method():
    with pytest.raises(SettingsError) as error:
        build(order(payment_method="paypal"))
    assert "paypal" in str(error.value) and "1007" in str(error.value)
    assert "Configurazione pagamenti" in str(error.value)
    assert error.value.field == "payment_mapping"


def test_due_date_after_payment_due_days():
    data = build(payment_due_days=30)
    assert data["payments_list"][0]["due_date"] == "2026-04-09"


def _paid(*amounts: str) -> Order:
    payments = tuple(Payment(a, paid_at=datetime(2026, 3, day + 1, 9)) for day, a in enumerate(amounts))
    return order(payments=payments)


def test_partly_paid_makes_a_paid_and_a_not_paid_instalment():
    due = expected_totals(order(), settings()).amount_due
    assert due == D("38.92")
    instalments = payments_list(_paid("10", "5.005"), due, settings(payment_due_days=15), TODAY)
    assert instalments == [
        {"amount": D("15.01"), "due_date": "2026-03-02", "status": "paid", "paid_date": "2026-03-02",
         "payment_account": {"id": 21}},
        {"amount": D("23.91"), "due_date": "2026-03-25", "status": "not_paid", "payment_account": {"id": 21}},
    ]
    assert sum(i["amount"] for i in instalments) == due


@pytest.mark.parametrize("paid", ["38.92", "50"])
def test_fully_paid_or_overpaid_is_one_paid_instalment_of_amount_due(paid):
    instalments = build(_paid(paid))["payments_list"]
    assert instalments == [{"amount": D("38.92"), "due_date": "2026-03-01", "status": "paid",
                            "paid_date": "2026-03-01", "payment_account": {"id": 21}}]


def test_credit_note_instalment_ignores_the_order_payments():
    instalments = build(_paid("38.92"), "credit_note")["payments_list"]
    assert [(i["amount"], i["status"]) for i in instalments] == [(D("38.92"), "not_paid")]


def test_paid_order_needs_a_payment_account():
    the_order = order(payment_method="card", payments=(Payment("5"),))
    with pytest.raises(SettingsError, match="payment account"):
        build(the_order)
    assert "payment_account" not in build(order(payment_method="card"))["payments_list"][0]


def test_notes_are_escaped_paragraphs():
    data = build(default_notes="Grazie <script>alert(1)</script> & a presto\nRiga 2\n\nIBAN IT60X")
    assert data["notes"] == ("<p>Grazie &lt;script&gt;alert(1)&lt;/script&gt; &amp; a presto<br>Riga 2</p>"
                             "<p>IBAN IT60X</p>")
    assert notes_html("  \n\n ") == ""


def test_names_stay_text():
    the_order = order(Line("<b>Vaso</b> & co", "1", "10", "22"), customer=person(name="O'Brien <x>"))
    data = build(the_order)
    assert data["items_list"][0]["name"] == "<b>Vaso</b> & co"
    assert data["entity"]["name"] == "O'Brien <x>"


def test_non_eur_order_is_refused():
    with pytest.raises(InvalidInput) as error:
        build(order(currency="USD"))
    assert (error.value.field, error.value.order_id) == ("currency", "o-7")
    assert "1007" in str(error.value) and "USD" in str(error.value)


def test_unknown_document_type():
    with pytest.raises(InvalidInput) as error:
        build(order(), "bill")
    assert error.value.field == "document_type"


def test_italian_customer_without_vat_number_or_tax_code():
    anonymous = order(customer=person(tax_code=None))
    with pytest.raises(InvalidInput) as error:
        build(anonymous, e_invoice=False)
    assert "1007" in str(error.value) and "codice fiscale" in str(error.value)
    assert error.value.field == "customer.tax_code" and error.value.order_id == "o-7"
    assert build(anonymous, ignore_required_fields=True, e_invoice=False)["entity"]["ei_code"] == "0000000"
    # Quotes are never e-invoices: the setting still lets them out.
    assert build(anonymous, "quote", ignore_required_fields=True)["entity"]["ei_code"] == "0000000"
    assert build(order(customer=company(tax_code=None)))  # a Partita IVA is enough


BAD_ORDERS = {
    "customer.name": order(customer=person(name="  ")),
    "lines": Order(id="o-7", number="1007", customer=person(), lines=()),
    "lines[1].qty": order(Line("A", "1", "1", "22"), Line("B", "0", "1", "22")),
    "lines[0].unit_price": order(Line("A", "1", "-1", "22"), Line("B", "1", "5", "22")),
    "lines[0].discount": order(Line("A", "1", "1", "22", discount="120")),
    "lines[0].name": order(Line("", "1", "1", "22")),
    "total": order(Line("Omaggio", "1", "10", "22", discount="100")),
    "customer.vat_number": order(customer=company(vat_number="00905811007")),
    "customer.tax_code": order(customer=person(tax_code="RSSMRA80A01H501X")),
    "customer.sdi_code": order(customer=company(sdi_code="AB-12")),
    "customer.email": order(customer=person(email="mario@")),
    "customer.pec": order(customer=company(pec="not an email")),
    "customer.phone": order(customer=person(phone="333 123")),
}


@pytest.mark.parametrize("field", sorted(BAD_ORDERS))
def test_invalid_orders_name_the_order_and_field(field):
    with pytest.raises(InvalidInput) as error:
        build(BAD_ORDERS[field])
    assert error.value.field == field
    assert error.value.order_id == "o-7"
    assert str(error.value).startswith("Order 1007: ")


def test_limits_on_lines_and_names():
    many = order(*[Line(f"Item {i}", "1", "1", "22") for i in range(1000)])
    assert len(build(many)["items_list"]) == 1000
    with pytest.raises(InvalidInput, match="at most 1000") as error:
        build(order(*[Line(f"Item {i}", "1", "1", "22") for i in range(1001)]))
    assert error.value.field == "lines"
    assert build(order(Line("x" * 1000, "1", "1", "22")))
    with pytest.raises(InvalidInput) as error:
        build(order(Line("x" * 1001, "1", "1", "22")))
    assert error.value.field == "lines[0].name"
    assert build(order(customer=person(name="y" * 255)))
    with pytest.raises(InvalidInput) as error:
        build(order(customer=person(name="y" * 256)))
    assert error.value.field == "customer.name"
