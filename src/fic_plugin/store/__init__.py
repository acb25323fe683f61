"""The plugin's tables (all prefixed ``fic_``): the only room of the plugin that speaks SQL.

:class:`Store` owns the connection and the transactions; one repository per table family, each
with its one row mapper: documents, jobs, sends (and send configs), audit, settings, secrets,
meta. Migrations are in :mod:`.migrations`. A new table: a module here with its repository, an
attribute on :class:`Store`, and a migration ``m00N_...``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import SettingsError
from ..i18n import _
from ..model import Document
from . import migrations as _migrations
from .audit import AuditRepository
from .documents import DocumentRepository
from .jobs import Job, JobRepository
from .keyvalue import MetaRepository, SecretRepository, SettingsRepository
from .pacing import PacingRepository
from .rows import now_iso
from .sends import SendRepository
from .sqlite import SqliteBackend
from .workers import WorkerRepository

__all__ = ["Job", "Store", "change_mark", "has_change_marks", "job_bell", "job_bell_address", "now_iso"]


def backend_for(url: str) -> Any:
    """``sqlite:///path`` or a plain path: SQLite; ``postgresql://…``: PostgreSQL."""
    if url.startswith(("postgresql://", "postgres://")):
        from .postgres import PostgresBackend

        return PostgresBackend(url)
    if url.startswith("sqlite:///"):
        return SqliteBackend(url.removeprefix("sqlite:///") or ":memory:")
    if url.startswith("sqlite://"):
        raise SettingsError(_("A SQLite database URL is sqlite:///PATH (three slashes), not {url}.").format(url=url))
    return SqliteBackend(url)


def change_mark(url: str) -> tuple[int, ...] | None:
    """A mark of the database that differs once anything was committed in it after it was read
    (SQLite: its file's and WAL's times and sizes, no connection opened), or None when there is no
    such mark (PostgreSQL; a file just written): what lets a dispatcher leave an idle shop closed."""
    return backend_for(str(url)).change_mark()


def job_bell_address(url: str) -> tuple[str, str] | None:
    """(the database, the schema) a :class:`~.postgres.JobBell` of that database hears this
    store's new jobs as; None for SQLite (its file's change mark says it instead)."""
    return backend_for(str(url)).bell_address()


def job_bell(database: str) -> Any:
    """A :class:`~.postgres.JobBell` listening on ``database`` (a ``postgresql://`` URL)."""
    from .postgres import JobBell

    return JobBell(database)


def has_change_marks(url: str) -> bool:
    """Whether :func:`change_mark` can ever give a mark for this database (a SQLite file)."""
    return backend_for(str(url)).has_change_marks


