"""Issue 13: leases belong to a process by a random id with a heartbeat, never by hostname and PID.

The reproduction: two ``fic sync`` workers, each PID 1 of its own PID namespace on the same host
(as two containers with the usual entrypoint are), against a sandbox that answers slowly, with 30
paid orders. Owners named ``host:pid:thread`` took each other's leases and made duplicates.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from campaign import SandboxProcess, create_shop, end_state, fic_command, jobs_by_state, worker_env  # noqa: E402

from einvoicetest import wait_for  # noqa: E402
from fic_plugin import leases  # noqa: E402
from fic_plugin.store import Store  # noqa: E402

ORDERS = 30
# PID 1 ignores SIGTERM unless it handles it, and unshare ignores it too: unshare is killed, and
# the worker with it (--kill-child).
NAMESPACE = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"]


def namespaces_available() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run([*NAMESPACE, "true"], capture_output=True).returncode == 0


def finished(db: Path) -> bool:
    states = jobs_by_state(db)
    return states.get("done", 0) >= ORDERS and not states.get("pending") and not states.get("running")


@pytest.mark.slow
@pytest.mark.skipif(not namespaces_available(), reason="unshare --pid is not available here")
def test_two_workers_as_pid_1_of_their_own_namespaces_make_one_invoice_and_one_email_per_order(tmp_path):
    db = tmp_path / "shop.db"
    with SandboxProcess(tmp_path) as sandbox:
        create_shop(db, ORDERS, sandbox_url=sandbox.url)
        sandbox.limits_off()
        sandbox.call("POST", "/__sandbox__/faults", json={"latency_ms": 400})
        env = worker_env(sandbox.url, read_timeout=10)
        command = [*NAMESPACE, *fic_command(), "--db", str(db), "sync", "--no-progress", "--interval", "0.2"]
        workers = [subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                   for _ in range(2)]
        try:
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline and not finished(db):
                assert all(w.poll() is None for w in workers), workers[0].stderr.read()
                time.sleep(0.5)
        finally:
            for worker in workers:
                worker.kill()
                worker.wait(60)
        counts = end_state(db, sandbox.documents(), sandbox.emails(), ORDERS)
    assert counts.problems == []
    assert (counts.invoices, counts.emails, counts.duplicates) == (ORDERS, ORDERS, 0)


def test_a_lease_is_free_once_its_owner_stops_beating_and_not_before(tmp_path, monkeypatch):
    store = Store(tmp_path / "shop.db")
    store.migrate()
    other = "0123456789abcdef:140000000000"
    store.workers.beat("0123456789abcdef", time.time())
    assert not leases.is_free(store, other, leases.until(300))
    store.workers.beat("0123456789abcdef", time.time() - leases.STALE_SECONDS - 1)
    assert leases.is_free(store, other, leases.until(300))


def test_a_lease_of_this_process_is_free_once_its_thread_ended(tmp_path):
    store = Store(tmp_path / "shop.db")
    store.migrate()
    owners: list[str] = []
    thread = threading.Thread(target=lambda: owners.append(leases.me()))
    thread.start()
    thread.join()
    assert leases.is_free(store, owners[0], leases.until(300))
    assert leases.is_free(store, leases.owner_id(store), leases.until(300))  # this thread's own


def test_the_heartbeat_lasts_while_a_live_thread_holds_a_lease_not_for_a_dead_ones(tmp_path, monkeypatch):
    """A lease whose thread ended is free already (is_free): beating for it kept a thread per
    database alive for as long as the process ran (seen: 27 in one test process)."""
    monkeypatch.setattr(leases, "HEARTBEAT_SECONDS", 0.05)
    monkeypatch.setattr(leases, "STALE_SECONDS", 0.3)
    store = Store(tmp_path / "shop.db")
    store.migrate()
    store.jobs.insert("invoice", "order:1:invoice", order_id="1")
    job_id = store.jobs.due()[0][0]
    release = threading.Event()

    def hold() -> None:
        own = Store(tmp_path / "shop.db")
        owner = leases.owner_id(own)
        assert own.jobs.claim(job_id, owner=owner, lease_until=leases.until(300), is_free=lambda *_: True)
        release.wait(30)
        own.close()

    holder = threading.Thread(target=hold)
    holder.start()
    wait_for(lambda: leases.beating(store.url) and store.jobs.get(job_id).state == "running", "the lease taken")
    time.sleep(1.5)  # five times STALE_SECONDS: the live holder keeps it beating
    assert leases.beating(store.url)
    release.set()
    holder.join()
    assert store.jobs.get(job_id).state == "running"  # the dead thread's lease is still written
    wait_for(lambda: not leases.beating(store.url), "the heartbeat to end once only a dead thread's lease is left")


def test_the_heartbeat_of_a_database_that_keeps_failing_ends(monkeypatch):
    """A PostgreSQL schema dropped under a process (a test's, a shop removed): its heartbeat
    thread retried every second for as long as the process ran."""
    from shoptest import postgres_schema

    monkeypatch.setattr(leases, "HEARTBEAT_SECONDS", 0.05)
    monkeypatch.setattr(leases, "STALE_SECONDS", 0.3)
    with postgres_schema() as url:
        store = Store(url)
        store.migrate()
        with store.transaction():
            leases.owner_id(store)
        store.close()
        assert leases.beating(url)
    wait_for(lambda: not leases.beating(url), "the heartbeat into a dropped schema to end")


def test_each_process_has_its_own_random_id_even_after_fork(tmp_path):
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(write, leases.process_id().encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    assert child and child != leases.process_id()


# --- what a worker does with a row another one held -----------------------------------------------------


def _silent_owner(store: Store) -> str:
    """A worker of another process that stopped beating an hour ago."""
    store.workers.beat("silentworker0001", time.time() - 3600)
    return "silentworker0001:1"


def test_a_row_taken_over_from_a_silent_worker_is_looked_up_in_fic_before_creating(fic, shop, sandbox):
    from fic_plugin.documents import Documents, marker_for
    from fic_plugin.model import Document
    from shoptest import fic_documents, make_order

    order = shop.add(make_order("41", paid=True))
    documents = Documents(fic)
    # The silent worker had reserved the invoice and reached FiC with it before it went quiet.
    intent = fic.store.insert_document(Document(id=None, order_id="41", type="invoice", numeration="",
                                                marker=marker_for("41", "invoice", 0)))
    fic.store.lease_document(intent.id, _silent_owner(fic.store), leases.until(leases.LEASE_SECONDS))
    payload, _totals = documents._payload(order, "invoice", intent.marker)
    created = fic.client.create_document(payload)
    taken_over = documents.ensure(order, "invoice")
    assert taken_over.fic_id == created["id"]  # adopted, not made again
    assert [d["id"] for d in fic_documents(sandbox) if d.get("subject") == intent.marker] == [created["id"]]


def test_a_worker_whose_row_was_taken_over_calls_fic_for_nothing_more(fic, shop, sandbox):
    from fic_plugin import hookimpl
    from fic_plugin.documents import Documents
    from shoptest import fic_documents, make_order

    order = shop.add(make_order("42", paid=True))

    class SilentWhileBuilding:
        """This worker stalls while it builds the payload; another takes its row over meanwhile."""

        @hookimpl
        def fic_document_payload(self, order, document_type, payload):
            row = fic.store.document_for(order.id, document_type, "")
            fic.store.workers.beat("otherworker00001", time.time())
            fic.store.lease_document(row.id, "otherworker00001:1", leases.until(leases.LEASE_SECONDS))

    fic.pm.register(SilentWhileBuilding())
    before = len(fic_documents(sandbox))
    with pytest.raises(leases.LeaseLost):
        Documents(fic).ensure(order, "invoice")
    assert len(fic_documents(sandbox)) == before
    row = fic.store.document_for("42", "invoice", "")
    assert row is not None and row.fic_id is None  # left to the worker that holds it now
