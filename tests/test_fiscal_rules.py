"""Each fiscal rule of the totals, with the law it comes from (``../shared/fatturapa/BRIEF.md``,
"Fiscal rules"; docs/totals.md). A rule broken here is a document wrong in law, not only in cents.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import attrs
import pytest

from fic_plugin.errors import InvalidInput, SettingsError
from fic_plugin.i18n import language
from fic_plugin.model import Customer, Line, Order
from fic_plugin.money import Item, compute_totals, stamp_duty_due_on
from fic_plugin.payload import build_document, expected_totals
from fic_plugin.settings import Settings

TODAY = date(2026, 3, 10)
#: FiC VAT types as the sandbox seeds them: id → natura (ei_type).
NATURAS = {0: None, 3: None, 4: None, 21: "N1", 22: "N2.1", 6: "N2.2", 23: "N3.1", 28: "N3.2", 24: "N4",
           25: "N5", 26: "N6.1"}
RATES = {0: D("22"), 3: D("10"), 4: D("4"), **{i: D("0") for i in (21, 22, 6, 23, 28, 24, 25, 26)}}
MAPPINGS = {"vat_mapping": {"22": 0, "10": 3, "4": 4, "0": 6},
            "payment_mapping": {"bank_transfer": {"payment_method_id": 11, "payment_account_id": 21,
                                                  "ei_payment_method": "MP05"}}}
ADDRESS = dict(address_street="Via Roma 1", address_postal_code="00184", address_city="Roma", address_province="RM")
ABROAD = dict(address_street="Hauptstraße 1", address_city="Berlin")
PERSON = Customer(name="Mario Rossi", tax_code="RSSMRA80A01H501U", **ADDRESS)
BUSINESS = Customer(name="Rossi S.r.l.", type="company", vat_number="00905811006", sdi_code="ABC1234",
                    **ADDRESS)


@pytest.fixture(autouse=True)
def english():
    with language("en"):
        yield


def settings(**changes) -> Settings:
    return Settings.from_mapping({**MAPPINGS, **changes})


def order(*lines: Line, customer: Customer = PERSON, gross: bool = False) -> Order:
    return Order(id="o-9", number="1009", customer=customer, lines=lines, prices_include_vat=gross)


def build(the_order: Order, document_type: str = "invoice", **changes) -> dict:
    return build_document(the_order, document_type, settings(**changes), today=TODAY, vat_rates=RATES,
                          vat_naturas=NATURAS)


def totals(the_order: Order, document_type: str = "invoice", **changes):
    return expected_totals(the_order, settings(**changes), document_type=document_type, vat_naturas=NATURAS)


FEE = Line("Consulenza", "1", "1000", "22", kind="service")
GOODS = Line("Manuale", "1", "100", "22")
SHIPPING = Line("Spedizione", "1", "10", "22", kind="shipping")
COD = Line("Contrassegno", "1", "5", "22", kind="fee")


# --- Line kinds ------------------------------------------------------------------------------------


def test_line_kinds_and_product_read_as_goods():
    assert Line("Olio", "1", "1", "22").kind == "goods"
    assert Line("Olio", "1", "1", "22", kind="product").kind == "goods"
    assert [Line("x", "1", "1", "22", kind=k).kind for k in ("goods", "service", "shipping", "fee")] == \
        ["goods", "service", "shipping", "fee"]
    with pytest.raises(InvalidInput) as error:
        Line("x", "1", "1", "22", kind="gift")
    assert error.value.field == "kind"


# --- Rivalsa INPS ------------------------------------------------------------------------------------


def test_rivalsa_inps_only_on_the_professionals_fees_charged_on_top():
    """Rivalsa INPS 4% (art. 1 c. 212 L. 662/1996, gestione separata): on the fees (services),
    not on goods, shipping or other fees; subject to VAT (BRIEF.md "Fiscal rules")."""
    the_order = order(FEE, GOODS, SHIPPING, COD)
    data = build(the_order, rivalsa_inps=True, rivalsa_included_in_price=False)
    assert [i["apply_withholding_taxes"] for i in data["items_list"]] == [True, False, False, False]
    assert data["rivalsa"] == D("4")
    result = totals(the_order, rivalsa_inps=True, rivalsa_included_in_price=False)
    assert result.amount_rivalsa == D("40.00")  # 4% of 1000, none on the 115 of the rest
    assert result.taxable_amount == D("1155.00")
    assert result.amount_vat == D("254.10")  # 22% of fees + rivalsa + the rest


@pytest.mark.parametrize("gross", [False, True])
@pytest.mark.parametrize("price", ["1000", "104", "99.99", "0.26", "333.33", "12.5"])
def test_rivalsa_included_in_the_price_is_carved_out_like_vat(gross, price):
    """With the rivalsa in the price (the default) the invoice still totals what the customer
    paid: the fee is carved out so that fee + 4% + VAT = the price."""
    the_order = order(Line("Consulenza", "1", price, "22", kind="service"), GOODS, gross=gross)
    plain = totals(the_order)
    carved = totals(the_order, rivalsa_inps=True)
    assert carved.amount_rivalsa > 0
    assert carved.amount_gross == plain.amount_gross
    data = build(the_order, rivalsa_inps=True)
    price_key = "gross_price" if gross else "net_price"
    assert data["items_list"][0][price_key] < D(price)
    assert data["items_list"][1][price_key] == D("100")  # goods keep their price


def test_a_skipped_cent_becomes_a_rounding_line_outside_the_fees():
    """1.04 € can't be fee + 4% to the cent (0.99 + 0.04 = 1.03, 1.00 + 0.04 = 1.04 …): whatever
    the price, the invoice total is the price, a cent line "Arrotondamento" taking up the rest."""
    for cents in range(100, 400):
        the_order = order(Line("Consulenza", "1", D(cents) / 100, "22", kind="service"))
        assert totals(the_order, rivalsa_inps=True).amount_gross == totals(the_order).amount_gross, cents
    rounded = [build(order(Line("C", "1", D(c) / 100, "22", kind="service")), rivalsa_inps=True)["items_list"]
               for c in range(100, 400)]
    extras = [items[1] for items in rounded if len(items) > 1]
    assert extras and all(e["name"] == "Arrotondamento" and e["apply_withholding_taxes"] is False
                          and D("0") < e["net_price"] <= D("0.02") for e in extras)


def test_rivalsa_included_in_price_exact_on_a_round_fee():
    the_order = order(Line("Consulenza", "1", "1040", "22", kind="service"))
    data = build(the_order, rivalsa_inps=True)
    assert data["items_list"][0]["net_price"] == D("1000")
    assert totals(the_order, rivalsa_inps=True).amount_gross == totals(the_order).amount_gross == D("1268.80")


# --- Cassa previdenziale, ritenuta d'acconto -----------------------------------------------------------


def test_cassa_on_fees_subject_to_vat():
    """Cassa previdenziale (FatturaPA DatiCassaPrevidenziale, TipoCassa TC01…TC22): a percent of
    the fees, subject to VAT (BRIEF.md "Fiscal rules")."""
    the_order = order(FEE, GOODS)
    data = build(the_order, cassa_type="TC01", cassa_rate="4", rivalsa_included_in_price=False)
    assert (data["cassa"], data["ei_cassa_type"]) == (D("4"), "TC01")
    result = totals(the_order, cassa_type="TC01", cassa_rate="4", rivalsa_included_in_price=False)
    assert result.amount_cassa == D("40.00")
    assert result.amount_vat == round(D("1140") * D("0.22"), 2)


def test_ritenuta_on_fees_plus_rivalsa_not_cassa_reduces_amount_due_only():
    """Ritenuta d'acconto (art. 25 DPR 600/1973): 20% of fees + rivalsa INPS, withheld by a
    business customer; it lowers amount_due, not the invoice total. The cassa is outside its base."""
    the_order = order(FEE, GOODS, customer=BUSINESS)
    changes = dict(rivalsa_inps=True, rivalsa_included_in_price=False, withholding_tax="20",
                   cassa_type="TC04", cassa_rate="2")
    result = totals(the_order, **changes)
    assert result.amount_withholding_tax == D("208.00")  # 20% of (1000 + 40), not of the cassa's 20
    assert result.amount_due == result.amount_gross - D("208.00")
    data = build(the_order, **changes)
    assert data["withholding_tax"] == D("20") and data["ei_withholding_tax_causal"] == "A"
    assert sum(p["amount"] for p in data["payments_list"]) == result.amount_due


def test_no_ritenuta_on_a_private_customer():
    """Only a business (sostituto d'imposta, art. 23 DPR 600/1973) withholds the ritenuta."""
    result = totals(order(FEE), withholding_tax="20", rivalsa_included_in_price=False)
    assert result.amount_withholding_tax == 0
    assert build(order(FEE), withholding_tax="20")["withholding_tax"] == 0


@pytest.mark.parametrize(("key", "value"), [("withholding_tax", "120"), ("withholding_tax", "-1"),
                                            ("cassa_type", "TC23"), ("cassa_rate", "abc")])
def test_contribution_settings_refuse_bad_values(key, value):
    with pytest.raises(SettingsError) as error:
        settings(**{key: value})
    assert error.value.field == key


# --- Bollo ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("natura", "due"), [
    ("N1", True), ("N2.1", True), ("N2.2", True), ("N3.4", True), ("N3.5", True), ("N3.6", True), ("N4", True),
    ("N5", True), ("N3.1", False), ("N3.2", False), ("N6.1", False), ("N6.9", False)])
