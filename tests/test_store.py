import sqlite3

import sqlite_utils

from fic_plugin.model import Document
from fic_plugin.store import Store


def test_migrations_create_prefixed_tables_in_wal_mode(tmp_path):
    store = Store(tmp_path / "shop.db")
    store.migrate()
    tables = set(store.db.table_names())
    assert {"fic_settings", "fic_secrets", "fic_documents", "fic_jobs", "fic_sends", "fic_audit"} <= tables
    assert all(t.startswith("fic_") or t == "_sqlite_migrations" for t in tables)
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_running_migrations_again_is_a_no_op(tmp_path):
    path = tmp_path / "shop.db"
    Store(path).migrate()
    before = sqlite_utils.Database(path).execute("SELECT COUNT(*) FROM fic_migrations").fetchone()[0]
    schema = sqlite_utils.Database(path).execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall()
    assert Store(path).migrate() == []
    db = sqlite_utils.Database(path)
    assert db.execute("SELECT COUNT(*) FROM fic_migrations").fetchone()[0] == before
    assert db.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall() == schema
    assert Store(path).pending_migrations() == []


def test_migrations_leave_the_shops_own_tables_alone(tmp_path):
    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, total TEXT)")
        conn.execute("INSERT INTO orders VALUES (1, '10.00')")
    Store(path).migrate()
    assert sqlite_utils.Database(path).execute("SELECT total FROM orders").fetchone()[0] == "10.00"


def test_one_live_document_per_order_and_type(tmp_path):
    store = Store(tmp_path / "shop.db")
    store.migrate()
    store.insert_document(Document(id=None, order_id="7", type="invoice"))
    try:
        store.insert_document(Document(id=None, order_id="7", type="invoice"))
    except sqlite3.IntegrityError:
        pass
    else:
        raise AssertionError("a second invoice row for the same order was accepted")
    assert len(store.documents("7")) == 1


def test_documents_round_trip_money_as_decimal(tmp_path):
    from decimal import Decimal

    store = Store(tmp_path / "shop.db")
    store.migrate()
    doc = store.insert_document(Document(id=None, order_id="1", type="proforma", amount_due="1234.56",
                                         amount_paid="0.10"))
    loaded = store.document(doc.id)
    assert loaded.amount_due == Decimal("1234.56") and loaded.amount_paid == Decimal("0.10")


def test_a_failed_transaction_writes_nothing(tmp_path):
    store = Store(tmp_path / "shop.db")
    store.migrate()
    try:
        with store.transaction():
            store.insert_document(Document(id=None, order_id="1", type="invoice"))
            raise RuntimeError("crash in the middle")
    except RuntimeError:
        pass
    assert store.documents() == []
