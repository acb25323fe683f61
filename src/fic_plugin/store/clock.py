"""The store's clock: every timestamp in the tables is UTC, ISO 8601 with its offset.

Strings of one fixed shape (``2026-10-25T00:30:00.000000+00:00``) compare as the instants they
name, so ``run_after <= now`` and lease expiry stay right across the end of daylight saving time,
when the local clock shows 02:30 twice. Only the screens turn them into the shop's local time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def utc_now() -> datetime:
    return datetime.now(UTC)


def now_iso() -> str:
    return iso(utc_now())


def iso(moment: datetime) -> str:
    """``moment`` as the tables store it (a naive datetime is taken as this process's local time)."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def in_seconds(seconds: float) -> str:
    return iso(utc_now() + timedelta(seconds=seconds))


def parse(value: str | datetime) -> datetime:
    """A stored timestamp as an aware datetime; rows written before UTC (naive) were local time."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(UTC) if moment.tzinfo is None else moment
