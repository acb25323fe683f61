"""Idle shops left closed until their database changes.

A dispatcher serving a thousand shops, most of them with nothing to do at any moment, used to open
every idle shop's database every few seconds to learn that nothing had changed: about 500 opens a
second, the dispatcher's whole CPU on a platform. Now a shop found with no job open is remembered
with its database's change mark (:func:`fic_plugin.store.change_mark`: the SQLite file's and its
WAL's times and sizes, read without opening it), and it is opened again only when

- the mark changed: an event wrote a job, the shop's page or a worker wrote anything;
- or :data:`QUIET_SECONDS` went by, in case a file was put back with its old times (a restore);
- or the caller's own schedule says so (the periodic check for paid orders without a document).

A file written less than a second ago has no mark yet: its shop is kept until the mark appears,
then looked at once more (which finds it settled).

A PostgreSQL shop has no such mark; its database rings a bell instead: every job written (or made
due again) there sends ``NOTIFY fic_jobs, '<schema>'`` with its transaction, and one connection
per database listens (:class:`fic_plugin.store.postgres.JobBell`, read once per pass by
:meth:`QuietShops.listen`). Without a listening connection (it failed, or was just reopened and may
have missed something) the database's shops are not kept here: the caller looks at them after its
usual pause.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from .shop_registry import Shop
from .store import change_mark, has_change_marks, job_bell, job_bell_address

#: An idle shop's mark is read at most this often (two ``stat`` calls): a new order waits this
#: long at most before its shop is looked at, instead of the seconds a pass used to take.
LOOK_EVERY = 0.5
#: An idle shop is opened again after this long even if its mark did not change (or its bell did
#: not ring). A safety net only, for a file put back with its old times: at a minute, these
#: openings were the larger part of what 1,000 idle shops cost the dispatcher (970 openings of
#: 1.6 ms a minute, 26 ms of CPU a second, beside 36 ms for reading the marks).
QUIET_SECONDS = 300.0
#: A shop whose orders are in its unchanged file is still checked for paid orders once in this
#: many ``--interval`` (a file put back with its old times, by a restore, changes no mark).
CHECK_ANYWAY_EVERY = 10


class QuietShops:
    """The idle shops and the mark each had when it was last found idle."""

    def __init__(self, shops: Iterable[Shop] = (), *, look_every: float = LOOK_EVERY, at_most: float = QUIET_SECONDS):
        self.look_every = look_every
        self.at_most = at_most
        # PostgreSQL shops: one bell per database, and who answers to each schema's ring.
        self._bells: dict[str, tuple[Any, dict[str, list[str]]]] = {}
        self._address: dict[str, str] = {}  # shop id: its database
        self._woken: set[str] = set()  # resting shops their database rang for, until looked at
        for shop in shops:
            address = job_bell_address(shop.db)
            if address is not None:
                database, schema = address
                if database not in self._bells:
                    self._bells[database] = (job_bell(database), {})
                self._bells[database][1].setdefault(schema, []).append(shop.id)
                self._address[shop.id] = database
        # id: mark (None: the file was being written, look again once it has one), since, last look
        self._shops: dict[str, tuple[tuple[int, ...] | None, float, float]] = {}

    @staticmethod
    def mark(shop: Shop) -> tuple[int, ...] | None:
        """The shop's mark now: read it *before* reading its jobs, so a job written after that
        read changes it."""
        return change_mark(shop.db)

    def listen(self) -> None:
        """Wake the PostgreSQL shops whose database rang for them since the last call (all of a
        database's, when its listening connection was just reopened). Once per pass."""
        for bell, schemas in self._bells.values():
            heard = bell.heard()
            for schema, ids in schemas.items():
                if heard is None or schema in heard:
                    for shop_id in ids:
                        if self._shops.pop(shop_id, None) is not None:
                            self._woken.add(shop_id)

    def _rung(self, shop: Shop) -> bool:
        database = self._address.get(shop.id)
        return database is not None and self._bells[database][0].listening

    def rest(self, shop: Shop, mark: tuple[int, ...] | None) -> bool:
        """Remember an idle shop with the mark read before its jobs; False for a database that
        has no marks and no listening bell (the caller then looks again after its usual pause)."""
        self._woken.discard(shop.id)
        if mark is None and not has_change_marks(shop.db) and not self._rung(shop):
            self._shops.pop(shop.id, None)
            return False
        now = time.monotonic()
        self._shops[shop.id] = (mark, now, now)
        return True

    def resting(self, shop: Shop) -> bool:
        """True while the shop is idle and unchanged: leave it closed. False (and forgotten) once its
        mark changed or it rested :attr:`at_most` seconds; False for a shop not kept here."""
        kept = self._shops.get(shop.id)
        if kept is None:
            return False
        mark, since, looked = kept
        now = time.monotonic()
        if now - since >= self.at_most:
            del self._shops[shop.id]
            return False
        if now - looked < self.look_every or shop.id in self._address:  # PostgreSQL: its bell wakes it
            return True
        if change_mark(shop.db) != mark:
            del self._shops[shop.id]
            return False
        self._shops[shop.id] = (mark, since, now)
        return True

    def woken(self, shop: Shop) -> bool:
        """True (once) when a resting shop's database changed or rang, or it rested long enough."""
        if shop.id in self._woken:
            self._woken.discard(shop.id)
            return True
        return shop.id in self._shops and not self.resting(shop)

    def forget(self, shop: Shop) -> None:
        self._shops.pop(shop.id, None)
        self._woken.discard(shop.id)

    def close(self) -> None:
        """Close the listening connections."""
        for bell, _schemas in self._bells.values():
            bell.close()


class QuietChecks:
    """The periodic check for paid orders without a document (the dispatcher's, and the embedded
    loop's round of an idle shop), left out while it cannot find anything: the shop writes its
    orders in its SQLite file (``shop_orders_in_database``) and the file's mark is the one read
    before the last check. That check opens the whole shop (its plugins, its settings, the
    paid-orders query): for a thousand idle shops at the default ``--interval`` it was the
    dispatcher's main cost once idle shops stayed closed."""

    def __init__(self, every: float, anyway: int = CHECK_ANYWAY_EVERY):
        self.at_most = every * anyway
        self._checked: dict[str, tuple[tuple[int, ...], float]] = {}  # id: mark before the check, when

    def needless(self, shop: Shop, mark: tuple[int, ...] | None) -> bool:
        """True when the shop's last check read this very file (``mark``, read before this turn's
        reads) not long ago: no order was paid since, it would find what that check found."""
        last = self._checked.get(shop.id)
        return (mark is not None and last is not None and last[0] == mark
                and time.monotonic() - last[1] < self.at_most)

    def checked(self, shop: Shop, mark: tuple[int, ...] | None, orders_in_database: bool) -> None:
        """The shop was checked with the file at ``mark``; what the check wrote (jobs it queued)
        moves the mark, so the next check runs and, finding nothing new, is the one remembered."""
        if mark is not None and orders_in_database:
            self._checked[shop.id] = (mark, time.monotonic())
        else:
            self._checked.pop(shop.id, None)
