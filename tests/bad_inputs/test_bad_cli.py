"""The ``fic`` command with bad input: one line on stderr that says what to fix, exit code 1
(2 for usage errors), and the shop's database exactly as it was.

The shop is the reference shop's database (so ``--db`` makes the CLI use DemoShop), connected to
the session sandbox through ``FIC_API_URL``/``FIC_ACCESS_TOKEN``/``FIC_COMPANY_ID``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from fic_demo.parse import NewOrder
from fic_demo.shop import DemoShop
from fic_plugin.cli import main
from fic_plugin.cli_shop import cli_context
from fic_plugin.model import Customer, Line
from fic_plugin.settings import update_settings
from shoptest import (
    SANDBOX_PAYMENT_MAPPING,
    SANDBOX_VAT_MAPPING,
    TEST_TOKEN,
    fic_documents,
    sandbox_call,
    sandbox_emails,
)

GOOD = Customer(name="Mario Rossi", first_name="Mario", last_name="Rossi", tax_code="RSSMRA85M01H501Q",
                email="mario.rossi@example.it", address_street="Via Roma 1", address_postal_code="00184",
                address_city="Roma", address_province="RM")
OLIO = Line(name="Olio extravergine di oliva 1 L", qty="2", unit_price="12.50", vat_rate="22")


@pytest.fixture
def shop_db(tmp_path: Path, sandbox, monkeypatch) -> Path:
    """Order 1 is fine, 2 has no codice fiscale, 3 a VAT rate of 7% nobody mapped."""
    sandbox_call(sandbox, "POST", "/__sandbox__/reset")
    sandbox_call(sandbox, "DELETE", "/__sandbox__/faults")
    db = tmp_path / "shop.db"
    shop = DemoShop(db, seed=False)
    shop.create_order(NewOrder(customer=GOOD, lines=(OLIO,), shipping=Decimal("0")))
    shop.create_order(NewOrder(customer=Customer(name="Anna Neri", email="anna@example.it"), lines=(OLIO,)))
    shop.create_order(NewOrder(customer=GOOD, lines=(Line(name="Libro", qty="1", unit_price="10", vat_rate="7"),)))
    context = cli_context(db)
    update_settings(context.store, {"vat_mapping": SANDBOX_VAT_MAPPING, "payment_mapping": SANDBOX_PAYMENT_MAPPING,
                                    "shop_name": "Bottega Rossi"})
    for name, value in (("FIC_API_URL", sandbox.url), ("FIC_ACCESS_TOKEN", TEST_TOKEN), ("FIC_COMPANY_ID", "1"),
                        ("FIC_LANGUAGE", "en"), ("FIC_RATE_HOURLY", "1000000"), ("FIC_RATE_SHORT_TERM", "1000000")):
        monkeypatch.setenv(name, value)
    return db


def snapshot(db: Path) -> dict:
    """Everything of the plugin's in the shop's database (the audit log aside: it records tries)."""
    context = cli_context(db)
    db_ = context.store.db
    tables = ("fic_documents", "fic_jobs", "fic_sends", "fic_settings", "fic_secrets", "fic_send_configs")
    return {t: db_.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in tables}  # noqa: S608


def fic(db: Path, *args: str) -> int:
    return main(["--db", str(db), *args])


CASES = [
    ("order without codice fiscale", ["doc", "create", "2"], "codice fiscale"),
    ("VAT rate nobody mapped", ["doc", "create", "3"], "Configurazione imposte"),
    ("order that does not exist", ["doc", "create", "999"], "does not exist"),
    ("document that does not exist (view)", ["doc", "view", "999"], "does not exist"),
    ("document that does not exist (delete)", ["doc", "delete", "999"], "does not exist"),
    ("document that does not exist (send)", ["doc", "send", "999"], "does not exist"),
    ("job that does not exist", ["retry", "999"], "does not exist"),
    ("VAT id that is not a number", ["settings", "set", "vat_mapping", "22=abc"], "not a whole number"),
    ("VAT rate above 100", ["settings", "set", "vat_mapping.150", "0"], "between 0 and 100"),
    ("payment mapping that is not JSON", ["settings", "set", "payment_mapping", "{card: 2"], "payment_mapping"),
    ("setting that does not exist", ["settings", "set", "colour", "red"], "Unknown setting 'colour'"),
    ("numbering suffix with a space", ["settings", "set", "numeration", "/A B"], "numeration"),
    ("template syntax in the subject", ["settings", "set", "email_subject", "{{ config.items() }}"],
     "not allowed in email_subject"),
    ("unknown shortcode in the body", ["settings", "set", "email_body", "Ciao {nome_cliente}"],
     "Unknown shortcode {nome_cliente}"),
    ("notes longer than 5,000 characters", ["settings", "set", "default_notes", "n" * 5001], "default_notes"),
    ("API URL that is not http", ["settings", "set", "fic_api_url", "ftp://fic.example"], "is not an http(s) URL"),
    ("a key without its value", ["settings", "set", "rivalsa_inps"], "has no value"),
]


@pytest.mark.parametrize(("args", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_commands_say_what_to_fix_in_one_line_and_change_nothing(shop_db, sandbox, capsys, args, expected):
    before = snapshot(shop_db)
    assert fic(shop_db, *args) == 1
    err = capsys.readouterr().err
    assert err.startswith("fic: ") and err.count("\n") == 1 and expected in err
    assert snapshot(shop_db) == before
    assert fic_documents(sandbox, include_deleted=True) == []


def test_a_conversion_fic_forbids_is_refused_and_creates_nothing(shop_db, sandbox, capsys):
    assert fic(shop_db, "--json", "doc", "create", "1") == 0
    before, remote_before = snapshot(shop_db), fic_documents(sandbox)
    assert fic(shop_db, "doc", "convert", "1", "--to", "quote") == 1
    assert "cannot be converted" in capsys.readouterr().err
    assert snapshot(shop_db) == before and fic_documents(sandbox) == remote_before


def test_sending_to_a_malformed_address_sends_nothing(shop_db, sandbox, capsys):
    assert fic(shop_db, "doc", "create", "1") == 0
    before = snapshot(shop_db)
    assert fic(shop_db, "doc", "send", "1", "--to", "mario.rossi@@example") == 1
    assert "not valid" in capsys.readouterr().err
    assert snapshot(shop_db) == before and sandbox_emails(sandbox) == []


def test_an_unknown_document_type_is_a_usage_error(shop_db, capsys):
    with pytest.raises(SystemExit) as caught:
        fic(shop_db, "doc", "create", "1", "--type", "scontrino")
    assert caught.value.code == 2 and "invalid choice: 'scontrino'" in capsys.readouterr().err


def test_the_real_command_exits_1_with_one_line(shop_db):
    before = snapshot(shop_db)
    result = subprocess.run([sys.executable, "-c", "import sys; from fic_plugin.cli import main; sys.exit(main())",
                             "--db", str(shop_db), "settings", "set", "vat_mapping", "22=abc"],
                            capture_output=True, text=True, env={**os.environ, "FIC_LANGUAGE": "en"}, timeout=60)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "vat_mapping" in result.stderr and "Traceback" not in result.stderr
    assert snapshot(shop_db) == before
