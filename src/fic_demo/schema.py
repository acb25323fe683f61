"""The demo shop's own tables, next to the plugin's ``fic_`` ones in the same SQLite file.

A real shop has its own schema; these exist so that the demo is a working shop. Amounts are
stored as decimal text (SQLite has no decimal type, and a REAL would lose cents).
"""

from __future__ import annotations

import sqlite_utils

TABLES: dict[str, dict] = {
    "demo_customers": {
        "columns": {
            "id": int, "name": str, "type": str, "first_name": str, "last_name": str,
            "vat_number": str, "tax_code": str, "email": str, "pec": str, "sdi_code": str,
            "phone": str, "address_street": str, "address_postal_code": str, "address_city": str,
            "address_province": str, "country_iso": str, "created_at": str,
        },
        "not_null": {"name", "type", "country_iso", "created_at"},
    },
    "demo_orders": {
        "columns": {
            "id": int, "number": str, "customer_id": int, "created_at": str,
            "prices_include_vat": int, "payment_method": str, "currency": str, "shipping": str,
            # An OSS sale (EU consumer taxed at their country's rate): 1, else 0.
            "oss": int,
            # What the customer must pay, fixed when the order is placed (see demo/totals.py).
            "total": str,
            # Set once, when the payments first cover the total: the order is then "paid".
            "paid_at": str,
            # A public administration's purchase order: tender and project codes, number, date.
            "cig": str, "cup": str, "po_number": str, "po_date": str,
        },
        "not_null": {"number", "customer_id", "created_at", "prices_include_vat", "payment_method",
                     "currency", "shipping", "total"},
        "foreign_keys": [("customer_id", "demo_customers", "id")],
    },
    "demo_lines": {
        "columns": {
            "id": int, "order_id": int, "position": int, "name": str, "code": str, "qty": str,
            "unit_price": str, "vat_rate": str, "discount": str, "kind": str,
        },
        "not_null": {"order_id", "position", "name", "qty", "unit_price", "vat_rate", "discount", "kind"},
        "foreign_keys": [("order_id", "demo_orders", "id")],
    },
    "demo_refunds": {
        # lines: JSON [{"line_index": 0, "qty": "1"}], empty for a refund of an amount.
        "columns": {"id": int, "order_id": int, "amount": str, "reason": str, "lines": str, "refunded_at": str},
        "not_null": {"order_id", "amount", "lines", "refunded_at"},
        "foreign_keys": [("order_id", "demo_orders", "id")],
    },
    "demo_payments": {
        "columns": {"id": int, "order_id": int, "amount": str, "method": str, "paid_at": str},
        "not_null": {"order_id", "amount", "method", "paid_at"},
        "foreign_keys": [("order_id", "demo_orders", "id")],
    },
}


def create_tables(db: sqlite_utils.Database) -> bool:
    """Create the missing ``demo_`` tables and indexes; return True when the shop is brand new.

    Runs inside the caller's transaction, so two processes starting at once do not both seed.
    """
    if _complete(db):  # every opening of the shop comes here: one query instead of the DDL walk
        return False
    fresh = not db["demo_orders"].exists()
    for name, spec in TABLES.items():
        db.create_table(name, spec["columns"], pk="id", not_null=spec["not_null"],
                        foreign_keys=spec.get("foreign_keys"), if_not_exists=True)
    if "oss" not in db["demo_orders"].columns_dict:  # a shop file from before OSS orders
        db["demo_orders"].add_column("oss", int)
    for name, spec in TABLES.items():
        # A shop file made before a column existed gets it (empty) instead of failing.
        have = {column.name for column in db[name].columns}
        for column, kind in spec["columns"].items():
            if column not in have:
                db[name].add_column(column, kind)
    db.execute("CREATE UNIQUE INDEX IF NOT EXISTS demo_orders_number ON demo_orders(number)")
    # shop_paid_orders pages through paid orders by (paid_at, id).
    db.execute("CREATE INDEX IF NOT EXISTS demo_orders_paid ON demo_orders(paid_at, id)")
    db.execute("CREATE INDEX IF NOT EXISTS demo_lines_order ON demo_lines(order_id, position)")
    db.execute("CREATE INDEX IF NOT EXISTS demo_payments_order ON demo_payments(order_id, id)")
    return fresh


INDEXES = {"demo_orders_number", "demo_orders_paid", "demo_lines_order", "demo_payments_order"}


def _complete(db: sqlite_utils.Database) -> bool:
    """Every table, column and index above is there already (a worker serving many shops opens
    one for each job: walking the tables with sqlite-utils was half the cost of opening it)."""
    rows = db.execute(
        "SELECT m.type, m.name, c.name FROM sqlite_master AS m LEFT JOIN pragma_table_info(m.name) AS c"
        " ON m.type = 'table' WHERE m.name LIKE 'demo%'").fetchall()
    have = {(table, column) for kind, table, column in rows if kind == "table"}
    indexes = {name for kind, name, _column in rows if kind == "index"}
    return INDEXES <= indexes and all((table, column) in have
                                      for table, spec in TABLES.items() for column in spec["columns"])
