"""The totals rules of docs/totals.md, one by one, with FiC's own examples where the spec has them."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from fic_plugin import json_codec, money
from fic_plugin.money import Item, compute_totals, round2


def test_round2_is_half_up_not_bankers():
    assert round2(D("0.125")) == D("0.13")
    assert round2(D("0.135")) == D("0.14")
    assert round2(D("-0.125")) == D("-0.13")
    assert round2(D("2.675")) == D("2.68")  # a float would give 2.67


def test_fic_example_gross_75_at_10_percent():
    """Spec example (getNewIssuedDocumentTotals): gross 75 at 10% -> net 68.18, VAT 6.82, gross 75."""
    totals = compute_totals([Item(price=D("75"), qty=D("1"), vat_rate=D("10"))], use_gross_prices=True)
    assert (totals.amount_net, totals.amount_vat, totals.amount_gross, totals.amount_due) == (
        D("68.18"), D("6.82"), D("75"), D("75"))
    assert totals.vat_list == {"10": (D("68.18"), D("6.82"))}


def test_fic_example_rivalsa():
    """Spec example (getExistingIssuedDocumentTotals): net 68.18 + rivalsa 13.64 = 81.82, VAT 8.18, 90."""
    item = Item(price=D("75"), qty=D("1"), vat_rate=D("10"), apply_withholding_taxes=True)
    totals = compute_totals([item], use_gross_prices=True, rivalsa=20)
    assert totals.amount_net == D("68.18")
    assert totals.amount_rivalsa == D("13.64")
    assert totals.taxable_amount == D("81.82")
    assert totals.amount_vat == D("8.18")
    assert totals.amount_gross == totals.amount_due == D("90")
    assert totals.vat_list == {"10": (D("81.82"), D("8.18"))}


def test_rivalsa_inps_4_percent_net_prices_only_on_flagged_lines():
    items = [Item(price=D("100"), qty=D("1"), vat_rate=D("22"), apply_withholding_taxes=True),
             Item(price=D("50"), qty=D("1"), vat_rate=D("22"))]
    totals = compute_totals(items, use_gross_prices=False, rivalsa=4)
    assert totals.amount_rivalsa == D("4.00")
    assert totals.taxable_amount == D("154.00")
    assert totals.amount_vat == D("33.88")  # 22% of 154, rivalsa included
    assert totals.amount_gross == D("187.88")


def test_vat_per_rate_not_per_line():
    # Three lines of 0.07 at 22%: per line 3 x round(0.0154) = 0.06; per rate round(0.0462) = 0.05.
    items = [Item(price=D("0.07"), qty=D("1"), vat_rate=D("22")) for _ in range(3)]
    totals = compute_totals(items, use_gross_prices=False)
    assert totals.amount_vat == D("0.05")
    assert totals.amount_gross == D("0.26")


def test_line_total_rounds_once_after_discount_and_quantity():
    item = Item(price=D("2.10"), qty=D("3"), vat_rate=D("10"), discount=D("10"))
    assert item.line_total == D("5.67")
    item = Item(price=D("1.005"), qty=D("1.5"), vat_rate=D("22"), discount=D("0"))
    assert item.line_total == D("1.51")  # 1.5075 -> 1.51


def test_mixed_rates_make_one_vat_list_entry_each():
    items = [Item(price=D("10"), qty=D("2"), vat_rate=D("22")),
             Item(price=D("10"), qty=D("1"), vat_rate=D("5.5")),
             Item(price=D("10"), qty=D("1"), vat_rate=D("4")),
             Item(price=D("10"), qty=D("1"), vat_rate=D("0"))]
    totals = compute_totals(items, use_gross_prices=False)
    assert set(totals.vat_list) == {"22", "5.5", "4", "0"}
    assert totals.vat_list["22"] == (D("20"), D("4.40"))
    assert totals.vat_list["5.5"] == (D("10"), D("0.55"))
    assert totals.vat_list["0"] == (D("10"), D("0.00"))
    assert totals.amount_gross == totals.taxable_amount + totals.amount_vat == D("55.35")


def test_gross_mode_keeps_what_the_customer_paid_per_rate():
    items = [Item(price=D("9.99"), qty=D("3"), vat_rate=D("22")), Item(price=D("0.01"), qty=D("7"), vat_rate=D("22")),
             Item(price=D("4.35"), qty=D("1"), vat_rate=D("4"))]
    totals = compute_totals(items, use_gross_prices=True)
    assert totals.amount_gross == D("29.97") + D("0.07") + D("4.35")
    assert totals.vat_list["22"] == (round2(D("30.04") / D("1.22")), D("30.04") - round2(D("30.04") / D("1.22")))


@pytest.mark.parametrize(("zero_rate_amount", "expected"), [
    ("77.47", D("0")), ("77.48", D("2.00")), ("500", D("2.00")), ("0", D("0"))])
def test_stamp_duty_when_the_part_outside_vat_exceeds_77_47(zero_rate_amount, expected):
    items = [Item(price=D("1000"), qty=D("1"), vat_rate=D("22"))]
    if D(zero_rate_amount):
        items.append(Item(price=D(zero_rate_amount), qty=D("1"), vat_rate=D("0")))
    totals = compute_totals(items, use_gross_prices=False, apply_stamp_duty=True)
    assert totals.stamp_duty == expected
    # Declared, not charged (docs/totals.md §4): the amount due stays what the customer pays.
    assert not money.STAMP_DUTY_IN_AMOUNT_DUE
    assert totals.amount_due == totals.amount_gross
    assert totals.not_subject_to_vat == D(zero_rate_amount)


def test_no_stamp_duty_unless_asked():
    items = [Item(price=D("500"), qty=D("1"), vat_rate=D("0"))]
    assert compute_totals(items, use_gross_prices=False).stamp_duty == 0
    # Only the 0% part counts: 22% lines above the threshold do not trigger it.
    items = [Item(price=D("500"), qty=D("1"), vat_rate=D("22"))]
    assert compute_totals(items, use_gross_prices=False, apply_stamp_duty=True).stamp_duty == 0


def test_withholding_tax_and_split_payment_reduce_amount_due():
    items = [Item(price=D("1000"), qty=D("1"), vat_rate=D("22"), apply_withholding_taxes=True)]
    totals = compute_totals(items, use_gross_prices=False, withholding_tax=20, withholding_tax_taxable=50)
    assert totals.amount_withholding_tax == D("100.00")
    assert totals.amount_due == D("1220") - D("100")
    totals = compute_totals(items, use_gross_prices=False, use_split_payment=True)
    assert totals.amount_due == D("1000")


def test_vat_key_spells_rates_like_fic():
    assert [money.vat_key(D(r)) for r in ("22", "10.0", "5.50", "0", "4")] == ["22", "10", "5.5", "0", "4"]


def test_the_json_codec_writes_and_reads_exact_numbers_never_floats():
    value = {"a": D("68.18"), "b": D("75.00000"), "c": D("68.18182"), "d": D("0.1"),
             "x": D("0.12345678901234567890"), "n": 3}
    text = json_codec.dumps(value)
    assert text == ('{"a": 68.18, "b": 75.00000, "c": 68.18182, "d": 0.1, "x": 0.12345678901234567890, '
                    '"n": 3}')
    back = json_codec.loads(text)
    assert back == value and all(isinstance(v, D) for k, v in back.items() if k != "n")
    with pytest.raises(ValueError):
        json_codec.dumps({"x": D("NaN")})


def test_as_fic_shape_matches_the_totals_endpoint():
    totals = compute_totals([Item(price=D("75"), qty=D("1"), vat_rate=D("10"))], use_gross_prices=True)
    assert totals.as_fic()["vat_list"] == {"10": {"amount_net": D("68.18"), "amount_vat": D("6.82")}}


def test_round_price_keeps_fic_precision():
    assert money.round_price(D("68.181818")) == D("68.18182")
    assert money.round_price(D("12.5")) == D("12.5")
