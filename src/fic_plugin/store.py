"""The plugin's tables in the shop's SQLite file.

All tables are prefixed ``fic_`` and created by named, additive migrations (never rename one:
add ``m00N_...``). The database runs in WAL mode so the shop, the panel and the worker can read
while one of them writes. Each thread gets its own connection.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlite_utils
from sqlite_utils.migrations import Migrations

from .model import Document

migrations = Migrations("fic_plugin")


@migrations()
def m001_initial(db: sqlite_utils.Database) -> None:
    db.execute("CREATE TABLE fic_settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    # Tokens and passwords live apart so that no settings dump can show them.
    db.execute("CREATE TABLE fic_secrets (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute("CREATE TABLE fic_meta (key TEXT PRIMARY KEY, value TEXT)")
    db.execute(
        """
        CREATE TABLE fic_documents (
            id INTEGER PRIMARY KEY,
            order_id TEXT NOT NULL,
            type TEXT NOT NULL,
            fic_id INTEGER,
            number INTEGER,
            numeration TEXT NOT NULL DEFAULT '',
            date TEXT,
            status TEXT NOT NULL DEFAULT 'not_paid',
            amount_due TEXT,
            amount_paid TEXT NOT NULL DEFAULT '0',
            currency TEXT NOT NULL DEFAULT 'EUR',
            sent_at TEXT,
            sent_to TEXT,
            sent_channel TEXT,
            delivery_state TEXT,
            converted_from INTEGER,
            converted_from_label TEXT,
            ei_status TEXT,
            last_error TEXT,
            marker TEXT,
            attempted_at TEXT,
            lease_owner TEXT,
            lease_until TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )
        """
    )
    # A row with fic_id NULL is an *intent*: written before FiC is called, it reserves the
    # (order, type) slot; `marker` (FiC's non-printed subject) finds the document in FiC again
    # when a call's outcome is unknown, `attempted_at` says a call may have reached FiC.
    # One live document per order and type: the last line of defence against duplicates.
    db.execute("CREATE UNIQUE INDEX fic_documents_order_type ON fic_documents(order_id, type)")
    db.execute("CREATE UNIQUE INDEX fic_documents_fic_id ON fic_documents(fic_id) WHERE fic_id IS NOT NULL")
    db.execute(
        """
        CREATE TABLE fic_jobs (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            key TEXT NOT NULL,
            order_id TEXT,
            document_id INTEGER,
            args TEXT NOT NULL DEFAULT '{}',
            state TEXT NOT NULL DEFAULT 'pending',
            attempts INTEGER NOT NULL DEFAULT 0,
            run_after TEXT NOT NULL,
            lease_owner TEXT,
            lease_until TEXT,
            outcome_unknown INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            finished_at TEXT
        )
        """
    )
    # The idempotency key: replayed events and double clicks insert nothing new.
    db.execute("CREATE UNIQUE INDEX fic_jobs_key ON fic_jobs(key)")
    db.execute("CREATE INDEX fic_jobs_due ON fic_jobs(state, run_after)")
    db.execute("CREATE INDEX fic_jobs_order ON fic_jobs(order_id)")
    db.execute(
        """
        CREATE TABLE fic_send_configs (
            id INTEGER PRIMARY KEY,
            order_id TEXT NOT NULL,
            document_id INTEGER,
            document_type TEXT NOT NULL DEFAULT 'invoice',
            on_paid INTEGER NOT NULL DEFAULT 0,
            config TEXT NOT NULL,
            used_at TEXT,
            created_at TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX fic_send_configs_order ON fic_send_configs(order_id)")
    db.execute(
        """
        CREATE TABLE fic_sends (
            id INTEGER PRIMARY KEY,
            key TEXT NOT NULL,
            order_id TEXT,
            document_id INTEGER,
            channel TEXT NOT NULL,
            recipients TEXT NOT NULL,
            subject TEXT,
            status TEXT NOT NULL,
            provider_id TEXT,
            error TEXT,
            created_at TEXT NOT NULL,
            sent_at TEXT
        )
        """
    )
    db.execute("CREATE UNIQUE INDEX fic_sends_key ON fic_sends(key)")
    db.execute(
        """
        CREATE TABLE fic_audit (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            order_id TEXT,
            document_id INTEGER,
            job_id INTEGER,
            action TEXT NOT NULL,
            method TEXT,
            path TEXT,
            status INTEGER,
            outcome TEXT NOT NULL,
            duration_ms INTEGER
        )
        """
    )
    db.execute("CREATE INDEX fic_audit_order ON fic_audit(order_id, at)")


def now_iso() -> str:
    return datetime.now().isoformat(timespec="microseconds")


def _to_text(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


class Store:
    """The plugin's view of the shop database: connections, transactions, documents, settings."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        self._local = threading.local()

    @property
    def db(self) -> sqlite_utils.Database:
        db = getattr(self._local, "db", None)
        if db is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout = 30000")
            db = sqlite_utils.Database(conn)
            if self.path != ":memory:":
                db.enable_wal()
            self._local.db = db
        return db

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.conn.close()
            self._local.db = None

    def migrate(self) -> None:
        """Create or upgrade the ``fic_`` tables; running it again changes nothing."""
        migrations.apply(self.db)

    @contextmanager
    def transaction(self) -> Iterator[sqlite_utils.Database]:
        """A write transaction taken at once (``BEGIN IMMEDIATE``), so two workers never interleave.

        Nested use joins the outer transaction.
        """
        db = self.db
        if db.conn.in_transaction:
            yield db
            return
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    # --- key/value tables -------------------------------------------------------------------------

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.db.execute("SELECT value FROM fic_meta WHERE key = ?", [key]).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str | None) -> None:
        self.db.execute(
            "INSERT INTO fic_meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [key, value],
        )

    def get_secret(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM fic_secrets WHERE key = ?", [key]).fetchone()
        return row[0] if row else None

    def set_secret(self, key: str, value: str | None) -> None:
        if value is None:
            self.db.execute("DELETE FROM fic_secrets WHERE key = ?", [key])
            return
        self.db.execute(
            "INSERT INTO fic_secrets (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [key, value],
        )

    def raw_settings(self) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in self.db.execute("SELECT key, value FROM fic_settings")}

    def write_settings(self, values: dict[str, Any]) -> None:
        with self.transaction() as db:
            for key, value in values.items():
                db.execute(
                    "INSERT INTO fic_settings (key, value) VALUES (?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    [key, json.dumps(value)],
                )

    # --- documents ----------------------------------------------------------------------------------

    def document(self, document_id: int) -> Document | None:
        row = self.db.execute("SELECT * FROM fic_documents WHERE id = ?", [document_id]).fetchone()
        return self._document(row) if row else None

    def documents(self, order_id: str | None = None) -> list[Document]:
        if order_id is None:
            cursor = self.db.execute("SELECT * FROM fic_documents ORDER BY id")
        else:
            cursor = self.db.execute(
                "SELECT * FROM fic_documents WHERE order_id = ? ORDER BY id", [str(order_id)]
            )
        return [self._document(row, cursor) for row in cursor.fetchall()]

    def document_for(self, order_id: str, document_type: str) -> Document | None:
        row = self.db.execute(
            "SELECT * FROM fic_documents WHERE order_id = ? AND type = ?", [str(order_id), document_type]
        ).fetchone()
        return self._document(row) if row else None

    def insert_document(self, document: Document) -> Document:
        values = self._document_values(document)
        values.pop("id")
        values["created_at"] = values["updated_at"] = now_iso()
        columns = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        cursor = self.db.execute(
            f"INSERT INTO fic_documents ({columns}) VALUES ({marks})", list(values.values())
        )
        document.id = cursor.lastrowid
        document.created_at = datetime.fromisoformat(values["created_at"])
        return document

    def update_document(self, document: Document) -> None:
        values = self._document_values(document)
        document_id = values.pop("id")
        values.pop("created_at", None)
        values["updated_at"] = now_iso()
        assignments = ", ".join(f"{k} = ?" for k in values)
        self.db.execute(
            f"UPDATE fic_documents SET {assignments} WHERE id = ?", [*values.values(), document_id]
        )

    def lease_document(self, document_id: int, owner: str | None, until: str | None) -> None:
        self.db.execute("UPDATE fic_documents SET lease_owner = ?, lease_until = ? WHERE id = ?",
                        [owner, until, document_id])

    def document_lease(self, document_id: int) -> tuple[str | None, str | None]:
        row = self.db.execute("SELECT lease_owner, lease_until FROM fic_documents WHERE id = ?",
                              [document_id]).fetchone()
        return (row[0], row[1]) if row else (None, None)

    def delete_document(self, document_id: int) -> None:
        self.db.execute("DELETE FROM fic_documents WHERE id = ?", [document_id])

    @staticmethod
    def _document_values(document: Document) -> dict[str, Any]:
        import attrs

        values = {k: _to_text(v) for k, v in attrs.asdict(document, recurse=False).items()}
        return values

    def _document(self, row: tuple, cursor: sqlite3.Cursor | None = None) -> Document:
        cursor = cursor or self.db.execute("SELECT * FROM fic_documents LIMIT 0")
        data = dict(zip([c[0] for c in cursor.description], row, strict=True))
        for key in ("sent_at", "created_at"):
            if data.get(key):
                data[key] = datetime.fromisoformat(data[key])
        if data.get("date"):
            data["date"] = date.fromisoformat(data["date"])
        data.pop("updated_at", None)
        data.pop("lease_owner", None)
        data.pop("lease_until", None)
        return Document(**data)

    # --- audit ----------------------------------------------------------------------------------------

    def audit(
        self,
        action: str,
        outcome: str,
        *,
        order_id: str | None = None,
        document_id: int | None = None,
        job_id: int | None = None,
        method: str | None = None,
        path: str | None = None,
        status: int | None = None,
        duration_ms: int | None = None,
    ) -> None:
        """Record one thing the plugin did with FiC for an order (no tokens, no payloads)."""
        self.db.execute(
            "INSERT INTO fic_audit (at, order_id, document_id, job_id, action, method, path, status,"
            " outcome, duration_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [now_iso(), order_id, document_id, job_id, action, method, path, status, outcome, duration_ms],
        )

    def audit_log(self, order_id: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        if order_id is None:
            cursor = self.db.execute("SELECT * FROM fic_audit ORDER BY id DESC LIMIT ?", [limit])
        else:
            cursor = self.db.execute(
                "SELECT * FROM fic_audit WHERE order_id = ? ORDER BY id DESC LIMIT ?", [str(order_id), limit]
            )
        names = [c[0] for c in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
