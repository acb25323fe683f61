"""What the benchmarks and the fault campaign share: a demo shop full of paid orders, the FiC
sandbox in its own process, the worker (``fic sync``) as a subprocess, and the end-state counts.

Everything is real: the shop is the reference shop's SQLite file (so ``fic --db`` uses
DemoShop), the sandbox is ``fic sandbox`` on a free port, the worker is the ``fic`` command.
``tests/test_chaos_small.py`` and ``tests/test_worker_crash.py`` import this module too.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import requests

REPO = Path(__file__).resolve().parents[1]
#: examples/platform_shop.py: a platform's shops on PostgreSQL (their orders in its own tables).
EXAMPLES = REPO / "examples"
if str(EXAMPLES) not in sys.path:
    sys.path.insert(0, str(EXAMPLES))
TOKEN = "a/bench-access-token-7c21d0"
VAT_MAPPING = {"22": 0, "10": 3, "5": 54, "4": 4, "0": 6}
PAYMENT_MAPPING = {"bank_transfer": {"payment_method_id": 1, "payment_account_id": 1, "ei_payment_method": "MP05"},
                   "card": {"payment_method_id": 2, "payment_account_id": 2, "ei_payment_method": "MP08"}}
CUSTOMER = {
    "name": "Mario Rossi", "type": "person", "first_name": "Mario", "last_name": "Rossi",
    "tax_code": "RSSMRA85M01H501Q", "email": "mario.rossi@example.it", "phone": "+393331234567",
    "address_street": "Via Roma 1", "address_postal_code": "00100", "address_city": "Roma",
    "address_province": "RM", "country_iso": "IT",
}
#: (name, qty, unit price, VAT rate, discount): a typical grocery order, shipping added apart.
PRODUCTS = (
    ("Olio extravergine di oliva 1 L", "2", "12.50", "22", "0"),
    ("Pasta di Gragnano 500 g", "3", "2.10", "10", "10"),
)
SHIPPING = Decimal("6.90")
UNLIMITED = {"hourly": 10**8, "short_term": 10**8, "monthly": 10**9}


def fic_command() -> list[str]:
    """The ``fic`` console script of this interpreter's environment (the one users run)."""
    script = Path(sys.executable).with_name("fic")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from fic_plugin.cli import main; sys.exit(main())"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- the shop ------------------------------------------------------------------------------------


def create_shop(db_path: Path, orders: int, *, sandbox_url: str, first_id: int = 1,
                settings: dict[str, Any] | None = None) -> None:
    """A reference-shop database with ``orders`` paid orders (no documents yet) and the plugin's
    settings: automatic invoices on, the sandbox's VAT and payment mappings.

    Orders are written in one transaction with the demo shop's own tables, the way DemoShop
    stores them (orders, lines, payments, ``paid_at``), because creating 10,000 one by one would
    measure the demo shop rather than the plugin.
    """
    from fic_demo.shop import DemoShop
    from fic_demo.totals import order_totals
    from fic_plugin.model import Line

    shop = DemoShop(db_path, seed=False)
    now = datetime.now().replace(microsecond=0) - timedelta(hours=1)
    totals: dict[int, Decimal] = {}
    with shop.store.transaction() as db:
        customer_id = db["demo_customers"].insert({**CUSTOMER, "created_at": now.isoformat()}).last_pk
        order_rows, line_rows, payment_rows = [], [], []
        for order_id in range(first_id, first_id + orders):
            shape = order_id % 5  # a few different totals, so numbers and amounts vary
            lines = [Line(name=n, qty=str(int(q) + shape), unit_price=p, vat_rate=r, discount=d)
                     for n, q, p, r, d in PRODUCTS]
            if shape not in totals:
                shipping = Line(name="Spedizione", qty=1, unit_price=SHIPPING, vat_rate="22", kind="shipping")
                totals[shape] = order_totals([*lines, shipping], False).gross
            paid_at = (now + timedelta(milliseconds=order_id)).isoformat(timespec="microseconds")
            order_rows.append({
                "id": order_id, "number": f"B-{order_id:06d}", "customer_id": customer_id,
                "created_at": now.isoformat(timespec="microseconds"), "prices_include_vat": 0,
                "payment_method": "bank_transfer", "currency": "EUR", "shipping": str(SHIPPING),
                "total": str(totals[shape]), "paid_at": paid_at})
            line_rows.extend({"order_id": order_id, "position": i, "name": line.name, "code": None,
                              "qty": str(line.qty), "unit_price": str(line.unit_price),
                              "vat_rate": str(line.vat_rate), "discount": str(line.discount), "kind": "product"}
                             for i, line in enumerate(lines))
            payment_rows.append({"order_id": order_id, "amount": str(totals[shape]), "method": "bank_transfer",
                                 "paid_at": paid_at})
        db["demo_orders"].insert_all(order_rows, batch_size=500)
        db["demo_lines"].insert_all(line_rows, batch_size=500)
        db["demo_payments"].insert_all(payment_rows, batch_size=500)
    shop.store.close()
    write_settings(db_path, sandbox_url, settings)


