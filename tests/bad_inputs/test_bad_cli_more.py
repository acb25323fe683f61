"""Issue 13: what the ``fic`` command is given wrongly is one line on stderr, an exit code other
than 0, and nothing created — no database, no folder, no key file."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from fic_plugin.store import Store


def fic(*args: str, db, user: list[str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "FIC_LANGUAGE": "en"}
    return subprocess.run([*(user or []), sys.executable, "-m", "fic_plugin.cli", "--db", str(db), *args],
                          capture_output=True, text=True, timeout=60, env=env)


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode != 0, result.stdout
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    return result.stderr


@pytest.fixture
def shop_db(tmp_path) -> Path:
    db = tmp_path / "shop.db"
    Store(db).migrate()
    return db


def test_a_document_id_no_database_can_hold(shop_db):
    assert "999999999999999999999999" in one_line_error(fic("doc", "delete", "999999999999999999999999", db=shop_db))
    assert "99999999999999999999" in one_line_error(fic("retry", "99999999999999999999", db=shop_db))


def test_interval_nan_or_zero(shop_db):
    for value in ("nan", "inf", "0", "-3"):
        assert "--interval" in one_line_error(fic("sync", "--interval", value, db=shop_db))


def test_status_of_an_order_nobody_knows_is_an_error(shop_db):
    assert "99999" in one_line_error(fic("status", "99999", db=shop_db))


@pytest.mark.parametrize("port", ["-1", "0", "65536", "99999"])
def test_an_smtp_port_outside_1_65535_is_refused(shop_db, port):
    assert "smtp_port" in one_line_error(fic("settings", "set", "smtp_port", port, db=shop_db))


def test_a_db_that_is_a_folder_or_not_sqlite_creates_nothing(tmp_path):
    folder = tmp_path / "folder"
    folder.mkdir()
    assert "folder" in one_line_error(fic("status", db=folder))
    assert list(folder.iterdir()) == []
    text = tmp_path / "notes.txt"
    text.write_text("not a database\n")
    assert "SQLite" in one_line_error(fic("status", db=text))
    assert text.read_text() == "not a database\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "notes.txt"]


def test_a_db_in_a_missing_folder_is_not_created(tmp_path):
    missing = tmp_path / "typo" / "shop.db"
    assert "typo" in one_line_error(fic("status", db=missing))
    assert not (tmp_path / "typo").exists()


def test_a_read_only_database_is_one_line(shop_db):
    # Root writes through any file mode (CAP_DAC_OVERRIDE): run the command as root with no
    # capability at all. It stays the owner of the clone's folders wherever they sit (a 0700
    # `mktemp -d` too, which another user could not even enter to run the venv's Python).
    user = None
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.fail("setpriv (util-linux) is needed to drop root's capabilities for this test")
        user = ["setpriv", "--inh-caps=-all", "--bounding-set=-all"]
    os.chmod(shop_db, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    assert "read-only" in one_line_error(fic("status", db=shop_db, user=user))


def test_the_cli_never_fills_the_mappings_of_a_demo_database_on_its_own(tmp_path, sandbox, monkeypatch, capsys):
    """A partial save once emptied the mappings and the next `fic` command on the demo's file
    refilled them from FiC without a word; only `fic demo` and `suggest-mappings --apply` may."""
    from fic_demo.shop import DemoShop
    from fic_plugin.cli import main
    from fic_plugin.cli_shop import cli_context
    from shoptest import TEST_TOKEN

    for name, value in (("FIC_API_URL", sandbox.url), ("FIC_ACCESS_TOKEN", TEST_TOKEN), ("FIC_COMPANY_ID", "1")):
        monkeypatch.setenv(name, value)
    db = tmp_path / "shop.db"
    DemoShop(db, seed=True)
    assert main(["--db", str(db), "migrate"]) == 0
    for command in (["settings", "show"], ["doc", "list"], ["status"]):
        assert main(["--db", str(db), *command]) == 0
    settings = cli_context(db).settings
    assert settings.vat_mapping == {} and settings.payment_mapping == {}
