"""Fixtures of the bad-input corpus: every refused input must leave no trace anywhere."""

from __future__ import annotations

import pytest
from badinput import assert_nothing_written


@pytest.fixture
def nothing_written():
    return assert_nothing_written
