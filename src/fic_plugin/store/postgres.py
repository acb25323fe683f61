"""The PostgreSQL backend (psycopg 3): the plugin's tables in the host's own database.

Chosen by a ``postgresql://`` URL. ``?schema=NAME`` (or libpq's own ``options=-csearch_path%3D…``)
keeps the ``fic_`` tables in a schema of their own. Connections are per thread and per process
(opened on first use, never inherited across ``fork``), in autocommit mode: a write transaction is
an explicit ``BEGIN`` followed by a transaction-scoped advisory lock on the schema, which gives
the same guarantee as SQLite's ``BEGIN IMMEDIATE`` — one writer's read-then-write at a time — so
the leases and intents that make documents and jobs exactly-once work unchanged.

A worker serving many shops in one database (a schema each) closes a shop's connection after each
slice of its work. Opening one costs the server a new backend (about 7 ms of its CPU, 8 ms in all
measured here), more than the job's own SQL, so an idle connection is parked instead and the next
shop of the same database and process takes it, with its own ``search_path`` set (PostgreSQL
re-plans prepared statements when ``search_path`` changes). At most :data:`PARKED_PER_DATABASE` wait
per database and process; nothing else of a session is carried over (advisory locks are
transaction-scoped, no temporary tables, no other settings).
"""

from __future__ import annotations

import os
import threading
import time
import zlib
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql as pgsql
from psycopg.pq import TransactionStatus

from ..errors import SettingsError
from ..i18n import _

CONNECT_TIMEOUT = 10
#: The channel a job written (or made due again) is announced on, with its schema as payload.
JOBS_CHANNEL = "fic_jobs"
#: Idle connections a process keeps for the next shop of the same database (one per worker
#: thread is enough: each thread serves one shop at a time).
PARKED_PER_DATABASE = 16

_parked: dict[tuple[int, str], list[psycopg.Connection]] = {}
_parked_lock = threading.Lock()


def _take_parked(url: str) -> psycopg.Connection | None:
    with _parked_lock:
        idle = _parked.get((os.getpid(), url))
        return idle.pop() if idle else None


def _park(url: str, conn: psycopg.Connection) -> bool:
    """Keep ``conn`` for the next shop of this database; False when it cannot be (then close it)."""
    if conn.closed or conn.info.transaction_status != TransactionStatus.IDLE:
        return False
    with _parked_lock:
        idle = _parked.setdefault((os.getpid(), url), [])
        if len(idle) >= PARKED_PER_DATABASE:
            return False
        idle.append(conn)
        return True


