"""Settings, secrets and the plugin's bookkeeping (``fic_meta``): three key/value tables."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..secret_box import SecretBox, box_for

if TYPE_CHECKING:
    from . import Store


class KeyValueRepository:
    """One ``key -> value`` table; ``value`` is text."""

    table = ""

    def __init__(self, store: Store):
        self.store = store

    def get(self, key: str, default: str | None = None) -> str | None:
        row = self.store.execute(f"SELECT value FROM {self.table} WHERE key = ?", [key]).fetchone()
        return row[0] if row else default

    def set(self, key: str, value: str | None) -> None:
        self.store.execute(
            f"INSERT INTO {self.table} (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value", [key, value])

    def delete(self, key: str) -> None:
        self.store.execute(f"DELETE FROM {self.table} WHERE key = ?", [key])

    def items(self) -> list[tuple[str, str]]:
        return [(r[0], r[1]) for r in self.store.execute(f"SELECT key, value FROM {self.table} ORDER BY key")]


class MetaRepository(KeyValueRepository):
    """What the plugin remembers between runs (watermarks, token expiry)."""

    table = "fic_meta"


class SecretRepository(KeyValueRepository):
    """Tokens and passwords, apart from the settings so that no settings dump can show them,
    encrypted with a key that is not in the database (see ``fic_plugin.secret_box``)."""

    table = "fic_secrets"

    def __init__(self, store: Store):
        super().__init__(store)
        self._box: SecretBox | None = None

    @property
    def box(self) -> SecretBox:
        if self._box is None:
            self._box = box_for(self.store.path)
        return self._box

    def get(self, key: str, default: str | None = None) -> str | None:
        stored = super().get(key)
        if stored is None:
            return default
        value = self.box.decrypt(stored, key=key)
        if not SecretBox.is_encrypted(stored):
            super().set(key, self.box.encrypt(value))  # a plaintext row from before: encrypt it now
        return value

    def set(self, key: str, value: str | None) -> None:
        if value is None:
            self.delete(key)
        else:
            super().set(key, self.box.encrypt(value))

    def encrypt_plaintext(self) -> int:
        """Encrypt the rows written before secrets were encrypted; returns how many."""
        plain = [(k, v) for k, v in self.items() if not SecretBox.is_encrypted(v)]
        for key, value in plain:
            super().set(key, self.box.encrypt(value))
        return len(plain)

    def use(self, box: SecretBox) -> None:
        self._box = box

    def reencrypt(self, new: SecretBox) -> int:
        """Re-encrypt every secret with ``new`` (inside the caller's transaction); returns how many."""
        rows = [(k, self.box.decrypt(v, key=k)) for k, v in self.items()]
        for key, value in rows:
            super().set(key, new.encrypt(value))
        self._box = new
        return len(rows)


class SettingsRepository(KeyValueRepository):
    """The declared settings (``fic_plugin.settings``), each value JSON-encoded."""

    table = "fic_settings"

    def load(self) -> dict[str, Any]:
        return {key: json.loads(value) for key, value in self.items()}

    def write(self, values: dict[str, Any]) -> None:
        with self.store.transaction():
            for key, value in values.items():
                self.set(key, json.dumps(value))
