"""``fic_sends`` (each email or SMS once per key) and ``fic_send_configs`` (how to send a document)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .rows import as_dict, as_dicts, now_iso

if TYPE_CHECKING:
    from . import Store


class SendRepository:
    def __init__(self, store: Store):
        self.store = store

    # --- fic_sends: the row mapper is a plain dict ---------------------------------------------------

    def claim(self, key: str, *, order_id: str | None, document_id: int | None, channel: str,
              recipients: tuple[str, ...], subject: str | None) -> tuple[dict[str, Any], bool]:
        """The send row for ``key``, written as ``queued`` if new; (row, True when it was new)."""
        with self.store.transaction():
            fresh = self.store.execute(
                "INSERT INTO fic_sends (key, order_id, document_id, channel, recipients, subject, status, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, 'queued', ?) ON CONFLICT(key) DO NOTHING",
                [key, order_id, document_id, channel, ",".join(recipients), subject, now_iso()]).rowcount == 1
            cursor = self.store.execute("SELECT * FROM fic_sends WHERE key = ?", [key])
            return as_dict(cursor, cursor.fetchone()), fresh

    def mark(self, send_id: int, status: str, *, error: str | None = None, channel: str | None = None) -> None:
        self.store.execute("UPDATE fic_sends SET status = ?, error = ?, channel = COALESCE(?, channel) WHERE id = ?",
                           [status, error, channel, send_id])

    def mark_sent(self, send_id: int, *, provider_id: str | None, sent_at: str) -> None:
        self.store.execute("UPDATE fic_sends SET status = 'sent', error = NULL, provider_id = ?, sent_at = ?"
                           " WHERE id = ?", [provider_id, sent_at, send_id])

    def for_document(self, document_id: int) -> list[dict[str, Any]]:
        """The document's send attempts, newest first."""
        return as_dicts(self.store.execute("SELECT * FROM fic_sends WHERE document_id = ? ORDER BY id DESC",
                                           [document_id]))

    def last_fic_email(self, document_id: int) -> dict[str, Any] | None:
        cursor = self.store.execute(
            "SELECT recipients, subject, created_at FROM fic_sends WHERE document_id = ? AND channel = 'fic_email'"
            " AND status = 'sent' ORDER BY id DESC LIMIT 1", [document_id])
        return as_dict(cursor, cursor.fetchone())

    # --- fic_send_configs ----------------------------------------------------------------------------

    def config(self, config_id: int) -> tuple[int, dict[str, Any]] | None:
        row = self.store.execute("SELECT id, config FROM fic_send_configs WHERE id = ?", [config_id]).fetchone()
        return (row[0], json.loads(row[1])) if row else None

    def on_paid_config(self, order_id: str, document_type: str | None = None) -> dict[str, Any] | None:
        """The latest unused "send when paid" plan of the order: id, document_type, config."""
        sql = "SELECT id, document_type, config FROM fic_send_configs WHERE order_id = ? AND on_paid = 1" \
              " AND used_at IS NULL"
        params: list[Any] = [str(order_id)]
        if document_type is not None:
            sql += " AND document_type = ?"
            params.append(document_type)
        row = self.store.execute(sql + " ORDER BY id DESC LIMIT 1", params).fetchone()
        return {"id": row[0], "document_type": row[1], "config": json.loads(row[2])} if row else None

    def replace_on_paid_config(self, order_id: str, document_type: str, config: dict[str, Any]) -> int:
        """One plan per order: the latest replaces any earlier one not yet used; returns its id."""
        with self.store.transaction():
            self.store.execute("DELETE FROM fic_send_configs WHERE order_id = ? AND on_paid = 1 AND used_at IS NULL",
                               [order_id])
            return self.store.execute(
                "INSERT INTO fic_send_configs (order_id, document_type, on_paid, config, created_at)"
                " VALUES (?, ?, 1, ?, ?) RETURNING id", [order_id, document_type, json.dumps(config), now_iso()]
            ).fetchall()[0][0]

    def mark_config_used(self, config_id: int, document_id: int) -> None:
        self.store.execute("UPDATE fic_send_configs SET used_at = ?, document_id = ? WHERE id = ?",
                           [now_iso(), document_id, config_id])

    def sent_not_under(self, document_id: int, key: str) -> list[dict[str, Any]]:
        """The document's sends that left under another key than ``key``, oldest first (``auto:7``
        leaves out ``auto:7:email`` and ``auto:7:sms:…``): what reached the customer some other way."""
        return as_dicts(self.store.execute(
            "SELECT * FROM fic_sends WHERE document_id = ? AND status = 'sent' AND substr(key, 1, ?) != ?"
            " ORDER BY id", [document_id, len(key) + 1, key + ":"]))

    def cancel_on_paid_configs(self, order_id: str) -> int:
        """Drop the order's unused "send when paid" plans; returns how many there were."""
        return self.store.execute("DELETE FROM fic_send_configs WHERE order_id = ? AND on_paid = 1 AND used_at IS NULL",
                                  [str(order_id)]).rowcount
