"""suggest_mappings: the shop's VAT rates and payment methods matched to FiC's lookups."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from fic_plugin.mappings import suggest_mappings
from fic_plugin.settings import Settings

VAT_TYPES = [
    {"id": 7, "value": 22, "description": "22% (vecchio)", "is_disabled": True},
    {"id": 0, "value": 22, "description": "", "ei_type": None},
    {"id": 3, "value": "10.00", "description": ""},
    {"id": 54, "value": 5, "description": ""},
    {"id": 4, "value": 4, "description": ""},
    {"id": 21, "value": 0, "description": "N1 Escluso art. 15", "ei_type": "N1"},
    {"id": 6, "value": 0, "description": "N2.2 Non soggetta", "ei_type": "N2.2"},
    {"id": 23, "value": 0, "description": "N3.1 Non imponibile - esportazioni", "ei_type": "N3.1"},
    {"id": 29, "value": 0, "description": "N3.2 Cessioni intracomunitarie", "ei_type": "N3.2",
     "is_disabled": True},
]
METHODS = [
    {"id": 11, "name": "Rimessa diretta", "default_payment_account": None},
    {"id": 12, "name": "BONIFICO BANCARIO", "default_payment_account": None},
    {"id": 13, "name": "Carta di crédito", "default_payment_account": {"id": 2, "name": "Carta"}},
    {"id": 14, "name": "PayPal", "default_payment_account": None},
    {"id": 15, "name": "Contanti", "default_payment_account": None},
]
ACCOUNTS = [
    {"id": 9, "name": "Conto virtuale", "type": "bank", "virtual": True},
    {"id": 1, "name": "Banca Demo", "type": "bank", "virtual": False},
    {"id": 2, "name": "Carta aziendale", "type": "standard", "virtual": False},
    {"id": 3, "name": "Conto PayPal", "type": "standard", "virtual": False},
    {"id": 4, "name": "Cassa negozio", "type": "standard", "virtual": False},
]


def test_rates_and_methods_are_matched():
    result = suggest_mappings(VAT_TYPES, METHODS, ACCOUNTS, ["22", 10, "4", "0", "10"],
                              ["bank_transfer", "card", "paypal", "cash"])
    # Disabled types are skipped (22 -> 0, not 7); plain 0% — a domestic sale — takes the best
    # domestic natura (N2.2), never an export's; exported goods get N3.1 (N3.2 is disabled).
    assert result["vat_mapping"] == {"22": 0, "10": 3, "4": 4, "0": 6, "0:extra-EU:goods": 23}
    assert result["payment_mapping"] == {
        "bank_transfer": {"payment_method_id": 12, "payment_account_id": 1},  # the non-virtual bank
        "card": {"payment_method_id": 13, "payment_account_id": 2},  # the method's own default account
        "paypal": {"payment_method_id": 14, "payment_account_id": 3},
        "cash": {"payment_method_id": 15, "payment_account_id": 4},
    }
    assert result["unmatched"] == []
    # What it suggests is what the settings accept.
    Settings.from_mapping({"vat_mapping": result["vat_mapping"], "payment_mapping": result["payment_mapping"]})


def test_what_has_no_counterpart_is_reported():
    result = suggest_mappings(VAT_TYPES, METHODS, ACCOUNTS, ["22", "7"], ["crypto", "card"])
    assert result["vat_mapping"] == {"22": 0}
    assert result["unmatched"] == ["vat:7", "method:crypto"]
    assert set(result["payment_mapping"]) == {"card"}


def test_zero_rate_nature_can_be_chosen():
    result = suggest_mappings(VAT_TYPES, [], [], ["0"], [], zero_rate_natures=("N2.2",), area_natures={})
    assert result["vat_mapping"] == {"0": 6}


def test_zero_rate_gets_the_nature_of_each_customer_area():
    enabled = [{**v, "is_disabled": False} for v in VAT_TYPES]
    result = suggest_mappings(enabled, [], [], ["0"], [], zero_rate_natures=("N2.2",))
    assert result["vat_mapping"] == {"0": 6, "0:EU-business:goods": 29, "0:extra-EU:goods": 23}


def test_a_domestic_zero_rate_is_never_suggested_as_n3():
    """A domestic 0% sale is N2.2 or N4, never an export (N3.1) nor an intra-EU supply (N3.2)."""
    only_n3 = [{"id": 23, "value": 0, "ei_type": "N3.1"}, {"id": 29, "value": 0, "ei_type": "N3.2"}]
    result = suggest_mappings(only_n3, [], [], ["0"], [])
    assert "0" not in result["vat_mapping"] and result["unmatched"] == ["vat:0"]
    enabled = [{**v, "is_disabled": False} for v in VAT_TYPES]
    assert suggest_mappings(enabled, [], [], ["0"], [])["vat_mapping"]["0"] == 6  # N2.2


def test_nothing_to_match_against():
    result = suggest_mappings([], [], [], ["22"], ["card"])
    assert result == {"vat_mapping": {}, "payment_mapping": {}, "unmatched": ["vat:22", "method:card"]}


def _examples() -> Path:
    env = os.environ.get("FIC_OPENAPI_DIR")
    base = Path(env) if env else Path(__file__).resolve().parents[1] / ".." / "shared" / "fic-openapi"
    examples = base / "examples"
    if not examples.is_dir():
        pytest.skip("FiC's OpenAPI examples are not available here")
    return examples


def test_fic_spec_examples():
    examples = _examples()
    lists = [json.loads((examples / f"list{name}.response.json").read_text())["data"]
             for name in ("VatTypes", "PaymentMethods", "PaymentAccounts")]
    result = suggest_mappings(*lists, ["0"], ["bank_transfer", "card"])
    assert result["vat_mapping"] == {"0": 1010}
    assert result["payment_mapping"] == {
        "bank_transfer": {"payment_method_id": 12346, "payment_account_id": 109},
        "card": {"payment_method_id": 12345, "payment_account_id": 21},  # "Indesa - Carta conto"
    }