def write_settings(db: Path | str, sandbox_url: str, settings: dict[str, Any] | None) -> None:
    """The plugin's settings of a bench shop: automatic invoices on, the sandbox's VAT and payment
    mappings and connection, then ``settings`` over them."""
    from fic_plugin.cli_shop import cli_context
    from fic_plugin.settings import update_settings

    context = cli_context(db)
    update_settings(context.store, {
        "auto_invoice": True, "vat_mapping": VAT_MAPPING, "payment_mapping": PAYMENT_MAPPING,
        "shop_name": "Bottega Bench", "fic_api_url": sandbox_url, "fic_company_id": 1,
        "fic_access_token": TOKEN, **(settings or {})})
    context.store.close()


def is_postgres(db: str | Path) -> bool:
    return str(db).startswith(("postgresql://", "postgres://"))


def create_platform_shop(url: str, orders: int, *, sandbox_url: str, prefix: str,
                         settings: dict[str, Any] | None = None) -> None:
    """A platform's shop on a PostgreSQL schema (``url`` names it: ``…?schema=NAME``): the
    plugin's tables migrated, the same settings as :func:`create_shop`, and ``orders`` paid orders
    in the platform's own table, which ``examples/platform_shop.py`` answers for."""
    from platform_shop import add_paid_orders

    from fic_plugin.store import Store

    store = Store(url)
    store.migrate()
    store.close()
    write_settings(url, sandbox_url, settings)
    add_paid_orders(url, orders, prefix=prefix)


def drop_schema(url: str) -> None:
    from platform_shop import connect, schema_of
    from psycopg import sql

    with connect(url) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema_of(url))))


# --- the sandbox and the worker as processes --------------------------------------------------------


