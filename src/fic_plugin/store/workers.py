"""``fic_workers``: the heartbeat of each process that holds leases (see ``leases``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from . import Store


class WorkerRepository:
    def __init__(self, store: Store):
        self.store = store

    def beat(self, worker_id: str, at: float) -> None:
        self.store.execute(
            "INSERT INTO fic_workers (id, beat_at) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET beat_at = excluded.beat_at",
            [worker_id, at])

    def beat_at(self, worker_id: str) -> float | None:
        row = self.store.execute("SELECT beat_at FROM fic_workers WHERE id = ?", [worker_id]).fetchone()
        return row[0] if row else None

    def lease_threads(self, worker_id: str) -> set[int]:
        """The threads of the process ``worker_id`` named as owners of a job or a document lease."""
        pattern = worker_id + ":%"
        rows = self.store.execute(
            "SELECT lease_owner FROM fic_jobs WHERE lease_owner LIKE ?"
            " UNION SELECT lease_owner FROM fic_documents WHERE lease_owner LIKE ?", [pattern, pattern]).fetchall()
        return {int(owner.partition(":")[2]) for (owner,) in rows if owner.partition(":")[2].isdigit()}
