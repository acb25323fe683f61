"""The embedded backend: the plugin's tables in the shop's SQLite file (sqlite-utils).

The database runs in WAL mode so the shop, the panel and the worker can read while one of them
writes. Each thread gets its own connection, opened on first use (safe across ``fork``).
A write transaction is ``BEGIN IMMEDIATE``: the file's write lock is taken at once, so two
workers never interleave their read-then-write steps.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from typing import Any

import sqlite_utils

#: A file written this recently has no trustworthy mark: the kernel keeps file times to its clock
#: tick, so a second write within the same tick could leave the time (and the WAL's size) as it was.
SETTLED_NS = 1_000_000_000


def _create_private(path: str) -> None:
    """A database file the plugin creates is readable by its owner only (it holds the shop's
    documents and encrypted secrets); SQLite gives its -wal and -shm files the same mode."""
    if path == ":memory:" or path.startswith("file:") or os.path.exists(path):
        return
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError:
        pass  # made meanwhile, or a folder that is missing or not ours: SQLite says which


class SqliteBackend:
    dialect = "sqlite"
    IntegrityError = sqlite3.IntegrityError

    def __init__(self, path: str):
        self.path = path
        self._local = threading.local()
        self._inherited: list[sqlite_utils.Database] = []

    def describe(self) -> str:
        return self.path

    def ring_jobs(self, *, connection: Any = None) -> None:
        """Nothing to do: a new job changes the file, which is what a dispatcher watches."""

    def ring_on_insert(self) -> tuple[str, list[str]]:
        """Nothing: see :meth:`ring_jobs`."""
        return "", []

    def bell_address(self) -> None:
        """No bell: see :meth:`change_mark`."""
        return None

    @property
    def has_change_marks(self) -> bool:
        """A file on disk (not in memory, not a ``file:`` URI) has them."""
        return self.path != ":memory:" and not self.path.startswith("file:")

    def change_mark(self) -> tuple[int, ...] | None:
        """The modification time and size of the file and of its WAL, which any commit changes
        (readers change neither); None when the file is missing, in memory, or was written less than
        :data:`SETTLED_NS` ago. Read it before reading the tables: a write after the read changes it."""
        if not self.has_change_marks:
            return None
        mark: list[int] = []
        now = time.time_ns()
        for name, needed in ((self.path, True), (self.path + "-wal", False)):
            try:
                status = os.stat(name)
            except FileNotFoundError:
                if needed:
                    return None
                mark += [0, 0]  # no WAL: no connection open on the file, everything is in the file
                continue
            except OSError:
                return None
            if now - status.st_mtime_ns < SETTLED_NS:
                return None
            mark += [status.st_mtime_ns, status.st_size]
        return tuple(mark)

    @property
    def db(self) -> sqlite_utils.Database:
        db = getattr(self._local, "db", None)
        if db is not None and self._local.pid != os.getpid():
            # Opened before a fork: SQLite connections must not cross one (the child's own is
            # opened now; the parent's is only kept from the garbage collector).
            self._inherited.append(db)
            db = None
        if db is None:
            _create_private(self.path)
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout = 30000")
            db = sqlite_utils.Database(conn)
            if self.path != ":memory:":
                db.enable_wal()
            self._local.db, self._local.pid = db, os.getpid()
        return db

    @property
    def handle(self) -> sqlite_utils.Database:
        return self.db

    def execute(self, sql: str, params: Any = (), *, connection: Any = None) -> Any:
        if connection is None:
            return self.db.conn.execute(sql, list(params))
        if isinstance(connection, sqlite3.Connection | sqlite3.Cursor):
            return connection.execute(sql, list(params))
        # A framework's connection or cursor (Django's) takes %s whatever the database underneath.
        cursor = connection.cursor() if hasattr(connection, "cursor") else connection
        cursor.execute(sql.replace("?", "%s"), list(params))
        return cursor

    def table(self, name: str) -> str:
        return name

    def ensure_schema(self) -> None:
        """Nothing to do: a SQLite file has one schema."""

    def in_transaction(self) -> bool:
        return self.db.conn.in_transaction

    def begin(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.db.execute("COMMIT")

    def rollback(self) -> None:
        self.db.execute("ROLLBACK")

    def table_names(self) -> set[str]:
        return set(self.db.table_names())

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            if self._local.pid == os.getpid():
                db.conn.close()
            self._local.db = None
