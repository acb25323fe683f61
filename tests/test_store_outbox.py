"""The job row written in the host's own transaction (issue 16): a real outbox.

A host that fires the event after its COMMIT can crash in between and lose the job (the periodic
check recovers only automatic invoices, never a payment sync). With ``connection=`` the job is
part of the host's transaction: it commits with the order, or neither exists.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from fic_plugin import jobs
from fic_plugin.jobs import run_round
from fic_plugin.settings import update_settings
from fic_plugin.store import Store
from shoptest import POSTGRES_URL, fic_documents, make_order

TESTS = Path(__file__).resolve().parent
pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture
def shop_database(any_backend):
    return any_backend


@pytest.fixture
def auto(fic):
    update_settings(fic.store, {"auto_invoice": True})
    return fic


def _host_connection(context):
    """The host's own connection to its database (not the plugin's), as a web shop holds one."""
    if context.store.dialect == "postgresql":
        return psycopg.connect(POSTGRES_URL)  # the host's search_path: the plugin qualifies its table
    import sqlite3

    return sqlite3.connect(context.store.path, timeout=30)


def test_an_event_in_a_rolled_back_transaction_issues_nothing(auto, shop, sandbox):
    order = shop.add(make_order("1", paid=True))
    conn = _host_connection(auto)
    jobs.on_order_paid(auto, order, connection=conn)
    conn.rollback()  # the checkout failed after the event: the order was never paid
    conn.close()
    assert auto.store.jobs.list() == []
    shop.orders.clear()  # nor does the periodic check find a paid order
    run_round(auto)
    assert fic_documents(sandbox) == []


def test_the_job_commits_with_the_hosts_transaction(auto, shop, sandbox):
    order = shop.add(make_order("1", paid=True))
    conn = _host_connection(auto)
    jobs.on_payment_recorded(auto, order, order.payments[0] if order.payments else None, connection=conn)
    assert auto.store.jobs.list() == []  # not visible before the host commits
    conn.commit()
    conn.close()
    assert [job.kind for job in auto.store.jobs.list()] == ["sync_payments"]


HOST = """
import os, sys
from fic_plugin import jobs
from fic_plugin.manager import get_plugin_manager
from fic_plugin.plugin import CORE_NAME
from shoptest import MemoryShop, make_order

url, host_url, table = sys.argv[1:4]
shop = MemoryShop(url)
context = get_plugin_manager([shop], load_entrypoints=False).get_plugin(CORE_NAME).context
if host_url.startswith("postgresql"):
    import psycopg
    conn = psycopg.connect(host_url)
else:
    import sqlite3
    conn = sqlite3.connect(host_url, timeout=30)
conn.execute(f"INSERT INTO {table} (id, paid) VALUES (1, 1)")
jobs.on_order_paid(context, make_order("1", paid=True), connection=conn)
conn.commit()
os._exit(9)  # the crash: right after the shop's COMMIT, before anything else runs
"""


def test_a_crash_right_after_the_shops_commit_loses_no_job(auto, shop, sandbox):
    """The host process dies the instant its COMMIT returns; the worker still issues the invoice."""
    if auto.store.dialect == "postgresql":
        host_url, table = POSTGRES_URL, auto.store.table("host_orders")
    else:
        host_url, table = auto.store.path, "host_orders"
    auto.store.execute("CREATE TABLE host_orders (id INTEGER PRIMARY KEY, paid INTEGER NOT NULL)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), *sys.path])}
    host = subprocess.run([sys.executable, "-c", HOST, auto.store.url, host_url, table], env=env,
                          capture_output=True, text=True, timeout=120)
    assert host.returncode == 9, host.stderr
    assert [tuple(r) for r in auto.store.execute("SELECT id, paid FROM host_orders").fetchall()] == [(1, 1)]
    [job] = auto.store.jobs.list()
    assert (job.kind, job.key, job.state) == ("auto_document", "auto:1", "pending")
    shop.add(make_order("1", paid=True))
    run_round(auto)
    assert [d["type"] for d in fic_documents(sandbox)] == ["invoice"]


DJANGO_HOST = """
import json, sys
from urllib.parse import urlsplit
import django
from django.conf import settings

host_url, store_url = sys.argv[1:3]
if host_url.startswith("postgresql"):
    parts = urlsplit(host_url)
    database = {"ENGINE": "django.db.backends.postgresql", "NAME": parts.path.lstrip("/"),
                "USER": parts.username, "HOST": parts.hostname, "PORT": parts.port or 5432}
else:
    database = {"ENGINE": "django.db.backends.sqlite3", "NAME": host_url}
settings.configure(DATABASES={"default": database}, USE_TZ=True)
django.setup()
from django.db import connection, transaction
from fic_plugin.store import Store

store = Store(store_url)
try:
    with transaction.atomic():
        store.enqueue("auto_document", "auto:rolled-back", order_id="1", connection=connection)
        raise RuntimeError("the checkout failed")
except RuntimeError:
    pass
with transaction.atomic():
    store.enqueue("auto_document", "auto:2", order_id="2", connection=connection)
    store.enqueue("auto_document", "auto:2", order_id="2", connection=connection)  # a replayed event
print(json.dumps([job.key for job in store.jobs.list()]))
"""


def test_a_django_host_writes_the_job_in_its_atomic_block(any_backend):
    """Django's own connection (its %s cursor, its transaction): a rolled-back block leaves no job."""
    store = Store(any_backend)
    store.migrate()
    store.close()
    host_url = POSTGRES_URL if any_backend.startswith("postgresql") else any_backend
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), *sys.path])}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    host = subprocess.run([sys.executable, "-c", DJANGO_HOST, host_url, any_backend], env=env,
                          capture_output=True, text=True, timeout=120)
    assert host.returncode == 0, host.stderr
    assert host.stdout.split()[-1] == '["auto:2"]'