def test_bollo_due_by_natura(natura, due):
    """Bollo (DPR 642/1972, Tariffa art. 13): not on exports N3.1 (Tabella B art. 15), intra-EU
    supplies of goods N3.2 (art. 66 DL 331/1993), reverse charge N6.x; due on the others."""
    assert stamp_duty_due_on(natura) is due
    items = [Item(price=D("100"), qty=D("1"), vat_rate=D("0"), natura=natura)]
    expected = D("2.00") if due else D("0")
    assert compute_totals(items, use_gross_prices=False, apply_stamp_duty=True).stamp_duty == expected


def test_bollo_by_the_mapped_vat_types_natura():
    export = order(Line("Olio", "1", "500", "0"))
    assert build(export, stamp_duty=True, vat_mapping={"22": 0, "0": 23})["stamp_duty"] == 0  # N3.1
    assert build(export, stamp_duty=True, vat_mapping={"22": 0, "0": 24})["stamp_duty"] == D("2.00")  # N4


@pytest.mark.parametrize(("document_type", "bollo"), [
    ("invoice", D("2.00")), ("receipt", D("2.00")), ("credit_note", D("2.00")), ("proforma", None),
    ("quote", None), ("delivery_note", None)])
def test_bollo_only_on_invoices_receipts_credit_notes(document_type, bollo):
    data = build(order(Line("Visita", "1", "500", "0")), document_type, stamp_duty=True)
    assert data.get("stamp_duty") == bollo