class Store:
    """The plugin's view of the shop database: connection, transactions and repositories.

    ``url``: a SQLite file (``sqlite:///path`` or a plain path) or ``postgresql://…`` (optionally
    ``?schema=NAME``). Nothing is opened until the first statement.
    """

    def __init__(self, url: str | Path):
        self.url = str(url)
        self.backend = backend_for(self.url)
        #: The SQLite file, or the description of the PostgreSQL database (no password).
        self.path = getattr(self.backend, "path", None) or self.backend.describe()
        self.dialect = self.backend.dialect
        self.IntegrityError = self.backend.IntegrityError
        self.document_rows = DocumentRepository(self)
        self.jobs = JobRepository(self)
        self.sends = SendRepository(self)
        self.audit_rows = AuditRepository(self)
        self.settings_rows = SettingsRepository(self)
        self.secrets = SecretRepository(self)
        self.meta = MetaRepository(self)
        self.workers = WorkerRepository(self)
        self.pacing = PacingRepository(self)

    # --- connection, transactions, schema ----------------------------------------------------------------

    @property
    def db(self) -> Any:
        """The SQLite file through sqlite-utils, for the shop's own tables (the demo shop)."""
        return self.backend.db

    def describe(self) -> str:
        return self.backend.describe()

    def execute(self, sql: str, params: Any = (), *, connection: Any = None) -> Any:
        """Run one statement (``?`` placeholders) on this thread's connection, or ``connection``."""
        return self.backend.execute(sql, params, connection=connection)

    def table_names(self) -> set[str]:
        return self.backend.table_names()

    def close(self) -> None:
        self.backend.close()

    def table(self, name: str) -> str:
        """A table's name qualified for a statement run on the host's own connection."""
        return self.backend.table(name)

    def migrate(self) -> list[str]:
        """Create or upgrade the ``fic_`` tables; running it again changes nothing."""
        self.backend.ensure_schema()
        return _migrations.migrate(self)

    def pending_migrations(self) -> list[str]:
        return _migrations.pending(self)

    def check_schema(self) -> None:
        """Raise a clear SettingsError ("run fic migrate") when the tables are behind the code."""
        _migrations.check(self)

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """A write transaction that takes the write lock at once, so two workers never interleave
        their read-then-write steps (``BEGIN IMMEDIATE`` on SQLite). Nested use joins the outer one.

        Yields the backend's handle (the sqlite-utils Database on SQLite) for a shop that keeps its
        own tables in the same file, as the demo shop does.
        """
        if self.backend.in_transaction():
            yield self.backend.handle
            return
        self.backend.begin()
        try:
            yield self.backend.handle
        except BaseException:
            self.backend.rollback()
            raise
        self.backend.commit()

    # --- the outbox ----------------------------------------------------------------------------------

    def enqueue(self, kind: str, key: str, *, order_id: str | None = None, document_id: int | None = None,
                args: dict[str, Any] | None = None, connection: Any = None, run_after: str | None = None) -> bool:
        """Write a job unless its key exists; True when new. See :meth:`JobRepository.insert`."""
        return self.jobs.insert(kind, key, order_id=order_id, document_id=document_id, args=args,
                                connection=connection, run_after=run_after)

    # --- key/value tables (kept as methods: settings, CLI and web read them this way) ---------------

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        return self.meta.get(key, default)

    def set_meta(self, key: str, value: str | None) -> None:
        self.meta.set(key, value)

    def get_secret(self, key: str) -> str | None:
        return self.secrets.get(key)

    def set_secret(self, key: str, value: str | None) -> None:
        self.secrets.set(key, value)

    def raw_settings(self) -> dict[str, Any]:
        return self.settings_rows.load()

    def write_settings(self, values: dict[str, Any]) -> None:
        self.settings_rows.write(values)

    # --- documents -----------------------------------------------------------------------------------

    def document(self, document_id: int) -> Document | None:
        return self.document_rows.get(document_id)

    def documents(self, order_id: str | None = None) -> list[Document]:
        return self.document_rows.list(order_id)

    def document_for(self, order_id: str, document_type: str, refund_id: str = "") -> Document | None:
        return self.document_rows.for_order(order_id, document_type, refund_id)

    def document_by_fic_id(self, fic_id: int) -> Document | None:
        return self.document_rows.by_fic_id(fic_id)

    def insert_document(self, document: Document) -> Document:
        return self.document_rows.insert(document)

    def update_document(self, document: Document) -> None:
        self.document_rows.update(document)

    def lease_document(self, document_id: int, owner: str | None, until: str | None) -> None:
        self.document_rows.lease(document_id, owner, until)

    def release_document_lease(self, document_id: int, owner: str) -> None:
        self.document_rows.release(document_id, owner)

    def document_lease(self, document_id: int) -> tuple[str | None, str | None]:
        return self.document_rows.lease_of(document_id)

    def delete_document(self, document_id: int) -> None:
        self.document_rows.delete(document_id)

    # --- audit ---------------------------------------------------------------------------------------

    def audit(self, action: str, outcome: str, **where: Any) -> None:
        """Record one thing the plugin did with FiC for an order (no tokens, no payloads)."""
        self.audit_rows.record(action, outcome, **where)

    def audit_log(self, order_id: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        return self.audit_rows.log(order_id, limit)
