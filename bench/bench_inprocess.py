"""Benchmarks that run inside one process: the ``order_paid`` hook's latency against the floor of
one SQLite INSERT + COMMIT in the same database file, and drawing the order panel.

Both use the reference shop's database (DemoShop answers the shop services) so the hook does what
it does in a shop: read the settings, look for a "send when paid" plan, write the job.
"""

from __future__ import annotations

import sqlite3
import statistics
import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from campaign import create_shop


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def _context(db: Path):
    from fic_demo.shop import DemoShop
    from fic_plugin.manager import get_plugin_manager
    from fic_plugin.plugin import CORE_NAME

    shop = DemoShop(db, seed=False)
    pm = get_plugin_manager([shop], load_entrypoints=False)
    return pm, pm.get_plugin(CORE_NAME).context, shop


def hook_latency(workdir: Path, events: int = 2000) -> dict[str, Any]:
    """p50/p99 of ``pm.hook.order_paid`` (automatic invoices on) vs INSERT + COMMIT alone."""
    db = workdir / "hook.db"
    create_shop(db, events, sandbox_url="http://127.0.0.1:9")  # never called: events only queue
    pm, context, shop = _context(db)
    orders = [shop.shop_get_order(str(i)) for i in range(1, events + 1)]
    for order in orders[:50]:  # warm up: connections, templates of SQL, the settings cache if any
        pm.hook.order_paid(order=order)
    context.store.db.execute("DELETE FROM fic_jobs")
    hook = []
    for order in orders:
        started = time.perf_counter_ns()
        pm.hook.order_paid(order=order)
        hook.append((time.perf_counter_ns() - started) / 1e6)
    queued = context.store.db.execute("SELECT COUNT(*) FROM fic_jobs").fetchone()[0]
    assert queued == events, f"{queued} jobs for {events} events"

    # The floor: what any durable write costs here, same file, same journal mode and busy timeout.
    conn = sqlite3.connect(db, isolation_level=None, timeout=30)
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE IF NOT EXISTS bench_floor (id INTEGER PRIMARY KEY, key TEXT UNIQUE, at TEXT)")
    for i in range(50):
        conn.execute("INSERT INTO bench_floor (key, at) VALUES (?, ?)", [f"warm:{i}", "x"])
    floor = []
    for i in range(events):
        started = time.perf_counter_ns()
        conn.execute("BEGIN")
        conn.execute("INSERT INTO bench_floor (key, at) VALUES (?, ?)", [f"auto:{i}", datetime.now().isoformat()])
        conn.execute("COMMIT")
        floor.append((time.perf_counter_ns() - started) / 1e6)
    conn.close()
    result = {"events": events, "hook_p50": percentile(hook, 50), "hook_p99": percentile(hook, 99),
              "floor_p50": percentile(floor, 50), "floor_p99": percentile(floor, 99)}
    result["ratio_p50"] = result["hook_p50"] / result["floor_p50"]
    result["ratio_p99"] = result["hook_p99"] / result["floor_p99"]
    return result


def panel_render(workdir: Path, renders: int = 300) -> dict[str, Any]:
    """p50 of ``order_panel_render`` for an order with every document it can have and a history.

    The schema allows one live document per order and type (a unique index, the last guard
    against duplicates), so "20 documents" is 6 documents here — one of each type — plus 14 jobs
    and the audit rows of 20 document operations, which the panel lists too.
    """
    from fic_plugin.model import DOCUMENT_TYPES, Document

    db = workdir / "panel.db"
    create_shop(db, 1, sandbox_url="http://127.0.0.1:9")
    pm, context, shop = _context(db)
    store = context.store
    for index, document_type in enumerate(DOCUMENT_TYPES):
        store.insert_document(Document(
            id=None, order_id="1", type=document_type, fic_id=10_001 + index, number=index + 1,
            numeration="" if document_type == "delivery_note" else "/A", date=date.today() - timedelta(days=index),
            status=("paid", "partly_paid", "not_paid")[index % 3], amount_due=Decimal("1234.56"),
            amount_paid=Decimal("100.00"), sent_at=datetime.now() if index % 2 else None,
            sent_to="mario.rossi@example.it" if index % 2 else None))
    for index in range(14):
        store.db.execute(
            "INSERT INTO fic_jobs (kind, key, order_id, args, state, attempts, run_after, last_error, created_at,"
            " updated_at) VALUES ('send', ?, '1', '{}', ?, 2, ?, ?, ?, ?)",
            [f"send:{index}", ("done", "failed", "pending")[index % 3], datetime.now().isoformat(),
             "Fatture in Cloud did not answer in time." if index % 3 == 1 else None,
             datetime.now().isoformat(), datetime.now().isoformat()])
    for index in range(20):
        store.audit("create", f"Fattura n. {index + 1}/A", order_id="1", document_id=1)
    order = shop.shop_get_order("1")
    html = pm.hook.order_panel_render(order=order)
    assert html.count('class="fic-doc"') == len(DOCUMENT_TYPES), "the panel should list every document"
    times = []
    for _ in range(renders):
        started = time.perf_counter_ns()
        pm.hook.order_panel_render(order=order)
        times.append((time.perf_counter_ns() - started) / 1e6)
    return {"renders": renders, "documents": len(DOCUMENT_TYPES), "jobs": 14, "p50": statistics.median(times),
            "p99": percentile(times, 99), "bytes": len(html)}
