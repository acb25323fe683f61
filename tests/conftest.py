"""Fixtures shared by the whole suite: the shop, the plugin context, the sandbox.

Test plugins are small classes registered on a fresh plugin manager for one test (as datasette
and llm do); nothing is global. Plain helpers live in ``shoptest.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from fic_plugin.manager import get_plugin_manager
from fic_plugin.plugin import CORE_NAME
from shoptest import (
    SANDBOX_PAYMENT_MAPPING,
    SANDBOX_VAT_MAPPING,
    TEST_TOKEN,
    MemoryShop,
    database_url,
    reset_sandbox,
    sandbox_call,
)


@pytest.fixture
def shop_database(tmp_path: Path) -> str:
    """The shop's database: a SQLite file; a module overrides it with :func:`any_backend`."""
    return str(tmp_path / "shop.db")


@pytest.fixture(params=["sqlite", "postgresql"])
def any_backend(request, tmp_path: Path) -> Iterator[str]:
    """The database URL of each store backend in turn: ``shop_database = any_backend`` in a module
    runs its tests on SQLite and on PostgreSQL (a schema of its own, dropped afterwards)."""
    with ExitStack() as stack:
        yield database_url(request.param, tmp_path, stack)


@pytest.fixture
def shop(shop_database: str) -> MemoryShop:
    return MemoryShop(shop_database)


@pytest.fixture
def pm(shop: MemoryShop):
    return get_plugin_manager([shop], load_entrypoints=False)


@pytest.fixture
def context(pm):
    context = pm.get_plugin(CORE_NAME).context
    yield context
    context.store.close()


@pytest.fixture(scope="session")
def shared_sandbox() -> Iterator:
    from fic_sandbox.server import SandboxServer

    with SandboxServer(port=0) as server:
        yield server


@pytest.fixture(scope="module")
def sandbox(request) -> Iterator:
    """A local FiC sandbox: one for the session (reset it in tests that need a clean state), or a
    module's own when it sets ``OWN_SANDBOX`` (the ``SandboxServer`` options, ``{}`` for none):
    the sandbox's own tests, whose knobs (SdI, company, webhooks) must not reach other modules."""
    options = getattr(request.module, "OWN_SANDBOX", None)
    if options is None:
        yield request.getfixturevalue("shared_sandbox")
        return
    from fic_sandbox.server import SandboxServer

    with SandboxServer(**options) as server:
        yield server



@pytest.fixture
def fic(context, sandbox, monkeypatch):
    """The plugin context connected to a freshly reset sandbox, with mappings and quick timeouts."""
    from fic_plugin.settings import update_settings

    reset_sandbox(sandbox, "faults", "limits")
    for name in ("FIC_API_URL", "FIC_ACCESS_TOKEN", "FIC_COMPANY_ID"):
        monkeypatch.delenv(name, raising=False)
    # Relaxed pacing (the sandbox's limits are off) and a short read timeout so "timeout after
    # commit" faults are quick to provoke.
    monkeypatch.setenv("FIC_RATE_HOURLY", "1000000")
    monkeypatch.setenv("FIC_RATE_SHORT_TERM", "1000000")
    monkeypatch.setenv("FIC_TIMEOUT_READ", "1.5")
    update_settings(context.store, {
        "fic_api_url": sandbox.url, "fic_company_id": 1, "fic_access_token": TEST_TOKEN,
        "vat_mapping": SANDBOX_VAT_MAPPING, "payment_mapping": SANDBOX_PAYMENT_MAPPING,
        "shop_name": "Bottega Rossi",
    })
    context.reset_client()
    yield context
    sandbox_call(sandbox, "DELETE", "/__sandbox__/faults")


@pytest.fixture
def english():
    """Run a test in English, to assert on the source texts whatever the default language."""
    from fic_plugin.i18n import language

    with language("en"):
        yield


# The files that take a minute or more start first: with several pytest processes (`make test`)
# no process should pick one up last and finish the run alone on it.
LONG_FILES = ("test_worker_crash.py", "test_postgres.py", "test_chaos_small.py", "test_engine_celery.py",
              "test_leases.py", "test_django_views.py", "test_oscar_invoice.py", "test_credit_notes.py",
              "test_documents.py")


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: item.path.name not in LONG_FILES)  # stable: a file's tests stay together