class SandboxProcess:
    """``fic sandbox`` on a free port, with its state in a file; the side channel as methods."""

    def __init__(self, workdir: Path):
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.state = workdir / "sandbox.db"
        self.log = open(workdir / "sandbox.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> SandboxProcess:
        self.process = subprocess.Popen(
            [*fic_command(), "sandbox", "--port", str(self.port), "--state", str(self.state)],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                requests.get(self.url + "/__sandbox__/", timeout=1).raise_for_status()
                return self
            except requests.RequestException:
                if self.process.poll() is not None:
                    raise RuntimeError(f"fic sandbox exited with {self.process.returncode}") from None
                time.sleep(0.1)
        raise RuntimeError("fic sandbox did not start within 30 s")

    def __exit__(self, *exc_info: Any) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = requests.request(method, self.url + path, timeout=60, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    def documents(self) -> list[dict]:
        return self.call("GET", "/__sandbox__/documents")["data"]

    def limits_off(self) -> None:
        """No quota in the way, in the headers too.

        With its limits "off" the sandbox still counts against FiC's nominal 1,000/hour in the
        ``RateLimit-*`` headers, and the client believes them (as it must with the real FiC):
        past 1,000 requests the worker would wait for the hour to end. Limits far above the load
        refuse nothing and say so.
        """
        self.call("POST", "/__sandbox__/limits", json=UNLIMITED)

    def emails(self) -> list[dict]:
        return self.call("GET", "/__sandbox__/emails")["data"]

    def sdi_sends(self) -> dict[int, int]:
        """What the sandbox's SdI received: real sends by FiC document id."""
        return {int(k): v for k, v in self.call("GET", "/__sandbox__/sdi")["by_document"].items()}

    def stats(self) -> dict:
        return self.call("GET", "/__sandbox__/stats")


def worker_env(sandbox_url: str, *, read_timeout: float = 30.0, rate: dict[str, str] | None = None) -> dict[str, str]:
    """The worker's environment: pointed at the sandbox, pacing relaxed unless ``rate`` says."""
    env = {**os.environ, "FIC_API_URL": sandbox_url, "FIC_ACCESS_TOKEN": TOKEN, "FIC_COMPANY_ID": "1",
           "FIC_TIMEOUT_READ": str(read_timeout), "FIC_LANGUAGE": "en",
           # A killed worker's jobs are taken over after 5 s of silence (10 s by default): the
           # campaigns kill often, and every worker here is on one machine, beating every second.
           "FIC_WORKER_STALE_SECONDS": "5"}
    env.update(rate or {"FIC_RATE_HOURLY": "10000000", "FIC_RATE_SHORT_TERM": "10000000"})
    return env


def start_worker(db_path: Path, env: dict[str, str], *, once: bool = False, interval: float = 0.2,
                 stderr: Any = None) -> subprocess.Popen:
    args = [*fic_command(), "--db", str(db_path), "sync", "--no-progress"]
    args += ["--once"] if once else ["--interval", str(interval)]
    return subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=stderr or subprocess.DEVNULL)


def kill9(process: subprocess.Popen) -> None:
    """SIGKILL, no goodbye: leases, half-written rows and held requests stay as they are."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
    process.wait()


# --- the end state ---------------------------------------------------------------------------------


def read_db(db_path: Path | str, sql: str, params: tuple = ()) -> list[tuple]:
    """Rows of a shop database: a SQLite file, or a PostgreSQL schema's URL (``?`` placeholders)."""
    if is_postgres(db_path):
        from platform_shop import connect

        with connect(str(db_path)) as pg:
            return pg.execute(sql.replace("?", "%s"), params).fetchall()
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def jobs_by_state(db_path: Path | str) -> dict[str, int]:
    return dict(read_db(db_path, "SELECT state, COUNT(*) FROM fic_jobs GROUP BY state"))


@attrs.define
class Counts:
    """The campaign's verdict: what FiC holds, what the shop references, what was emailed."""

    orders: int
    invoices: int = 0
    local_references: int = 0
    emails: int = 0
    duplicates: int = 0
    pending_jobs: int = 0
    failed_jobs: int = 0
    sdi_sends: int = 0
    unreferenced: int = 0
    problems: list[str] = attrs.field(factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        return [f"invoices: {self.invoices}", f"local references: {self.local_references}",
                f"emails: {self.emails}", f"sdi sends: {self.sdi_sends}", f"duplicates: {self.duplicates}",
                f"pending jobs: {self.pending_jobs}",
                f"failed jobs: {self.failed_jobs}"]


def end_state(db_path: Path | str, documents: list[dict], emails: list[dict], orders: int,
              sdi_sends: dict[int, int] | None = None) -> Counts:
    """Compare the sandbox's documents, email log and SdI sends with the shop's references, order
    by order. ``sdi_sends`` (FiC id → sends) is checked when given: one per e-invoice."""
    live = [d for d in documents if not d.get("deleted")]
    invoices = [d for d in live if d["type"] == "invoice"]
    by_marker = Counter(d.get("subject") for d in invoices)
    by_number = Counter((d.get("numeration") or "", str(d.get("date"))[:4], d.get("number")) for d in invoices)
    refs = read_db(db_path, "SELECT order_id, fic_id FROM fic_documents WHERE type = 'invoice' AND fic_id IS NOT NULL")
    sent = Counter(e["document_id"] for e in emails)
    jobs = jobs_by_state(db_path)
    counts = Counts(orders=orders, invoices=len(invoices), local_references=len(refs), emails=len(emails),
                    duplicates=sum(n - 1 for n in by_marker.values()) + sum(n - 1 for n in by_number.values()),
                    pending_jobs=jobs.get("pending", 0) + jobs.get("running", 0), failed_jobs=jobs.get("failed", 0))
    invoice_ids = {d["id"] for d in invoices}
    referenced = {fic_id for _order, fic_id in refs}
    counts.unreferenced = len(invoice_ids - referenced)
    if sdi_sends is not None:
        counts.sdi_sends = sum(sdi_sends.values())
    checks = [
        (counts.invoices == orders, f"{counts.invoices} invoices in FiC for {orders} paid orders"),
        (counts.local_references == orders, f"{counts.local_references} local references for {orders} orders"),
        (len({o for o, _f in refs}) == len(refs), "an order references two invoices"),
        (referenced == invoice_ids, f"{counts.unreferenced} FiC invoices no order references, "
                                    f"{len(referenced - invoice_ids)} references to no live invoice"),
        (counts.duplicates == 0, f"{counts.duplicates} duplicated markers or numbers"),
        (set(sent) == invoice_ids and all(n == 1 for n in sent.values()),
         f"{counts.emails} emails for {counts.invoices} invoices "
         f"(emailed twice: {sum(1 for n in sent.values() if n > 1)}, never: {len(invoice_ids - set(sent))})"),
        (sdi_sends is None or (set(sdi_sends) == invoice_ids and set(sdi_sends.values()) <= {1}),
         f"{counts.sdi_sends} SdI sends for {counts.invoices} invoices (sent twice: "
         f"{sum(1 for n in (sdi_sends or {}).values() if n > 1)}, never: {len(invoice_ids - set(sdi_sends or {}))})"),
        (counts.pending_jobs == 0, f"{counts.pending_jobs} jobs still pending"),
        (counts.failed_jobs == 0, f"{counts.failed_jobs} jobs failed"),
    ]
    counts.problems = [message for ok, message in checks if not ok]
    return counts


def rss_peak_kib(pid: int) -> int:
    """VmHWM of a live process (Linux): its peak resident memory so far, 0 once it is gone."""
    return status_kib(pid, "VmHWM")


def status_kib(pid: int, field: str) -> int:
    """A KiB field of a live process's ``/proc/PID/status`` (Linux), 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def wait_with_peak_rss(process: subprocess.Popen, every: float = 0.1) -> tuple[int, int]:
    """Wait for ``process``; return (exit code, peak RSS in KiB).

    Read from the process itself while it runs (the high-water mark only grows), not from the
    kernel's accounting at exit: that counts the parent's memory at fork time as the child's.
    """
    peak = 0
    while process.poll() is None:
        peak = max(peak, rss_peak_kib(process.pid))
        time.sleep(every)
    return process.returncode, peak
