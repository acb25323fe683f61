"""``fic_jobs``: the durable outbox the shop's events write and the worker drains."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs

from . import clock
from .rows import as_dict, now_iso

if TYPE_CHECKING:
    from . import Store


@attrs.frozen
class Job:
    id: int
    kind: str
    key: str
    order_id: str | None
    document_id: int | None
    args: dict[str, Any]
    state: str
    attempts: int
    run_after: str
    last_error: str | None


def job_from_row(data: dict[str, Any]) -> Job:
    """The one row mapper of ``fic_jobs``."""
    return Job(id=data["id"], kind=data["kind"], key=data["key"], order_id=data["order_id"],
               document_id=data["document_id"], args=json.loads(data["args"] or "{}"), state=data["state"],
               attempts=data["attempts"], run_after=data["run_after"], last_error=data["last_error"])


class JobRepository:
    def __init__(self, store: Store):
        self.store = store

    def insert(self, kind: str, key: str, *, order_id: str | None = None, document_id: int | None = None,
               args: dict[str, Any] | None = None, connection: Any = None, run_after: str | None = None) -> bool:
        """Insert a job unless one with the same key exists; True when a new row was written.

        ``connection``: the host's own open connection to the same database, so the job commits
        (or rolls back) with the host's transaction (see :meth:`Store.enqueue`). ``run_after``:
        not due before then (default: at once).
        """
        now = now_iso()
        table = "fic_jobs" if connection is None else self.store.table("fic_jobs")
        # An idle shop's dispatcher wakes for a new job: the bell rings in the insert itself, for
        # a row written (not for a key already there), at no extra round trip.
        ring, ring_params = self.store.backend.ring_on_insert()
        cursor = self.store.execute(
            f"INSERT INTO {table} (kind, key, order_id, document_id, args, state, run_after, created_at, updated_at)"
            f" VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?) ON CONFLICT(key) DO NOTHING{ring}",
            [kind, key, order_id, document_id, json.dumps(args or {}), run_after or now, now, now, *ring_params],
            connection=connection)
        return cursor.rowcount == 1

    def settle_pending(self, key: str) -> bool:
        """Mark the job ``key`` done when it is still waiting (pending, held by nobody): what it
        was queued to do was done another way. True when it was."""
        now = now_iso()
        cursor = self.store.execute(
            "UPDATE fic_jobs SET state = 'done', last_error = NULL, finished_at = ?, updated_at = ?"
            " WHERE key = ? AND state = 'pending' AND lease_owner IS NULL", [now, now, key])
        return cursor.rowcount == 1

    def get(self, job_id: int) -> Job | None:
        cursor = self.store.execute("SELECT * FROM fic_jobs WHERE id = ?", [job_id])
        row = as_dict(cursor, cursor.fetchone())
        return job_from_row(row) if row else None

    def list(self, *, order_id: str | None = None, document_id: int | None = None,
             states: tuple[str, ...] = ()) -> list[Job]:
        sql, params = "SELECT * FROM fic_jobs WHERE 1 = 1", []
        if order_id is not None:
            sql += " AND order_id = ?"
            params.append(str(order_id))
        if document_id is not None:
            sql += " AND document_id = ?"
            params.append(document_id)
        if states:
            sql += f" AND state IN ({', '.join('?' for _ in states)})"
            params.extend(states)
        cursor = self.store.execute(sql + " ORDER BY id", params)
        rows = cursor.fetchall()
        return [job_from_row(as_dict(cursor, row)) for row in rows]

    def claim(self, job_id: int, *, owner: str, lease_until: str,
              is_free: Callable[[str | None, str | None], bool]) -> Job | None:
        """Lease a due job to ``owner``; None when it is not due, finished, or held by a live worker."""
        with self.store.transaction():
            row = self.store.execute("SELECT state, run_after, lease_owner, lease_until FROM fic_jobs WHERE id = ?",
                                     [job_id]).fetchone()
            if row is None:
                return None
            state, run_after, held_by, held_until = row
            if state == "pending" and clock.parse(run_after) > clock.utc_now():
                return None
            if state == "running" and not is_free(held_by, held_until):
                return None
            if state not in ("pending", "running"):
                return None
            self.store.execute(
                "UPDATE fic_jobs SET state = 'running', lease_owner = ?, lease_until = ?, attempts = attempts + 1,"
                " updated_at = ? WHERE id = ?", [owner, lease_until, now_iso(), job_id])
            return self.get(job_id)

    def finish(self, job_id: int, state: str, error: str | None, run_after: str | None = None, *,
               owner: str) -> None:
        """Release the lease and record the outcome (``run_after`` for a retry), if ``owner`` still
        holds the job: one taken over by another worker is that worker's now."""
        now = now_iso()
        finished_at = now if state in ("done", "failed") else None
        self.store.execute(
            "UPDATE fic_jobs SET state = ?, last_error = ?, run_after = COALESCE(?, run_after), lease_owner = NULL,"
            " lease_until = NULL, updated_at = ?, finished_at = ? WHERE id = ? AND lease_owner = ?",
            [state, error, run_after, now, finished_at, job_id, owner])

    def running_owners(self) -> list[str]:
        return [r[0] for r in self.store.execute(
            "SELECT DISTINCT lease_owner FROM fic_jobs WHERE state = 'running' AND lease_owner IS NOT NULL").fetchall()]

    def has_open(self, order_id: str | None, kind: str, *, other_than: int | None = None) -> bool:
        """Is a job of ``kind`` for the order still pending or running (besides ``other_than``)?"""
        return self.store.execute(
            "SELECT 1 FROM fic_jobs WHERE order_id = ? AND kind = ? AND state IN ('pending', 'running') AND id != ?",
            [order_id, kind, -1 if other_than is None else other_than]).fetchone() is not None

    def due(self, limit: int = 500) -> list[tuple[int, str, str | None, str | None]]:
        """(id, state, lease owner, lease until) of pending jobs now due and of running ones."""
        return [tuple(r) for r in self.store.execute(
            "SELECT id, state, lease_owner, lease_until FROM fic_jobs WHERE (state = 'pending' AND run_after <= ?)"
            " OR state = 'running' ORDER BY id LIMIT ?", [now_iso(), limit]).fetchall()]

    def next_run_after(self) -> str | None:
        row = self.store.execute("SELECT MIN(run_after) FROM fic_jobs WHERE state = 'pending'").fetchone()
        return row[0] if row else None

    def count_open(self) -> int:
        return self.store.execute("SELECT COUNT(*) FROM fic_jobs WHERE state IN ('pending', 'running')").fetchone()[0]

    def counts_by_state(self) -> dict[str, int]:
        return {state: count for state, count in
                self.store.execute("SELECT state, COUNT(*) FROM fic_jobs GROUP BY state").fetchall()}

    def state_of(self, job_id: int) -> str | None:
        row = self.store.execute("SELECT state FROM fic_jobs WHERE id = ?", [job_id]).fetchone()
        return row[0] if row else None

    def order_of(self, job_id: int) -> str | None:
        row = self.store.execute("SELECT order_id FROM fic_jobs WHERE id = ?", [job_id]).fetchone()
        return row[0] if row else None

    def requeue_failed(self, job_id: int | None = None) -> int:
        """Make failed jobs due now with fresh attempts: one by id, or all of them."""
        where, params = ("id = ?", [job_id]) if job_id is not None else ("state = 'failed'", [])
        now = now_iso()
        count = self.store.execute(
            f"UPDATE fic_jobs SET state = 'pending', run_after = ?, attempts = 0, updated_at = ? WHERE {where}",
            [now, now, *params]).rowcount
        if count:
            self.store.backend.ring_jobs()
        return count
