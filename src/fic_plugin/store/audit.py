"""``fic_audit``: what the plugin did with FiC for each order (no tokens, no payloads)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .rows import as_dicts, now_iso

if TYPE_CHECKING:
    from . import Store


class AuditRepository:
    def __init__(self, store: Store):
        self.store = store

    def record(self, action: str, outcome: str, *, order_id: str | None = None, document_id: int | None = None,
               job_id: int | None = None, method: str | None = None, path: str | None = None,
               status: int | None = None, duration_ms: int | None = None) -> None:
        self.store.execute(
            "INSERT INTO fic_audit (at, order_id, document_id, job_id, action, method, path, status,"
            " outcome, duration_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [now_iso(), order_id, document_id, job_id, action, method, path, status, outcome, duration_ms])

    def log(self, order_id: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        """Newest first; each row as a dict (the row mapper of ``fic_audit``)."""
        if order_id is None:
            cursor = self.store.execute("SELECT * FROM fic_audit ORDER BY id DESC LIMIT ?", [limit])
        else:
            cursor = self.store.execute("SELECT * FROM fic_audit WHERE order_id = ? ORDER BY id DESC LIMIT ?",
                                        [str(order_id), limit])
        return as_dicts(cursor)
