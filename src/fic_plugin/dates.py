"""The Italian calendar day, whatever time zone the process runs in.

A document's date is the day in Italy: an invoice made at 23:30 UTC on 29 November is dated 30
November (00:30 in Rome), whether the process runs under Django's ``TIME_ZONE``, a worker started
without it, or a server set to UTC.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

ROME = ZoneInfo("Europe/Rome")


def now() -> datetime:
    """The current moment, aware, in Europe/Rome."""
    return datetime.now(ROME)


def today() -> date:
    """Today's date in Italy: the date FiC and the SdI expect on a document made now."""
    return now().date()


def italian_day(moment: datetime | date) -> date:
    """The day in Italy of ``moment``; a naive datetime is taken as the shop's Italian time."""
    if isinstance(moment, datetime):
        if moment.tzinfo is not None:
            return moment.astimezone(ROME).date()
        return moment.date()
    return moment
