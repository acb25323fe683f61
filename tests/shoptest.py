"""Test helpers shared by the suite: a tiny in-memory shop, realistic orders, sandbox calls.

A plain module (not conftest) so test modules can import it by name.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from fic_plugin import hookimpl
from fic_plugin.model import Customer, Line, Order, Payment
from fic_plugin.store import Store

SHARED_OPENAPI = Path(__file__).resolve().parents[1].parent / "shared" / "fic-openapi"

TEST_TOKEN = "a/test-access-token-5f1c9e"


class MemoryShop:
    """A shop whose orders live in a dict; implements the shop services for tests."""

    def __init__(self, db_path: Path):
        self.db_path = db_path
        # As a host does once at install (``fic migrate``): contexts never migrate by themselves.
        store = Store(db_path)
        store.migrate()
        store.close()
        self.orders: dict[str, Order] = {}
        self.sent_emails: list = []

    def add(self, order: Order) -> Order:
        self.orders[order.id] = order
        return order

    @hookimpl
    def shop_database(self) -> str:
        return str(self.db_path)

    @hookimpl
    def shop_get_order(self, order_id: str) -> Order | None:
        return self.orders.get(str(order_id))

    @hookimpl
    def shop_paid_orders(self, since: datetime | None):
        return sorted(
            (o for o in self.orders.values() if o.paid_at and (since is None or o.paid_at >= since)),
            key=lambda o: o.paid_at,
        )

    @hookimpl
    def shop_order_url(self, order: Order) -> str:
        return f"https://negozio.example.it/ordini/{order.id}"

    @hookimpl
    def shop_is_admin(self, environ) -> bool:
        return True


def make_order(order_id: str = "1", *, paid: bool = False, lines: tuple[Line, ...] | None = None,
               customer: Customer | None = None, **kwargs) -> Order:
    """A realistic Italian B2C order: 2 products at 22% and 10%, shipping."""
    lines = lines or (
        Line(name="Olio extravergine di oliva 1 L", qty="2", unit_price="12.50", vat_rate="22"),
        Line(name="Pasta di Gragnano 500 g", qty="3", unit_price="2.10", vat_rate="10", discount="10"),
        Line(name="Spedizione", qty="1", unit_price="6.90", vat_rate="22", kind="shipping"),
    )
    customer = customer or Customer(
        name="Mario Rossi", type="person", first_name="Mario", last_name="Rossi",
        tax_code="RSSMRA85M01H501Q", email="mario.rossi@example.it", phone="+393331234567",
        address_street="Via Roma 1", address_postal_code="00100", address_city="Roma",
        address_province="RM", country_iso="IT")
    order = Order(id=order_id, number=f"10{order_id}", customer=customer, lines=lines,
                  created_at=datetime(2026, 11, 20, 10, 30), **kwargs)
    if paid:
        total = order_total(order)
        order = Order(**{**_fields(order), "payments": (Payment(amount=total, method=order.payment_method),),
                         "paid_at": datetime.now(), "status": "paid"})
    return order


def _fields(order: Order) -> dict:
    import attrs

    return {f.name: getattr(order, f.name) for f in attrs.fields(Order)}


def order_total(order: Order) -> Decimal:
    """What the customer pays, by the rules of docs/totals.md (net prices, no rivalsa)."""
    from fic_plugin.payload import expected_totals
    from fic_plugin.settings import Settings

    return expected_totals(order, Settings()).amount_due


#: The sandbox's seeded ids (FiC's usual ones): 22% is 0, 10% is 3, 5% is 54, 4% is 4, 0% N2.2 is 6.
SANDBOX_VAT_MAPPING = {"22": 0, "10": 3, "5": 54, "4": 4, "0": 6}
SANDBOX_PAYMENT_MAPPING = {
    "bank_transfer": {"payment_method_id": 1, "payment_account_id": 1},
    "card": {"payment_method_id": 2, "payment_account_id": 2},
}


def sandbox_call(sandbox, method: str, path: str, **kwargs):
    import requests

    headers = {"Authorization": f"Bearer {TEST_TOKEN}", **kwargs.pop("headers", {})}
    response = requests.request(method, sandbox.url + path, timeout=10, headers=headers, **kwargs)
    response.raise_for_status()
    return response.json() if response.content else None


def reset_sandbox(sandbox, *knobs: str) -> None:
    """A sandbox as new: no documents, emails or stats, and each side-channel knob named
    (``faults``, ``limits``, ``sdi``, ``webhooks``) back to its defaults."""
    sandbox_call(sandbox, "POST", "/__sandbox__/reset")
    for knob in knobs:
        sandbox_call(sandbox, "DELETE", f"/__sandbox__/{knob}")


def fic_documents(sandbox, *, include_deleted: bool = False) -> list[dict]:
    """Every document the sandbox holds (the side channel), live ones by default."""
    answer = sandbox_call(sandbox, "GET", "/__sandbox__/documents")
    rows = answer["data"] if isinstance(answer, dict) else answer
    return [r for r in rows if include_deleted or not r.get("deleted")]


def sandbox_emails(sandbox) -> list[dict]:
    answer = sandbox_call(sandbox, "GET", "/__sandbox__/emails")
    return answer["data"] if isinstance(answer, dict) else answer


def with_payments(order: Order, *amounts: str) -> Order:
    """The order with these payments; paid when they cover its total."""
    import attrs

    payments = tuple(Payment(amount=a, method="bank_transfer", paid_at=datetime(2026, 11, 21, 9, 0))
                     for a in amounts)
    paid = sum((p.amount for p in payments), Decimal("0"))
    return attrs.evolve(order, payments=payments,
                        paid_at=datetime.now() if paid >= order_total(order) else None)


POSTGRES_URL = os.environ.get("FIC_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


#: What a client says when nobody listens: the one case where a service test may skip.
NO_SERVER = ("connection refused", "could not connect", "timeout expired", "name or service not known",
             "no such file or directory")


def skip_only_if_no_server(service: str, url: str, variable: str, error: Exception) -> None:
    """Skip (one line) when no server listens at ``url``; fail when one answers but refuses us
    (too many clients, bad credentials): a server that is there must run its tests."""
    import pytest

    if any(words in str(error).lower() for words in NO_SERVER):
        pytest.skip(f"{service} does not answer at {url}: set {variable}")
    pytest.fail(f"{service} at {url} answered but refused the test: {error}")


def redis_or_skip(url: str):
    """A client of the Redis at ``url`` (``FIC_TEST_REDIS_URL``'s server), after a ping: skipped
    (one line) when no server listens there, failed when one answers but refuses us."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        skip_only_if_no_server("Redis", url, "FIC_TEST_REDIS_URL", error)
    return client


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A database URL on a fresh PostgreSQL schema of this test's own, dropped afterwards.

    Skips (one line) only when the server does not answer.
    """
    import psycopg

    try:
        admin = psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        skip_only_if_no_server("PostgreSQL", POSTGRES_URL, "FIC_TEST_POSTGRES_URL", error)
    schema = f"fic_test_{uuid.uuid4().hex[:12]}"
    separator = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{separator}schema={schema}"
    finally:
        admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.close()


def database_url(backend: str, tmp_path: Path, stack) -> str:
    """The shop database for ``backend`` (``sqlite`` or ``postgresql``); ``stack`` an ExitStack."""
    if backend == "sqlite":
        return str(tmp_path / "shop.db")  # the plain path most hosts give (sqlite:/// is tested apart)
    return stack.enter_context(postgres_schema())


def sdi_sends(store) -> dict[str, int]:
    """``e_invoice/send`` POSTs that reached FiC, by path, from the plugin's request log: a 200,
    or no answer at all (FiC acted, the answer was lost). 500s and 429s come before FiC acts; a
    second send of a sent invoice would be a 409 and is counted too, as the failure it is."""
    rows = store.db.execute(
        "SELECT path, status FROM fic_audit WHERE action = 'fic_request' AND method = 'POST'"
        " AND path LIKE '%/e_invoice/send'").fetchall()
    counts: dict[str, int] = {}
    for path, status in rows:
        if status in (None, 200, 409):
            counts[path] = counts.get(path, 0) + 1
    return counts


def pay_new_order(db: str | Path, *, fire: bool = True) -> None:
    """A new order paid in a demo shop's file, its events fired through the plugin as the shop's
    own process would: the ``order_paid`` job is written in the file, nothing else is run. With
    ``fire=False`` no event is fired (the shop's process lost it): only the periodic check finds it."""
    from fic_demo.parse import NewOrder
    from fic_demo.shop import DemoShop
    from fic_plugin.cli_shop import cli_context

    context = cli_context(db)
    try:
        shop = next(p for p in context.pm.get_plugins() if isinstance(p, DemoShop))
        order = shop.create_order(NewOrder(
            customer=Customer(name="Anna Neri", first_name="Anna", last_name="Neri", tax_code="NRENNA80A41H501T",
                              email="anna.neri@example.it"),
            lines=(Line(name="Miele di acacia 500 g", qty="1", unit_price="7.00", vat_rate="10"),)))
        assert shop.record_payment(order.id, shop.totals(order).gross, "bank_transfer", fire=fire).became_paid
    finally:
        context.pm.hook.shop_release()
        context.store.close()


def until_quiet(calls: list, window: float = 3.0, limit: float = 40.0) -> None:
    """Until a whole ``window`` goes by with nothing added to ``calls`` (the shops a loop opened,
    cleared before each window): the idle shops settled and are left closed. Fails after ``limit``
    seconds: a loop that keeps opening idle shops (every 2 s, as the dispatcher did) never gets
    there. Waiting for it rather than for a fixed time: on a loaded machine the heartbeats stop
    and the files settle later."""
    import time

    deadline = time.monotonic() + limit
    while True:
        calls.clear()
        time.sleep(window)
        if not calls:
            return
        assert time.monotonic() < deadline, f"idle shops still opened after {limit:.0f} s: {calls}"
