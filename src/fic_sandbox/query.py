"""List endpoints' common parts: the ``q`` filter, ``sort``, ``fields``/``fieldset`` and FiC's
pagination envelope (Laravel's: current_page, last_page, per_page ≤ 100, default 5…)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from .responses import ApiError

DEFAULT_PER_PAGE = 5
MAX_PER_PAGE = 100

_CONDITION = re.compile(
    r"\s*(?P<field>[A-Za-z_][A-Za-z0-9_.]*)\s*(?P<op>>=|<=|!=|<>|=|>|<|\blike\b)\s*"
    r"(?:'(?P<quoted>(?:[^'\\]|\\.)*)'|(?P<bare>[-0-9.]+|null|true|false))\s*", re.IGNORECASE)
_AND = re.compile(r"\s*and\s+", re.IGNORECASE)


def _lookup(row: dict, path: str) -> Any:
    value: Any = row
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _comparable(left: Any, right: str) -> tuple[Any, Any]:
    """Numbers compare as numbers, the rest as text (ISO dates compare right as text)."""
    if isinstance(left, (int, Decimal)) and not isinstance(left, bool):
        try:
            return Decimal(left), Decimal(right)
        except InvalidOperation:
            pass
    return ("" if left is None else str(left)), right


def _like(value: str, pattern: str) -> bool:
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE | re.DOTALL) is not None


def parse_q(q: str, allowed: Sequence[str]) -> Callable[[dict], bool]:
    """``field op 'value' [and …]`` → a predicate; a bad query is a 422 naming the problem."""
    conditions = []
    rest = q.strip()
    while rest:
        match = _CONDITION.match(rest)
        if not match:
            raise ApiError(422, f"Il parametro q non è valido vicino a: {rest[:40]!r}",
                           validation_result={"q": ["Sintassi: campo = 'valore' [and campo >= 'valore']"]})
        field, op = match["field"], match["op"].lower()
        if field not in allowed:
            raise ApiError(422, f"Il campo {field!r} non è filtrabile: usa uno tra {', '.join(allowed)}",
                           validation_result={"q": [f"campo {field} non filtrabile"]})
        value = match["quoted"].replace("\\'", "'") if match["quoted"] is not None else match["bare"]
        conditions.append((field, "!=" if op == "<>" else op, value))
        rest = rest[match.end():]
        if rest:
            joiner = _AND.match(rest)
            if not joiner:
                raise ApiError(422, "Il parametro q accetta solo condizioni unite da 'and'",
                               validation_result={"q": ["solo 'and' è supportato"]})
            rest = rest[joiner.end():]

    def predicate(row: dict) -> bool:
        for field, op, wanted in conditions:
            raw = _lookup(row, field)
            if wanted == "null" and op in ("=", "!="):
                if (raw is None) != (op == "="):
                    return False
                continue
            if op == "like":
                if not _like("" if raw is None else str(raw), wanted):
                    return False
                continue
            left, right = _comparable(raw, wanted)
            ok = {"=": left == right, "!=": left != right, ">": left > right, ">=": left >= right,
                  "<": left < right, "<=": left <= right}[op]
            if not ok:
                return False
        return True

    return predicate


def sort_rows(rows: list[dict], sort: str | None) -> list[dict]:
    """``sort=-date,number``: stable, last key first; None sorts before anything."""
    if not sort:
        return rows
    for key in reversed([k.strip() for k in sort.split(",") if k.strip()]):
        descending = key.startswith("-")
        field = key.lstrip("-+")
        rows = sorted(rows, key=lambda row, f=field: (_lookup(row, f) is not None, _sort_value(_lookup(row, f))),
                      reverse=descending)
    return rows


def _sort_value(value: Any) -> Any:
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return (0, Decimal(value), "")
    return (1, Decimal(0), "" if value is None else str(value))


def only_fields(row: dict, fields: str | None) -> dict:
    if not fields:
        return row
    wanted = {f.strip() for f in fields.split(",") if f.strip()} | {"id"}
    return {key: value for key, value in row.items() if key in wanted}


def page_numbers(args: dict) -> tuple[int, int]:
    try:
        page = int(args.get("page") or 1)
        per_page = int(args.get("per_page") or DEFAULT_PER_PAGE)
    except ValueError:
        raise ApiError(422, "I parametri page e per_page devono essere numeri interi",
                       validation_result={"per_page": ["intero"]}) from None
    if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
        raise ApiError(422, f"per_page deve essere tra 1 e {MAX_PER_PAGE} e page almeno 1",
                       validation_result={"per_page": [f"massimo {MAX_PER_PAGE}"]})
    return page, per_page


def paginate(rows: list[Any], args: dict, base_url: str, path: str) -> dict:
    """FiC's list envelope around one page of ``rows``; page URLs keep the other query arguments."""
    page, per_page = page_numbers(args)
    total = len(rows)
    last_page = max(1, math.ceil(total / per_page))
    start = (page - 1) * per_page
    chunk = rows[start:start + per_page]
    others = {key: value for key, value in args.items() if key != "page"}

    def url(number: int) -> str:
        return f"{base_url}{path}?{urlencode({**others, 'page': number})}"

    return {
        "current_page": page, "data": chunk,
        "first_page_url": url(1), "from": start + 1 if chunk else None, "last_page": last_page,
        "last_page_url": url(last_page), "next_page_url": url(page + 1) if page < last_page else None,
        "path": f"{base_url}{path}", "per_page": per_page,
        "prev_page_url": url(page - 1) if page > 1 else None, "to": start + len(chunk) if chunk else None,
        "total": total,
    }
