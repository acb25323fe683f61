"""Secrets at rest: tokens and passwords in ``fic_secrets`` are Fernet tokens, never plaintext.

The key is never in the database: ``FIC_SECRET_KEY`` (one key, or several separated by commas:
the first encrypts, all decrypt), else a key file beside the SQLite file (``shop.db.key``;
for PostgreSQL ``FIC_SECRET_KEY_FILE`` or ``~/.config/fic-plugin/secret.key``), created 0600 on
first use. Back the key file up with the database: without it the stored
secrets cannot be read (reconnect and type them again). ``fic secrets rotate-key`` re-encrypts.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from .errors import SettingsError
from .i18n import _

#: Marks a value as encrypted; a row without it is a plaintext secret from before encryption.
PREFIX = "fernet:"
ENV_KEY = "FIC_SECRET_KEY"
ENV_NEW_KEY = "FIC_SECRET_KEY_NEW"
ENV_KEY_FILE = "FIC_SECRET_KEY_FILE"

#: An in-memory database lives and dies with its process: so does its key.
_MEMORY_KEY = Fernet.generate_key()


def key_file_for(db_path: str) -> Path | None:
    """Where the key of a SQLite file lives, or None (in-memory, PostgreSQL)."""
    if db_path == ":memory:" or "://" in db_path or db_path.startswith("file:"):
        return None
    return Path(db_path).with_name(Path(db_path).name + ".key")


def server_key_file() -> Path:
    """The key of a database on a server (PostgreSQL), which has no folder of its own:
    ``FIC_SECRET_KEY_FILE``, else ``~/.config/fic-plugin/secret.key``."""
    if os.environ.get(ENV_KEY_FILE, "").strip():
        return Path(os.environ[ENV_KEY_FILE])
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    folder = base / "fic-plugin"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder / "secret.key"


def _parse(text: str) -> list[bytes]:
    return [k.strip().encode() for k in text.replace(",", "\n").splitlines() if k.strip()]


def write_key_file(path: Path, keys: list[bytes]) -> None:
    """Write keys (newest first) so that only the owner can read them, replacing atomically."""
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(b"\n".join(keys) + b"\n")
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)


class SecretBox:
    """Encrypts and decrypts secret values for one database."""

    def __init__(self, keys: list[bytes], source: str):
        try:
            self.fernet = MultiFernet([Fernet(k) for k in keys])
        except (ValueError, TypeError):
            raise SettingsError(_("The secret key in {source} is not a valid Fernet key (32 url-safe base64 bytes): "
                                  "restore the one backed up with the database.").format(source=source),
                                field="secret_key") from None
        self.keys = keys
        self.source = source

    def encrypt(self, value: str) -> str:
        return PREFIX + self.fernet.encrypt(value.encode()).decode()

    def decrypt(self, stored: str, *, key: str) -> str:
        if not stored.startswith(PREFIX):
            return stored  # written before encryption: the store re-encrypts it
        try:
            return self.fernet.decrypt(stored[len(PREFIX):].encode()).decode()
        except InvalidToken:
            raise SettingsError(_(
                "The stored {key} cannot be decrypted with the key in {source}: restore the key file backed up "
                "with the database (or set FIC_SECRET_KEY), or set the secret again.").format(
                    key=key, source=self.source), field=key) from None

    @staticmethod
    def is_encrypted(stored: str) -> bool:
        return stored.startswith(PREFIX)


def box_for(db_path: str) -> SecretBox:
    """The box of a database: ``FIC_SECRET_KEY``, else its key file (created now if missing)."""
    if os.environ.get(ENV_KEY, "").strip():
        return SecretBox(_parse(os.environ[ENV_KEY]), ENV_KEY)
    if db_path == ":memory:":
        return SecretBox([_MEMORY_KEY], "memory")
    path = key_file_for(db_path) or server_key_file()
    if not path.exists():
        # Written whole beside it, then linked in: a second process never reads a half-made file,
        # and if it made one first, its key is the one kept.
        temporary = path.with_name(f"{path.name}.{os.getpid()}.new")
        write_key_file(temporary, [Fernet.generate_key()])
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    keys = _parse(path.read_text())
    if not keys:
        raise SettingsError(_("The secret key file {path} is empty: restore the one backed up with the "
                              "database.").format(path=path), field="secret_key")
    return SecretBox(keys, str(path))


def rotate_key(store) -> str:
    """Re-encrypt every stored secret with a new key; returns what to tell the owner.

    Key file: the new key is written first beside the old one (both decrypt), the rows are
    re-encrypted in one transaction, then the old key is dropped, so a crash at any point leaves
    every secret readable. ``FIC_SECRET_KEY``: the new key comes from ``FIC_SECRET_KEY_NEW``.
    """
    old = store.secrets.box
    if old.source == ENV_KEY:
        fresh = _parse(os.environ.get(ENV_NEW_KEY, ""))
        if not fresh:
            raise SettingsError(_("The key comes from FIC_SECRET_KEY: put the new key in FIC_SECRET_KEY_NEW "
                                  "(make one with: python -c 'from cryptography.fernet import Fernet; "
                                  "print(Fernet.generate_key().decode())'), run this again, then set "
                                  "FIC_SECRET_KEY to it."), field="secret_key")
        new = SecretBox([fresh[0], *old.keys], ENV_KEY)
        with store.transaction():
            count = store.secrets.reencrypt(new)
        return _("{count} secrets re-encrypted with FIC_SECRET_KEY_NEW: set FIC_SECRET_KEY to its value now "
                 "(the old key no longer reads them once you do).").format(count=count)
    if store.path == ":memory:":
        raise SettingsError(_("This database has no key file: set FIC_SECRET_KEY."), field="secret_key")
    path = key_file_for(store.path) or server_key_file()
    key = Fernet.generate_key()
    write_key_file(path, [key, *old.keys])
    new = SecretBox([key, *old.keys], str(path))
    with store.transaction():
        count = store.secrets.reencrypt(new)
    write_key_file(path, [key])
    store.secrets.use(SecretBox([key], str(path)))
    return _("{count} secrets re-encrypted with a new key in {path}: back that file up with the "
             "database.").format(count=count, path=path)
