"""JSON in and out of the sandbox without passing money through ``float``.

Bodies are read with ``parse_float=Decimal``; on the way out a ``Decimal`` is written as the JSON
number it spells (``68.18``, ``75``), so what a client reads is exactly what the sandbox computed.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

# The standard encoder cannot emit a raw number for a custom type, so Decimals travel as marked
# strings and the marks are stripped afterwards; the marker cannot occur in escaped JSON text.
_MARK = "\x00dec:"
_MARKED = re.compile(r'"\\u0000dec:(-?[0-9.]+(?:E[-+]?[0-9]+)?)"')


def _number(value: Decimal) -> str:
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return _MARK + _number(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _mark(value: Any) -> Any:
    if isinstance(value, Decimal):
        return _MARK + _number(value)
    if isinstance(value, dict):
        return {key: _mark(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_mark(item) for item in value]
    return value


def dumps(value: Any) -> str:
    """Serialise ``value``; Decimals become plain JSON numbers (no float in between)."""
    return _MARKED.sub(r"\1", json.dumps(_mark(value), ensure_ascii=False, default=_default))


def loads(text: str | bytes) -> Any:
    """Parse JSON with every non-integer number as a Decimal."""
    return json.loads(text, parse_float=Decimal)
