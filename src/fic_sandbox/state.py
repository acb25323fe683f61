"""The sandbox's memory: documents, the email log and OAuth grants in one SQLite database.

One connection guarded by one lock: the server is threaded and many workers hit it at once, and
numbering must never hand out the same number twice. The lock is re-entrant so a handler can hold
it across a read-check-write (``with state.lock:``).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from . import jsonio

FIRST_DOCUMENT_ID = 10001  # far from 1 so an id is never mistaken for a document number

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS documents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    type TEXT NOT NULL, numeration TEXT NOT NULL, year INTEGER NOT NULL, number INTEGER NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0, locked INTEGER NOT NULL DEFAULT 0, ei_status TEXT,
    create_from TEXT, body TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    deleted_at TEXT
);
CREATE INDEX IF NOT EXISTS documents_numbering ON documents (type, numeration, year, number);
CREATE TABLE IF NOT EXISTS emails (
    id INTEGER PRIMARY KEY AUTOINCREMENT, document_id INTEGER NOT NULL, status TEXT NOT NULL,
    from_email TEXT, to_email TEXT NOT NULL, copy_to TEXT, subject TEXT, content TEXT,
    attach_pdf INTEGER, include TEXT, at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS oauth_grants (
    token TEXT PRIMARY KEY, kind TEXT NOT NULL, client_id TEXT NOT NULL, redirect_uri TEXT,
    scope TEXT, expires REAL NOT NULL, used INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS sdi_sends (
    id INTEGER PRIMARY KEY AUTOINCREMENT, document_id INTEGER NOT NULL, at TEXT NOT NULL,
    status TEXT NOT NULL, outcome TEXT NOT NULL, processing_at REAL NOT NULL, final_at REAL NOT NULL,
    reason TEXT, code TEXT, solution TEXT, changed_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS subscriptions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, sink TEXT NOT NULL, types TEXT NOT NULL, verified INTEGER NOT NULL,
    verification_method TEXT NOT NULL, mapping TEXT NOT NULL, created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO sqlite_sequence (name, seq)
    SELECT 'documents', {FIRST_DOCUMENT_ID - 1} WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'documents');
"""


class NumberTaken(Exception):
    """An explicit number already belongs to a live document of the same type, numeration, year."""


def now() -> str:
    return datetime.now().strftime("%Y-%m-%d %H:%M:%S")


