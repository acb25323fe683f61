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

    def holds_leases(self, worker_id: str) -> bool:
        """Whether the process ``worker_id`` holds a job or a document lease."""
        pattern = worker_id + ":%"
        row = self.store.execute(
            "SELECT EXISTS (SELECT 1 FROM fic_jobs WHERE lease_owner LIKE ?)"
            " OR EXISTS (SELECT 1 FROM fic_documents WHERE lease_owner LIKE ?)", [pattern, pattern]).fetchone()
        return bool(row[0])