def test_bollo_charged_to_the_customer_is_a_zero_rate_n1_line():
    """Charged to the customer the €2 is part of what they pay: a 0% line excluded from VAT's base
    (art. 15 DPR 633/1972, natura N1)."""
    the_order = order(Line("Visita", "1", "500", "0"))
    data = build(the_order, stamp_duty=True, stamp_duty_charged_to_customer=True)
    last = data["items_list"][-1]
    assert (last["name"], last["net_price"], last["vat"]) == ("Rivalsa bollo", D("2.00"), {"id": 21})
    assert data["stamp_duty"] == D("2.00")
    assert data["payments_list"][0]["amount"] == D("502.00")
    declared = build(the_order, stamp_duty=True)
    assert len(declared["items_list"]) == 1 and declared["payments_list"][0]["amount"] == D("500")


# --- Split payment ----------------------------------------------------------------------------------


def test_split_payment_for_public_administrations():
    """Scissione dei pagamenti (art. 17-ter DPR 633/1972): the PA pays the VAT to the state;
    amount_due = total − VAT."""
    pa = Customer(name="Comune di Roma", type="pa", tax_code="02438750586", sdi_code="ABC123", **ADDRESS)
    result = totals(order(GOODS, customer=pa))
    assert result.amount_due == result.amount_gross - result.amount_vat == D("100")
    # Never with reverse charge (SdI 00420): refused, naming the order.
    with pytest.raises(InvalidInput) as error:
        totals(order(Line("Rottami", "1", "100", "0"), customer=pa), vat_mapping={"22": 0, "0": 26})
    assert "1009" in str(error.value) and "N6" in str(error.value)


def test_split_payment_amounts():
    items = [Item(price=D("100"), qty=D("1"), vat_rate=D("22"))]
    assert compute_totals(items, use_gross_prices=False, use_split_payment=True).amount_due == D("100")


# --- Bad mappings ------------------------------------------------------------------------------------


def test_zero_rate_mapped_to_a_vat_type_without_natura_is_refused():
    """SdI 00400: a 0% line without Natura is discarded."""
    with pytest.raises(SettingsError) as error:
        build_document(order(Line("Olio", "1", "5", "0")), "invoice", settings(vat_mapping={"0": 6}),
                       today=TODAY, vat_rates={**RATES}, vat_naturas={**NATURAS, 6: None})
    assert error.value.field == "vat_mapping" and "1009" in str(error.value)


# --- 0% naturas by customer and supply, OSS ---------------------------------------------------------------

EU_BUSINESS = Customer(name="Feinkost GmbH", type="company", vat_number="DE136695976", country_iso="DE",
                       **ABROAD)
