"""The example plugins in hooks/ load, register on a fresh manager, and do what they say."""

from __future__ import annotations

import importlib.util
from datetime import date, datetime
from pathlib import Path
from types import ModuleType

import attrs
import pytest

from fic_plugin.manager import get_plugin_manager
from fic_plugin.model import Customer, Line, Order
from fic_plugin.payload import build_document
from fic_plugin.settings import Settings

HOOKS = Path(__file__).resolve().parents[1] / "hooks"
EXAMPLES = sorted(HOOKS.glob("*.py"))


def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"hooks_example_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_example_registers_and_is_documented(path):
    module = load(path)
    # get_plugin_manager runs check_pending: a misspelled hook or argument fails here.
    pm = get_plugin_manager(plugins=[module], load_entrypoints=False)
    assert pm.is_registered(module)
    implemented = [caller.name for caller in pm.get_hookcallers(module)]
    assert implemented, f"{path.name} implements no hook"
    assert f"`{path.name}`" in (HOOKS / "README.md").read_text(encoding="utf-8")


@attrs.frozen
class ShopOrder(Order):
    """A shop whose orders carry the customer's own reference (their PO number)."""

    customer_reference: str | None = None


SETTINGS = Settings.from_mapping({
    "vat_mapping": {"22": 0},
    "payment_mapping": {"bank_transfer": {"payment_method_id": 1, "payment_account_id": 2, "ei_payment_method": "MP05"}},
})
MARKER = "fic-plugin:order-5:invoice:1"


def _payload_after_hooks(order: Order, module: ModuleType) -> dict:
    pm = get_plugin_manager(plugins=[module], load_entrypoints=False)
    payload = build_document(order, "invoice", SETTINGS, today=date(2026, 11, 21), marker=MARKER)
    before = dict(payload)
    pm.hook.fic_document_payload(order=order, document_type="invoice", payload=payload)
    changed = {key for key in payload if payload[key] != before.get(key)}
    assert changed <= {"visible_subject"}, f"the example changed more than it says: {changed}"
    return payload


def _order(**changes) -> ShopOrder:
    values = dict(id="5", number="1005", created_at=datetime(2026, 11, 20, 10, 30),
                  customer=Customer(name="Rossi S.r.l.", type="company", vat_number="00905811006",
                                    sdi_code="M5UXCR1", address_street="Via Torino 12",
                                    address_postal_code="20123", address_city="Milano", address_province="MI"),
                  lines=(Line("Vaso", "1", "35", "22"),))
    values.update(changes)
    return ShopOrder(**values)


def test_visible_subject_adds_date_reference_and_shop_name(monkeypatch):
    monkeypatch.setenv("SHOP_NAME", "Bottega Rossi")
    module = load(HOOKS / "visible_subject.py")
    payload = _payload_after_hooks(_order(customer_reference=" PO-4471 "), module)
    assert payload["visible_subject"] == "Ordine n. 1005 del 20/11/2026 - Vostro rif. PO-4471 - Bottega Rossi"
    assert payload["subject"] == MARKER


def test_visible_subject_without_reference_or_shop_name(monkeypatch):
    monkeypatch.delenv("SHOP_NAME", raising=False)
    module = load(HOOKS / "visible_subject.py")
    payload = _payload_after_hooks(_order(), module)
    assert payload["visible_subject"] == "Ordine n. 1005 del 20/11/2026"
    plain = _payload_after_hooks(Order(**{f.name: getattr(_order(), f.name) for f in attrs.fields(Order)}), module)
    assert plain["visible_subject"] == "Ordine n. 1005 del 20/11/2026"


def test_visible_subject_stays_one_line(monkeypatch):
    monkeypatch.setenv("SHOP_NAME", "B" * 500)
    module = load(HOOKS / "visible_subject.py")
    payload = _payload_after_hooks(_order(), module)
    assert len(payload["visible_subject"]) == module.MAX_LENGTH
    assert payload["visible_subject"].startswith("Ordine n. 1005 del 20/11/2026 - BBB")


def test_receipts_for_private_customers_example():
    module = load(HOOKS / "receipts_for_private_customers.py")
    pm = get_plugin_manager(plugins=[module], load_entrypoints=False)
    person = Order(id="1", number="1", customer=Customer(name="Mario Rossi", type="person"),
                   lines=[Line(name="Libro", qty="1", unit_price="10", vat_rate="4")])
    company = attrs.evolve(person, customer=Customer(name="Rossi S.r.l.", type="company"))
    assert pm.hook.fic_auto_document_type(order=person) == "receipt"
    assert pm.hook.fic_auto_document_type(order=company) is None
