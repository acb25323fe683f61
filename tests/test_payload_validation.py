"""The fiscal identifier and contact checks, with real Partite IVA and codici fiscali."""

from __future__ import annotations

import pytest

from fic_plugin.errors import InvalidInput
from fic_plugin.validation import (
    check_email,
    check_phone,
    check_sdi_code,
    check_tax_code,
    check_vat_number,
)

# Partite IVA of large Italian companies, as printed on their invoices and websites, and the
# textbook 12345678903 (its office code 890 is in no list, but only the SdI knows who exists).
VALID_PIVA = ["00905811006", "10182640150", "06655971007", "00488410010", "00743110157", "12345678903"]


@pytest.mark.parametrize("value", VALID_PIVA)
def test_valid_partita_iva(value):
    assert check_vat_number(value, "IT") == value
    assert check_vat_number(f"IT {value[:5]} {value[5:]}", "IT") == value


@pytest.mark.parametrize("value", ["00905811007", "12345678901", "1234567890", "123456789012", "ABCDEFGHIJK",
                                   "00000000000", "IT00905811060", ""])
def test_invalid_partita_iva(value):
    with pytest.raises(InvalidInput) as error:
        check_vat_number(value, "IT", field="customer.vat_number")
    assert error.value.field == "customer.vat_number"


def test_every_single_digit_typo_is_caught():
    good = "00905811006"
    for index in range(11):
        for digit in "0123456789":
            typo = good[:index] + digit + good[index + 1:]
            if typo != good:
                with pytest.raises(InvalidInput):
                    check_vat_number(typo, "IT")


def test_eu_vat_numbers_are_checked_by_their_countrys_rules():
    assert check_vat_number("DE136695976", "DE") == "136695976"
    assert check_vat_number("FR 40 303265045", "FR") == "40303265045"
    assert check_vat_number("EL094259216", "GR") == "094259216"
    for wrong, country in (("DE123456789", "DE"), ("FR00303265045", "FR"), ("12#45", "DE")):
        with pytest.raises(InvalidInput) as error:
            check_vat_number(wrong, country, field="customer.vat_number")
        assert error.value.field == "customer.vat_number"


def test_vat_numbers_outside_the_eu_are_checked_loosely():
    assert check_vat_number("GB 123 4567 89", "GB") == "123456789"
    assert check_vat_number("123456789", "US") == "123456789"
    with pytest.raises(InvalidInput):
        check_vat_number("12#45", "US")


@pytest.mark.parametrize("value", ["RSSMRA80A01H501U", "RSSMRA85T10A562S", "MRTMTT25D09F205Z",
                                   "rssmra85m01h501q", "00905811006",
                                   "RSSMRA85T10A56NH"])  # omocodia: 2 -> N moves the check letter S by 20 - 5
def test_valid_codice_fiscale(value):
    assert check_tax_code(value) == value.upper()


@pytest.mark.parametrize("value", ["RSSMRA80A01H501A", "RSSMRA80Z01H501U", "RSSMRA80A01H501", "12345",
                                   "00905811007", "RSSMRA8OA01H501U"])
def test_invalid_codice_fiscale(value):
    with pytest.raises(InvalidInput) as error:
        check_tax_code(value)
    assert error.value.field == "tax_code"


def test_sdi_codes():
    assert check_sdi_code("m5uxcr1") == "M5UXCR1"
    assert check_sdi_code("UFY9MH") == "UFY9MH"  # a public administration office
    for bad in ("12345", "ABCDEFGH", "ABC 12-3", ""):
        with pytest.raises(InvalidInput):
            check_sdi_code(bad)


def test_emails():
    assert check_email(" mario.rossi+shop@example.it ") == "mario.rossi+shop@example.it"
    for bad in ("mario", "mario@", "@example.it", "mario@example", "a b@example.it", "x@y.it<script>"):
        with pytest.raises(InvalidInput):
            check_email(bad)


def test_phones_in_e164():
    assert check_phone("+39 333 123 4567") == "+393331234567"
    assert check_phone("0039 06-1234567") == "+39061234567"
    for bad in ("3331234567", "+0 333", "+39abc1234567", "+3912345678901234"):
        with pytest.raises(InvalidInput):
            check_phone(bad)
