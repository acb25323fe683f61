"""Issue 13: secrets stay secret — encrypted at rest, files private, never on the command line,
never sent to a place the owner did not give them for."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys

import pytest

from fic_plugin.errors import SettingsError
from fic_plugin.settings import update_settings
from fic_plugin.store import Store

SECRET = "a/very-secret-token-9c1f"


def fic(*args: str, db, stdin: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fic_plugin.cli", "--db", str(db), *args], input=stdin,
                          capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})})


def raw_secrets(db) -> dict[str, str]:
    with sqlite3.connect(db) as conn:
        return dict(conn.execute("SELECT key, value FROM fic_secrets").fetchall())


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.delenv("FIC_SECRET_KEY", raising=False)
    store = Store(tmp_path / "shop.db")
    store.migrate()
    return store


def test_a_stored_secret_is_encrypted_with_a_key_kept_0600_beside_the_database(store, tmp_path):
    store.set_secret("smtp_password", SECRET)
    assert store.get_secret("smtp_password") == SECRET
    raw = raw_secrets(tmp_path / "shop.db")["smtp_password"]
    assert SECRET not in raw and raw.startswith("fernet:")
    assert SECRET.encode() not in (tmp_path / "shop.db").read_bytes()
    key_file = tmp_path / "shop.db.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "shop.db").stat().st_mode) == 0o600  # the plugin made it: owner only


def test_fic_secret_key_from_the_environment_is_used_and_no_key_file_is_made(tmp_path, monkeypatch):
    from cryptography.fernet import Fernet

    monkeypatch.setenv("FIC_SECRET_KEY", Fernet.generate_key().decode())
    store = Store(tmp_path / "shop.db")
    store.migrate()
    store.set_secret("fic_access_token", SECRET)
    assert Store(tmp_path / "shop.db").get_secret("fic_access_token") == SECRET
    assert not (tmp_path / "shop.db.key").exists()
    monkeypatch.setenv("FIC_SECRET_KEY", Fernet.generate_key().decode())  # the wrong key: a clear error
    with pytest.raises(SettingsError, match="fic_access_token"):
        Store(tmp_path / "shop.db").get_secret("fic_access_token")


def test_plaintext_secrets_of_an_older_database_are_encrypted_by_the_migration(store, tmp_path):
    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO fic_secrets (key, value) VALUES ('twilio_auth_token', ?)", [SECRET])
        conn.execute("DELETE FROM fic_migrations WHERE name = 'm007_encrypt_secrets'")
    Store(db).migrate()
    assert raw_secrets(db)["twilio_auth_token"].startswith("fernet:")
    assert Store(db).get_secret("twilio_auth_token") == SECRET


def test_rotate_key_re_encrypts_every_secret_and_the_old_key_reads_nothing(store, tmp_path):
    from cryptography.fernet import Fernet, InvalidToken

    db = tmp_path / "shop.db"
    store.set_secret("smtp_password", SECRET)
    old_key = (tmp_path / "shop.db.key").read_bytes().strip()
    result = fic("secrets", "rotate-key", db=db)
    assert result.returncode == 0, result.stderr
    new_key = (tmp_path / "shop.db.key").read_bytes().strip()
    assert new_key != old_key and b"\n" not in new_key
    assert Store(db).get_secret("smtp_password") == SECRET
    with pytest.raises(InvalidToken):
        Fernet(old_key).decrypt(raw_secrets(db)["smtp_password"].removeprefix("fernet:").encode())


@pytest.mark.parametrize("args", [("settings", "set", "smtp_password", SECRET),
                                  ("connect", "--token", SECRET, "--company", "1"),
                                  ("connect", "--client-id", "app", "--client-secret", SECRET)])
def test_a_secret_as_a_command_line_argument_is_refused_with_how_to_give_it(args, tmp_path):
    result = fic(*args, db=tmp_path / "shop.db")
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "stdin" in result.stderr and SECRET not in result.stderr
    assert not (tmp_path / "shop.db").exists() or SECRET not in str(raw_secrets(tmp_path / "shop.db"))


def test_a_secret_setting_is_read_from_stdin_with_a_dash(tmp_path):
    db = tmp_path / "shop.db"
    Store(db).migrate()
    result = fic("settings", "set", "smtp_password", "-", db=db, stdin=SECRET + "\n")
    assert result.returncode == 0, result.stderr
    assert Store(db).get_secret("smtp_password") == SECRET


def test_connect_token_dash_reads_the_token_from_stdin_not_the_dash(tmp_path, sandbox):
    db = tmp_path / "shop.db"
    Store(db).migrate()
    result = fic("connect", "--token", "-", "--company", "1", db=db, stdin=SECRET + "\n",
                 env={"FIC_API_URL": sandbox.url})
    assert result.returncode == 0, result.stderr
    assert Store(db).get_secret("fic_access_token") == SECRET


def test_moving_where_a_secret_is_sent_forgets_it(store):
    update_settings(store, {"fic_api_url": "https://api-v2.fattureincloud.it", "fic_access_token": SECRET,
                            "smtp_host": "smtp.example.it", "smtp_password": SECRET})
    update_settings(store, {"fic_api_url": "http://127.0.0.1:18999"})
    assert store.get_secret("fic_access_token") is None
    update_settings(store, {"smtp_host": "smtp.example.it"})  # the same place: kept
    assert store.get_secret("smtp_password") == SECRET
    update_settings(store, {"smtp_host": "mail.attacker.example"})
    assert store.get_secret("smtp_password") is None
    update_settings(store, {"smtp_host": "smtp.example.it", "smtp_password": SECRET})  # given again: kept
    assert store.get_secret("smtp_password") == SECRET


def test_the_fic_api_url_is_https_except_to_this_machine(store):
    with pytest.raises(SettingsError, match="https"):
        update_settings(store, {"fic_api_url": "http://fic.attacker.example"})
    for url in ("http://127.0.0.1:8765", "http://localhost:8765", "http://[::1]:8765", "https://api.example.it"):
        update_settings(store, {"fic_api_url": url})
