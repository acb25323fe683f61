"""``fic_documents``: the plugin's record of each FiC document, and its intents."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import attrs

from ..model import Document
from . import clock
from .rows import as_dict, now_iso, to_text

if TYPE_CHECKING:
    from . import Store

#: Columns the Document does not carry: bookkeeping of the store and of the leases.
_STORE_ONLY = ("updated_at", "lease_owner", "lease_until")


def document_from_row(data: dict[str, Any]) -> Document:
    """The one row mapper of ``fic_documents``."""
    data = dict(data)
    for key in ("sent_at", "created_at"):
        if data.get(key):
            data[key] = clock.parse(data[key])
    if data.get("date"):
        data["date"] = date.fromisoformat(data["date"])
    for key in _STORE_ONLY:
        data.pop(key, None)
    return Document(**data)


def _values(document: Document) -> dict[str, Any]:
    # e_invoice is an INTEGER column: PostgreSQL takes no Python bool there.
    return {k: int(v) if isinstance(v, bool) else to_text(v)
            for k, v in attrs.asdict(document, recurse=False).items()}


class DocumentRepository:
    def __init__(self, store: Store):
        self.store = store

    def get(self, document_id: int) -> Document | None:
        cursor = self.store.execute("SELECT * FROM fic_documents WHERE id = ?", [document_id])
        row = as_dict(cursor, cursor.fetchone())
        return document_from_row(row) if row else None

    def list(self, order_id: str | None = None) -> list[Document]:
        if order_id is None:
            cursor = self.store.execute("SELECT * FROM fic_documents ORDER BY id")
        else:
            cursor = self.store.execute("SELECT * FROM fic_documents WHERE order_id = ? ORDER BY id",
                                        [str(order_id)])
        return [document_from_row(as_dict(cursor, row)) for row in cursor.fetchall()]

    def for_order(self, order_id: str, document_type: str, refund_id: str = "") -> Document | None:
        """The order's document of this type (a refund's credit note with ``refund_id``)."""
        cursor = self.store.execute(
            "SELECT * FROM fic_documents WHERE order_id = ? AND type = ? AND refund_id = ?",
            [str(order_id), document_type, refund_id])
        row = as_dict(cursor, cursor.fetchone())
        return document_from_row(row) if row else None

    def by_fic_id(self, fic_id: int) -> Document | None:
        cursor = self.store.execute("SELECT * FROM fic_documents WHERE fic_id = ?", [fic_id])
        row = as_dict(cursor, cursor.fetchone())
        return document_from_row(row) if row else None

    def insert(self, document: Document) -> Document:
        values = _values(document)
        values.pop("id")
        values["created_at"] = values["updated_at"] = now_iso()
        columns = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        cursor = self.store.execute(f"INSERT INTO fic_documents ({columns}) VALUES ({marks}) RETURNING id",
                                    list(values.values()))
        document.id = cursor.fetchall()[0][0]  # all rows: SQLite ends the statement only then
        document.created_at = clock.parse(values["created_at"])
        return document

    def update(self, document: Document) -> None:
        values = _values(document)
        document_id = values.pop("id")
        values.pop("created_at", None)
        values["updated_at"] = now_iso()
        assignments = ", ".join(f"{k} = ?" for k in values)
        self.store.execute(f"UPDATE fic_documents SET {assignments} WHERE id = ?", [*values.values(), document_id])

    def lease(self, document_id: int, owner: str | None, until: str | None) -> None:
        self.store.execute("UPDATE fic_documents SET lease_owner = ?, lease_until = ? WHERE id = ?",
                           [owner, until, document_id])

    def release(self, document_id: int, owner: str) -> None:
        """Free the row's lease if ``owner`` still holds it (another worker may have taken it over)."""
        self.store.execute("UPDATE fic_documents SET lease_owner = NULL, lease_until = NULL"
                           " WHERE id = ? AND lease_owner = ?", [document_id, owner])

    def lease_of(self, document_id: int) -> tuple[str | None, str | None]:
        row = self.store.execute("SELECT lease_owner, lease_until FROM fic_documents WHERE id = ?",
                                 [document_id]).fetchone()
        return (row[0], row[1]) if row else (None, None)

    def delete(self, document_id: int) -> None:
        self.store.execute("DELETE FROM fic_documents WHERE id = ?", [document_id])
