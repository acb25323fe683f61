"""How the side channel reads its settings (faults, quotas, SdI, webhooks): one way for all.

A name the knob does not have is refused with the list of such names, and a rate is a
probability between 0 and 1; the side channel turns the ``ValueError`` into its 422.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

import attrs

T = TypeVar("T")


def probability(value: Any) -> float:
    """An attrs converter: a probability, not money, so a float."""
    chance = float(value)
    if not 0.0 <= chance <= 1.0:
        raise ValueError("a rate is between 0 and 1")
    return chance


def refuse_unknown(values: dict, known: Iterable[str], what: str) -> None:
    unknown = set(values) - set(known)
    if unknown:
        raise ValueError(f"unknown {what} setting(s): {', '.join(sorted(unknown))}")


def settings_from(cls: type[T], values: dict, what: str) -> T:
    """``cls`` (an attrs class) from the posted ``values``; the fields not given keep their default."""
    refuse_unknown(values, (field.name for field in attrs.fields(cls)), what)
    return cls(**values)
