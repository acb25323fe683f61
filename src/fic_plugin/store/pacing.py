"""``fic_pacing``: the requests sent to FiC per company, shared by every process of the shop.

One row per booking: when it is (or was) let go, how many requests, and the running total, so
counting a window is two index look-ups (see ``fic.shared_pacer``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from . import Store


class PacingRepository:
    def __init__(self, store: Store):
        self.store = store

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        with self.store.transaction() as handle:
            yield handle

    def total(self, company: str) -> int:
        row = self.store.execute("SELECT total FROM fic_pacing WHERE company = ? ORDER BY total DESC LIMIT 1",
                                 [company]).fetchone()
        return row[0] if row else 0

    def last_at(self, company: str) -> float | None:
        row = self.store.execute("SELECT at FROM fic_pacing WHERE company = ? ORDER BY total DESC LIMIT 1",
                                 [company]).fetchone()
        return row[0] if row else None

    def total_at_or_before(self, company: str, moment: float) -> int:
        """Requests booked at or before ``moment`` (those forgotten included)."""
        row = self.store.execute(
            "SELECT total FROM fic_pacing WHERE company = ? AND at <= ? ORDER BY at DESC, total DESC LIMIT 1",
            [company, moment]).fetchone()
        if row:
            return row[0]
        first = self.store.execute(
            "SELECT total - count FROM fic_pacing WHERE company = ? ORDER BY total LIMIT 1", [company]).fetchone()
        return first[0] if first else 0

    def first_at_above(self, company: str, total: int) -> float:
        """When the first booking whose running total passes ``total`` was let go."""
        row = self.store.execute("SELECT at FROM fic_pacing WHERE company = ? AND total > ? ORDER BY total LIMIT 1",
                                 [company, total]).fetchone()
        return row[0]

    def book(self, company: str, at: float, count: int) -> None:
        self.store.execute("INSERT INTO fic_pacing (company, total, at, count) VALUES (?, ?, ?, ?)",
                           [company, self.total(company) + count, at, count])

    def forget(self, company: str, before: float) -> None:
        """Drop bookings older than every window (the newest one is kept: it carries the total)."""
        self.store.execute(
            "DELETE FROM fic_pacing WHERE company = ? AND at < ? AND total < (SELECT MAX(total) FROM fic_pacing"
            " WHERE company = ?)", [company, before, company])
