"""A platform's per-shop plugin, as the shops registry's ``plugin`` names it
(``plugin = "platform_shop:shop_plugin"``, with this folder on the workers' ``PYTHONPATH``).

Each shop keeps its orders in its own PostgreSQL schema (the platform's table
``platform_orders``), beside the plugin's ``fic_`` tables in the same schema: one installed
plugin could not tell the shops apart, so the registry makes one of these per shop. Written the
way a platform would, with its own reading of the URL: nothing of the plugin's store is used.
The tests (``fic sync --all-shops``, the Celery workers) and ``make bench-scale`` (its PostgreSQL
shops) run it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql

from fic_plugin import hookimpl
from fic_plugin.model import Customer, Line, Order, Payment

CUSTOMER = {"name": "Mario Rossi", "first_name": "Mario", "last_name": "Rossi", "tax_code": "RSSMRA85M01H501Q",
            "email": "mario.rossi@example.it", "address_street": "Via Roma 1", "address_postal_code": "00100",
            "address_city": "Roma", "address_province": "RM"}
LINES = [{"name": "Olio extravergine di oliva 1 L", "qty": "2", "unit_price": "12.50", "vat_rate": "22"},
         {"name": "Spedizione", "qty": "1", "unit_price": "6.90", "vat_rate": "22", "kind": "shipping"}]
TOTAL = Decimal("38.92")  # (25.00 + 6.90) x 1.22


def schema_of(db_url: str) -> str:
    return dict(parse_qsl(urlsplit(db_url).query))["schema"]


def database_of(db_url: str) -> str:
    """The URL libpq takes: the shop's without ``schema``."""
    parts = urlsplit(db_url)
    return urlunsplit(parts._replace(query=urlencode([(k, v) for k, v in parse_qsl(parts.query) if k != "schema"])))


def connect(db_url: str) -> psycopg.Connection:
    """A new connection to the shop's schema (made if missing: the platform owns it)."""
    schema = schema_of(db_url)
    conn = psycopg.connect(database_of(db_url), autocommit=True)
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
    return conn


def add_paid_orders(db_url: str, count: int, *, prefix: str) -> None:
    with connect(db_url) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS platform_orders (id text PRIMARY KEY, number text NOT NULL,"
                     " paid_at timestamp, customer jsonb NOT NULL, lines jsonb NOT NULL)")
        for n in range(1, count + 1):
            conn.execute("INSERT INTO platform_orders VALUES (%s, %s, %s, %s, %s)",
                         [str(n), f"{prefix}-{n:04d}", datetime(2026, 11, 30, 9, 0, n),
                          json.dumps(CUSTOMER), json.dumps(LINES)])


_threads = threading.local()


def shared_connection(db_url: str) -> psycopg.Connection:
    """This thread's connection to the shop's database, shared by every shop in it (a schema
    each): a platform's pool in miniature. Opening a connection costs PostgreSQL a new backend,
    more than a job's queries, so it is not done per shop or per call; and since nothing is held
    per shop, there is nothing for ``shop_release`` to close."""
    database = database_of(db_url)
    connections = _threads.__dict__.setdefault("connections", {})
    conn = connections.get(database)
    if conn is None or conn.closed:
        conn = connections[database] = psycopg.connect(database, autocommit=True)
    return conn


class SchemaShop:
    """The ``shop_*`` hooks of one shop of the platform."""

    def __init__(self, db_url: str):
        self.db_url = db_url
        self.orders = sql.Identifier(schema_of(db_url), "platform_orders")

    @hookimpl
    def shop_get_order(self, order_id: str) -> Order | None:
        row = shared_connection(self.db_url).execute(
            sql.SQL("SELECT * FROM {} WHERE id = %s").format(self.orders), [order_id]).fetchone()
        return _order(row) if row else None

    @hookimpl
    def shop_paid_orders(self, since: datetime | None) -> Iterator[Order]:
        rows = shared_connection(self.db_url).execute(
            sql.SQL("SELECT * FROM {} WHERE paid_at IS NOT NULL AND paid_at >= %s ORDER BY paid_at").format(
                self.orders), [since or datetime(1970, 1, 1)]).fetchall()
        return iter([_order(row) for row in rows])


def _order(row: tuple) -> Order:
    order_id, number, paid_at, customer, lines = row
    return Order(id=order_id, number=number, customer=Customer(**customer), lines=[Line(**line) for line in lines],
                 created_at=datetime(2026, 11, 30, 8, 0), payments=[Payment(amount=TOTAL)] if paid_at else [],
                 paid_at=paid_at, status="paid" if paid_at else "pending")


def shop_plugin(shop) -> SchemaShop:
    """The registry's factory: called with the shop each time a worker opens it."""
    return SchemaShop(shop.db)