EU_CONSUMER = Customer(name="Hans Meier", country_iso="DE", **ABROAD)
US_BUSINESS = Customer(name="Acme Inc.", type="company", vat_number="US12345", country_iso="US", **ABROAD)
ZERO_MAPPING = {"22": 0, "0": 6, "0:IT": 24, "0:EU-business:goods": 28, "0:EU-business:services": 22,
                "0:extra-EU:goods": 23, "0:extra-EU:services": 22}


@pytest.mark.parametrize(("customer", "kind", "natura"), [
    (EU_BUSINESS, "goods", "N3.2"),      # art. 41 DL 331/1993: intra-community supply of goods
    (EU_BUSINESS, "service", "N2.1"),    # art. 7-ter DPR 633/1972: service taxed where the business is
    (US_BUSINESS, "goods", "N3.1"),      # art. 8 DPR 633/1972: export
    (US_BUSINESS, "service", "N2.1"),
    (PERSON, "goods", "N4"),             # domestic: the 0:IT key
    (EU_CONSUMER, "goods", "N4"),        # art. 7-bis: an EU consumer pays as an Italian, never N3.2
])
def test_zero_rate_natura_by_customer_and_supply(customer, kind, natura):
    data = build(order(Line("Riga", "1", "100", "0", kind=kind), customer=customer), vat_mapping=ZERO_MAPPING)
    assert NATURAS[data["items_list"][0]["vat"]["id"]] == natura


def test_legacy_area_keys_are_still_read():
    legacy = {"22": 0, "0": 6, "0:EU": 28, "0:extra-EU": 23}
    assert build(order(Line("Olio", "1", "100", "0"), customer=EU_BUSINESS), vat_mapping=legacy)[
        "items_list"][0]["vat"]["id"] == 28
    assert build(order(Line("Olio", "1", "100", "0"), customer=US_BUSINESS), vat_mapping=legacy)[
        "items_list"][0]["vat"]["id"] == 23


def test_an_eu_consumer_is_never_given_n3_2():
    """N3.2 is a supply to a business with a VAT number (art. 41 DL 331/1993)."""
    with pytest.raises(SettingsError) as error:
        build(order(Line("Olio", "1", "100", "0"), customer=EU_CONSUMER), vat_mapping={"22": 0, "0": 28})
    assert error.value.field == "vat_mapping" and "N3.2" in str(error.value)


def test_an_eu_business_vat_number_is_checked_for_its_check_digit():
    bad = Customer(name="Feinkost GmbH", type="company", vat_number="DE123456789", country_iso="DE")
    with pytest.raises(InvalidInput) as error:
        build(order(Line("Olio", "1", "100", "0"), customer=bad), vat_mapping=ZERO_MAPPING)
    assert error.value.field == "customer.vat_number" and "1009" in str(error.value)


def test_oss_sale_uses_the_countrys_rate_mapping():
    """OSS (art. 74-sexies DPR 633/1972): an EU consumer above the threshold pays their country's VAT."""
    oss = attrs.evolve(order(Line("Olio", "1", "100", "19"), customer=EU_CONSUMER), oss=True)
    rates = {**RATES, 90: D("19")}
    data = build_document(oss, "invoice", settings(vat_mapping={"22": 0, "19:DE": 90}), today=TODAY,
                          vat_rates=rates, vat_naturas=NATURAS)
    assert data["items_list"][0]["vat"] == {"id": 90}
    with pytest.raises(SettingsError) as error:
        build_document(oss, "invoice", settings(vat_mapping={"22": 0, "19": 0}), today=TODAY)
    assert "DE" in str(error.value) and "19" in str(error.value) and error.value.field == "vat_mapping"


@pytest.mark.parametrize("customer", [PERSON, BUSINESS, EU_BUSINESS, US_BUSINESS])
def test_oss_is_refused_for_anyone_but_an_eu_consumer(customer):
    oss = attrs.evolve(order(Line("Olio", "1", "100", "22"), customer=customer), oss=True)
    with pytest.raises(InvalidInput) as error:
        build(oss)
    assert error.value.field == "oss" and "1009" in str(error.value)


@pytest.mark.parametrize("key", ["19:DE", "20:FR", "0:EU-business:goods", "0:extra-EU:services", "0:IT", "0:EU"])
def test_mapping_keys_are_accepted(key):
    assert key in settings(vat_mapping={"22": 0, key: 5}).vat_mapping


@pytest.mark.parametrize("key", ["0:Mars", "19:US", "0:EU-business", "0:EU-business:food"])
def test_unknown_mapping_keys_are_refused(key):
    with pytest.raises(SettingsError) as error:
        settings(vat_mapping={"22": 0, key: 5})
    assert error.value.field == "vat_mapping"
