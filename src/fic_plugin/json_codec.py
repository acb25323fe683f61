"""JSON with money kept exact: the one codec for Decimal, both ways.

Amounts are ``decimal.Decimal`` everywhere; they go out as the JSON numbers they are (``12.30``
stays ``12.30``, never a float's nearest digits) and come back as Decimal (``parse_float``).
The standard library cannot write a Decimal as a bare number, so each one is first written as a
marked string, then unquoted: the marker carries a random part no real text can contain.
"""

from __future__ import annotations

import json
import re
import secrets
from decimal import Decimal
from typing import Any

_MARK = f"__fic_decimal_{secrets.token_hex(8)}__"
_MARKED = re.compile(f'"{_MARK}([-+0-9.Ee]+)"')


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} is not a valid amount")
        return f"{_MARK}{value}"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(value: Any, *, compact: bool = False, indent: int | None = None) -> str:
    """``value`` as JSON; Decimal as exact numbers, dates as ISO 8601, text not escaped to ASCII."""
    separators = (",", ":") if compact else None
    text = json.dumps(value, default=_default, ensure_ascii=False, separators=separators, indent=indent)
    return _MARKED.sub(r"\1", text)


def loads(text: str | bytes) -> Any:
    """JSON with every non-integer number as Decimal (money never becomes float)."""
    return json.loads(text, parse_float=Decimal)
