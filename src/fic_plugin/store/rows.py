"""Small helpers the repositories share: rows as dicts, values as text, the clock."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from .clock import iso, now_iso

__all__ = ["as_dict", "as_dicts", "now_iso", "to_text"]


def to_text(value: Any) -> Any:
    """Decimal and dates as text: both backends store them as TEXT, exactly as written."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def column_names(cursor: Any) -> list[str]:
    return [c[0] for c in cursor.description]


def as_dict(cursor: Any, row: tuple | None) -> dict[str, Any] | None:
    return None if row is None else dict(zip(column_names(cursor), row, strict=True))


def as_dicts(cursor: Any) -> list[dict[str, Any]]:
    names = column_names(cursor)
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
