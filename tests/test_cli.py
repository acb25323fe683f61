"""The fic command: --help is true, errors are one line and write nothing."""

import json
import os
import subprocess
import sys
from pathlib import Path

from fic_plugin.cli import build_parser, main

COMMANDS = ["demo", "migrate", "sandbox", "connect", "sync", "doc", "status", "retry", "secrets", "settings"]


def run(*args, db=None, stdin=None):
    cmd = [sys.executable, "-m", "fic_plugin.cli", *( ["--db", str(db)] if db else []), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, input=stdin)


def migrated(tmp_path) -> Path:
    """A shop database after the host ran ``fic migrate`` (the CLI never migrates on its own)."""
    db = tmp_path / "shop.db"
    assert main(["--db", str(db), "migrate"]) == 0
    return db


def test_migrate_creates_the_tables_once_and_other_commands_ask_for_it(tmp_path, capsys):
    db = tmp_path / "shop.db"
    assert main(["--db", str(db), "settings", "show"]) == 1
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "fic migrate" in error and str(db) in error
    assert main(["--db", str(db), "--json", "migrate"]) == 0
    from fic_plugin.store.migrations import MIGRATIONS

    assert json.loads(capsys.readouterr().out)["applied"] == [name for name, _function in MIGRATIONS]
    assert main(["--db", str(db), "migrate"]) == 0
    assert "già aggiornato" in capsys.readouterr().out
    assert main(["--db", str(db), "settings", "show"]) == 0


def test_help_lists_every_command():
    result = run("--help")
    assert result.returncode == 0
    for command in COMMANDS:
        assert command in result.stdout


def test_doc_help_lists_every_action():
    text = build_parser()._subparsers._group_actions[0].choices["doc"].format_help()
    for action in ("create", "list", "view", "convert", "delete", "send", "schedule"):
        assert action in text


def test_settings_set_and_show_round_trip(tmp_path, capsys):
    db = migrated(tmp_path)
    assert main(["--db", str(db), "settings", "set", "rivalsa_inps", "yes", "numeration", "B",
                 "vat_mapping.22", "0", "vat_mapping.0:eu", "28", "payment_mapping.card", "5:2"]) == 0
    capsys.readouterr()
    assert main(["--db", str(db), "--json", "settings", "show"]) == 0
    import json

    shown = json.loads(capsys.readouterr().out)
    assert shown["rivalsa_inps"] is True and shown["numeration"] == "/B"
    assert shown["vat_mapping"] == {"22": 0, "0:EU": 28}
    assert shown["payment_mapping"] == {"card": {"payment_method_id": 5, "payment_account_id": 2}}


def test_a_wrong_setting_is_one_line_naming_it_and_writes_nothing(tmp_path):
    db = migrated(tmp_path)
    result = run("settings", "set", "stamp_duty", "perhaps", db=db)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "stamp_duty" in result.stderr
    assert "Traceback" not in result.stderr
    shown = run("--json", "settings", "show", db=db)
    assert '"stamp_duty": false' in shown.stdout


def test_a_secret_set_from_the_cli_is_never_shown(tmp_path):
    db = migrated(tmp_path)
    assert run("settings", "set", "fic_access_token", "-", db=db, stdin="a/very-secret\n").returncode == 0
    shown = run("settings", "show", db=db)
    assert "very-secret" not in shown.stdout and "fic_access_token" in shown.stdout


def test_unknown_order_is_a_clear_error(tmp_path):
    result = run("doc", "create", "999", "--type", "invoice", db=migrated(tmp_path))
    assert result.returncode == 1
    assert "999" in result.stderr and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_unknown_document_is_a_clear_error(tmp_path):
    result = run("doc", "delete", "42", db=migrated(tmp_path))
    assert result.returncode == 1 and "42" in result.stderr and "Traceback" not in result.stderr


def test_retry_needs_a_job_or_all_failed(tmp_path):
    result = run("retry", db=tmp_path / "shop.db")
    assert result.returncode == 1 and "--all-failed" in result.stderr


def test_cli_answers_in_italian_by_default_and_in_english_on_request(tmp_path):
    db = migrated(tmp_path)
    assert run("doc", "list", db=db).stdout.strip() == "Nessun documento."
    saved = run("settings", "set", "numeration", "A", db=db)
    assert saved.returncode == 0 and saved.stdout.strip() == "Salvato: numeration"
    english = subprocess.run([sys.executable, "-m", "fic_plugin.cli", "--db", str(db), "doc", "list"],
                             capture_output=True, text=True, timeout=60, env={**os.environ, "FIC_LANGUAGE": "en"})
    assert english.stdout.strip() == "No documents."


def test_without_a_named_shop_the_cli_says_how_to_name_one_and_calls_nobody(tmp_path, sandbox):
    """No --db, no FIC_SHOP_DB, no installed shop plugin: no stand-in shop, nothing sent to FiC."""
    from shoptest import TEST_TOKEN, fic_documents

    env = {key: value for key, value in os.environ.items() if key != "FIC_SHOP_DB"}
    env.update(FIC_API_URL=sandbox.url, FIC_ACCESS_TOKEN=TEST_TOKEN, FIC_COMPANY_ID="1")
    before = len(fic_documents(sandbox))
    result = subprocess.run([sys.executable, "-m", "fic_plugin.cli", "doc", "create", "1", "--type", "invoice"],
                            capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "--db" in result.stderr and "FIC_SHOP_DB" in result.stderr
    assert not (tmp_path / "demo-data").exists() and len(fic_documents(sandbox)) == before


def test_suggest_mappings_prints_and_saves_only_when_asked(tmp_path, sandbox, monkeypatch, capsys):
    from fic_plugin.cli_shop import cli_context
    from shoptest import SANDBOX_VAT_MAPPING, TEST_TOKEN

    for name, value in (("FIC_API_URL", sandbox.url), ("FIC_ACCESS_TOKEN", TEST_TOKEN), ("FIC_COMPANY_ID", "1")):
        monkeypatch.setenv(name, value)
    db = tmp_path / "shop.db"
    assert main(["--db", str(db), "migrate"]) == 0
    assert main(["--db", str(db), "settings", "set", "vat_mapping.22", "99"]) == 0
    capsys.readouterr()
    assert main(["--db", str(db), "settings", "suggest-mappings"]) == 0
    printed = capsys.readouterr().out
    assert f"vat_mapping.22 {SANDBOX_VAT_MAPPING['22']}" in printed and "--apply" in printed
    assert cli_context(db).settings.vat_mapping == {"22": 99}  # printed, not saved

    assert main(["--db", str(db), "settings", "suggest-mappings", "--apply"]) == 0
    mapping = cli_context(db).settings.vat_mapping
    assert mapping["22"] == 99  # what the owner mapped stays
    assert mapping["10"] == SANDBOX_VAT_MAPPING["10"] and cli_context(db).settings.payment_mapping["bank_transfer"]