def split_url(url: str) -> tuple[str, str | None]:
    """(libpq URL, schema): ``schema`` is ours, libpq would refuse it."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = next((v for k, v in query if k == "schema"), None) or None
    rest = urlencode([(k, v) for k, v in query if k != "schema"])
    return urlunsplit((parts.scheme, parts.netloc, parts.path, rest, parts.fragment)), schema


class PostgresBackend:
    dialect = "postgresql"
    IntegrityError = psycopg.IntegrityError

    def __init__(self, url: str):
        self.url, self.schema = split_url(url)
        parts = urlsplit(self.url)
        self.host = parts.hostname or "localhost"
        self.port = parts.port or 5432
        self.database = parts.path.lstrip("/") or "postgres"
        self._local = threading.local()
        self._inherited: list[psycopg.Connection] = []
        #: The advisory lock of these tables: the same for every process that names this schema.
        self._lock_key = zlib.crc32(f"fic_plugin:{self.database}:{self.schema or self.url}".encode())

    def describe(self) -> str:
        """Where the tables are, without the password."""
        where = f"postgresql://{self.host}:{self.port}/{self.database}"
        return f"{where} (schema {self.schema})" if self.schema else where

    has_change_marks = False

    def bell_address(self) -> tuple[str, str]:
        """(the database, the schema) a :class:`JobBell` hears this schema's new jobs as."""
        return self.url, self.schema or ""

    def change_mark(self) -> None:
        """No mark of a write that costs less than a query: a dispatcher listens for
        :data:`JOBS_CHANNEL` instead (:class:`JobBell`), or looks again after a while."""
        return None

    def ring_jobs(self, *, connection: Any = None) -> None:
        """Tell the dispatchers listening on this database that this schema has a job due
        (delivered at the commit of the transaction it is written in, or never if it rolls back)."""
        self.execute("SELECT pg_notify(?, ?)", [JOBS_CHANNEL, self.schema or ""], connection=connection)

    def ring_on_insert(self) -> tuple[str, list[str]]:
        """:meth:`ring_jobs` as a clause of the job's INSERT (and its parameters): called for each
        row written, none when the key was already there; one round trip instead of two for every
        job an event writes."""
        return " RETURNING pg_notify(?, ?)", [JOBS_CHANNEL, self.schema or ""]

    @property
    def conn(self) -> psycopg.Connection:
        conn = getattr(self._local, "conn", None)
        # A new connection after fork (never share the parent's socket) or once the server dropped
        # this one (restart, idle timeout: psycopg then reports it closed), so the next statement works.
        if conn is None or conn.closed or self._local.pid != os.getpid():
            if conn is not None and self._local.pid != os.getpid():
                # The parent's: never closed here (libpq would end the parent's session on the
                # shared socket), only kept from the garbage collector.
                self._inherited.append(conn)
            conn = self._connect()
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    def _connect(self) -> psycopg.Connection:
        while (parked := _take_parked(self.url)) is not None:
            try:
                self._set_search_path(parked)
                return parked
            except psycopg.Error:
                parked.close()  # dropped by the server while parked: the next one, or a new one
        try:
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT)
        except psycopg.OperationalError as error:
            reason = (str(error).strip().splitlines() or [""])[0].strip().rstrip(".")
            raise SettingsError(_(
                "Cannot connect to the shop database on PostgreSQL at {host}:{port} (database {database}): "
                "{reason}. Check the database URL and that the server is running.").format(
                    host=self.host, port=self.port, database=self.database, reason=reason)) from None
        self._set_search_path(conn, fresh=True)
        return conn

    def _set_search_path(self, conn: psycopg.Connection, *, fresh: bool = False) -> None:
        if self.schema:
            conn.execute(pgsql.SQL("SET search_path TO {}").format(pgsql.Identifier(self.schema)))
        elif not fresh:
            conn.execute("RESET search_path")  # parked by a shop with a schema of its own

    @property
    def handle(self) -> psycopg.Connection:
        return self.conn

    @property
    def db(self) -> Any:
        raise SettingsError(_("The shop's own tables need a SQLite database; this one is {db}.").format(
            db=self.describe()))

    def table(self, name: str) -> str:
        """``name`` qualified by the schema, for a statement run on the host's own connection."""
        return f'"{self.schema}".{name}' if self.schema else name

    def execute(self, sql: str, params: Any = (), *, connection: Any = None) -> Any:
        # psycopg's placeholder is %s; no statement of the store holds a literal % or ?.
        statement = sql.replace("?", "%s")
        if connection is not None:
            cursor = connection.cursor() if hasattr(connection, "cursor") else connection
            cursor.execute(statement, list(params))
            return cursor
        return self.conn.execute(statement, list(params))

    def in_transaction(self) -> bool:
        return self.conn.info.transaction_status != TransactionStatus.IDLE

    def begin(self) -> None:
        conn = self.conn
        conn.execute("BEGIN")
        try:
            # One writer per schema at a time, as SQLite's BEGIN IMMEDIATE: released at COMMIT/ROLLBACK.
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [self._lock_key])
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def commit(self) -> None:
        self.conn.execute("COMMIT")

    def rollback(self) -> None:
        self.conn.execute("ROLLBACK")

    def ensure_schema(self) -> None:
        """Create the schema named in the URL (for ``fic migrate`` on a fresh database)."""
        if self.schema:
            self.conn.execute(pgsql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(pgsql.Identifier(self.schema)))

    def table_names(self) -> set[str]:
        return {r[0] for r in self.conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()").fetchall()}

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            if self._local.pid != os.getpid():
                self._inherited.append(conn)  # the parent's session: see conn
            elif not _park(self.url, conn):
                conn.close()
            self._local.conn = None


class JobBell:
    """``LISTEN fic_jobs`` on one database, on a connection of its own: the schemas where a job
    was written or made due again (:meth:`PostgresBackend.ring_jobs`) since the last call."""

    #: After a failed connection, the next try waits this long (a dispatcher must not stall a
    #: pass on a server that is down: its shops are looked at without the bell meanwhile).
    RETRY_SECONDS = 30.0

    def __init__(self, url: str):
        self.url = split_url(url)[0]
        self._conn: psycopg.Connection | None = None
        self._retry_at = 0.0

    def heard(self) -> set[str] | None:
        """The schemas rung since the last call (``""``: tables without a schema of their own), or
        None when the listening connection was just (re)opened or cannot be: anything written
        meanwhile went unheard, so every shop of the database must be looked at."""
        try:
            if self._conn is None or self._conn.closed:
                if time.monotonic() < self._retry_at:
                    return None
                self._conn = psycopg.connect(self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT)
                self._conn.execute(pgsql.SQL("LISTEN {}").format(pgsql.Identifier(JOBS_CHANNEL)))
                return None
            return {note.payload for note in self._conn.notifies(timeout=0)}
        except psycopg.Error:
            self.close()
            self._retry_at = time.monotonic() + self.RETRY_SECONDS
            return None

    @property
    def listening(self) -> bool:
        return self._conn is not None and not self._conn.closed

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