class State:
    """Documents (live and binned), emails and OAuth grants; every method is thread-safe."""

    def __init__(self, path: str = ":memory:"):
        self.path = path
        self.lock = threading.RLock()
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        with self.lock:
            self.db.executescript(SCHEMA)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All-or-nothing under the lock (SQLite would serialise writers anyway; this also covers reads)."""
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    # -- documents ---------------------------------------------------------------------------

    def next_number(self, type: str, numeration: str, year: int) -> int:
        with self.lock:
            row = self.db.execute(
                "SELECT MAX(number) FROM documents WHERE type=? AND numeration=? AND year=? AND deleted=0",
                (type, numeration, year)).fetchone()
        return (row[0] or 0) + 1

    def check_number(self, type: str, numeration: str, year: int, number: int, exclude: int | None) -> None:
        row = self.db.execute(
            "SELECT id FROM documents WHERE type=? AND numeration=? AND year=? AND number=? AND deleted=0"
            " AND id IS NOT ?", (type, numeration, year, number, exclude)).fetchone()
        if row:
            raise NumberTaken(row["id"])

    def insert_document(self, body: dict, create_from: list[str] | None = None) -> dict:
        """Store a new document; gives it the next number when ``body["number"]`` is None."""
        with self.transaction() as db:
            type_, numeration, year = body["type"], body["numeration"] or "", body["year"]
            if body.get("number") is None:
                body["number"] = self.next_number(type_, numeration, year)
            else:
                self.check_number(type_, numeration, year, body["number"], None)
            stamp = now()
            cursor = db.execute(
                "INSERT INTO documents (type, numeration, year, number, create_from, body, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (type_, numeration, year, body["number"], jsonio.dumps(create_from) if create_from else None,
                 jsonio.dumps(body), stamp, stamp))
            return self.get_document(cursor.lastrowid, include_deleted=True)

    def update_document(self, document_id: int, body: dict) -> dict:
        with self.transaction() as db:
            self.check_number(body["type"], body["numeration"] or "", body["year"], body["number"], document_id)
            db.execute("UPDATE documents SET type=?, numeration=?, year=?, number=?, body=?, updated_at=? WHERE id=?",
                       (body["type"], body["numeration"] or "", body["year"], body["number"], jsonio.dumps(body),
                        now(), document_id))
            return self.get_document(document_id, include_deleted=True)

    def get_document(self, document_id: int, include_deleted: bool = False) -> dict | None:
        with self.lock:
            row = self.db.execute("SELECT * FROM documents WHERE id=?", (document_id,)).fetchone()
        if row is None or (row["deleted"] and not include_deleted):
            return None
        return self._row(row)

    def documents(self, type: str | None = None, deleted: bool | None = False) -> list[dict]:
        sql, args = "SELECT * FROM documents WHERE 1=1", []
        if type is not None:
            sql += " AND type=?"
            args.append(type)
        if deleted is not None:
            sql += " AND deleted=?"
            args.append(int(deleted))
        with self.lock:
            rows = self.db.execute(sql + " ORDER BY id", args).fetchall()
        return [self._row(row) for row in rows]

    def set_deleted(self, document_id: int, deleted: bool) -> None:
        with self.transaction() as db:
            db.execute("UPDATE documents SET deleted=?, deleted_at=? WHERE id=?",
                       (int(deleted), now() if deleted else None, document_id))

    def purge(self, document_id: int) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM documents WHERE id=?", (document_id,))

    def set_lock(self, document_id: int, locked: bool | None, ei_status: str | None, set_status: bool) -> None:
        with self.transaction() as db:
            if locked is not None:
                db.execute("UPDATE documents SET locked=? WHERE id=?", (int(locked), document_id))
            if set_status:
                db.execute("UPDATE documents SET ei_status=? WHERE id=?", (ei_status, document_id))

    def numerations(self, type: str) -> dict[str, dict[str, int]]:
        """FiC's ``numerations``: {"<year>": {"<numeration>": last number}} for live documents."""
        with self.lock:
            rows = self.db.execute("SELECT year, numeration, MAX(number) AS last FROM documents"
                                   " WHERE type=? AND deleted=0 GROUP BY year, numeration", (type,)).fetchall()
        result: dict[str, dict[str, int]] = {}
        for row in rows:
            result.setdefault(str(row["year"]), {})[row["numeration"]] = row["last"]
        return result

    @staticmethod
    def _row(row: sqlite3.Row) -> dict:
        return {"id": row["id"], "deleted": bool(row["deleted"]), "locked": bool(row["locked"]),
                "ei_status": row["ei_status"],
                "create_from": jsonio.loads(row["create_from"]) if row["create_from"] else None,
                "body": jsonio.loads(row["body"]), "created_at": row["created_at"],
                "updated_at": row["updated_at"], "deleted_at": row["deleted_at"]}

    # -- emails ------------------------------------------------------------------------------

    def add_email(self, document_id: int, from_email: str, to_email: str, copy_to: str | None, subject: str,
                  content: str, attach_pdf: bool, include: dict | None) -> dict:
        with self.transaction() as db:
            cursor = db.execute(
                "INSERT INTO emails (document_id, status, from_email, to_email, copy_to, subject, content,"
                " attach_pdf, include, at) VALUES (?, 'sent', ?, ?, ?, ?, ?, ?, ?, ?)",
                (document_id, from_email, to_email, copy_to, subject, content, int(attach_pdf),
                 jsonio.dumps(include or {}), now()))
            return dict(db.execute("SELECT * FROM emails WHERE id=?", (cursor.lastrowid,)).fetchone())

    def emails(self) -> list[dict]:
        with self.lock:
            return [dict(row) for row in self.db.execute("SELECT * FROM emails ORDER BY id").fetchall()]

    # -- key-value (the webhook signing key) ------------------------------------------------

    def meta(self, key: str) -> str | None:
        with self.lock:
            row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row["value"] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # -- OAuth -------------------------------------------------------------------------------

    def add_grant(self, token: str, kind: str, client_id: str, expires: float, redirect_uri: str | None = None,
                  scope: str | None = None) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO oauth_grants (token, kind, client_id, redirect_uri, scope, expires)"
                       " VALUES (?, ?, ?, ?, ?, ?)", (token, kind, client_id, redirect_uri, scope, expires))

    def take_grant(self, token: str, kind: str, single_use: bool) -> dict | None:
        """The grant, marked used when ``single_use`` (an authorization code works once)."""
        with self.transaction() as db:
            row = db.execute("SELECT * FROM oauth_grants WHERE token=? AND kind=? AND used=0",
                             (token, kind)).fetchone()
            if row is not None and single_use:
                db.execute("UPDATE oauth_grants SET used=1 WHERE token=?", (token,))
        return dict(row) if row else None

    def reset(self) -> None:
        """Forget documents, emails, SdI sends and webhook subscriptions; OAuth grants and the webhook
        signing key survive so a connected shop stays connected and keeps trusting us."""
        with self.transaction() as db:
            db.execute("DELETE FROM documents")
            db.execute("DELETE FROM emails")
            db.execute("DELETE FROM sdi_sends")
            db.execute("DELETE FROM subscriptions")
            db.execute("UPDATE sqlite_sequence SET seq=? WHERE name='documents'", (FIRST_DOCUMENT_ID - 1,))
            db.execute("UPDATE sqlite_sequence SET seq=0 WHERE name='emails'")
