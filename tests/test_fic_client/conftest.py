"""Fixtures for the FiC client's tests (the helpers live in fic_scripted.py)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from fic_scripted import FAST_BACKOFF, FAST_TIMEOUTS, RELAXED_LIMITS, TOKEN, ScriptedFic

from fic_plugin.fic.client import FicClient


@pytest.fixture(scope="module")
def scripted_server() -> Iterator[ScriptedFic]:
    server = ScriptedFic()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def scripted(scripted_server: ScriptedFic) -> Iterator[ScriptedFic]:
    scripted_server.reset()
    yield scripted_server
    scripted_server.reset()


@pytest.fixture
def records() -> list:
    return []


@pytest.fixture
def scripted_client(scripted: ScriptedFic, records: list) -> FicClient:
    return FicClient(scripted.url, TOKEN, 1, limits=RELAXED_LIMITS, timeouts=FAST_TIMEOUTS,
                     backoff=FAST_BACKOFF, on_request=records.append)


@pytest.fixture(autouse=True)
def english_messages() -> Iterator[None]:
    """Assert on the English source texts, whatever the default language is."""
    from fic_plugin.i18n import language

    with language("en"):
        yield
