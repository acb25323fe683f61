"""The store on both backends: SQLite (the embedded default) and PostgreSQL (the host's database).

Every test taking ``store`` or ``url`` runs twice; the PostgreSQL runs use a schema of their own
(``FIC_TEST_POSTGRES_URL``), dropped afterwards.
"""

import sqlite3
import threading
from datetime import UTC, datetime
from decimal import Decimal

import psycopg
import pytest
import sqlite_utils

from fic_plugin.cli import main
from fic_plugin.errors import SettingsError
from fic_plugin.manager import get_plugin_manager
from fic_plugin.model import Document
from fic_plugin.plugin import CORE_NAME
from fic_plugin.store import Store
from fic_plugin.store.migrations import MIGRATIONS
from fic_plugin.store.postgres import split_url
from shoptest import MemoryShop, postgres_schema

TABLES = {"fic_settings", "fic_secrets", "fic_meta", "fic_documents", "fic_jobs", "fic_sends", "fic_send_configs",
          "fic_audit", "fic_migrations"}


@pytest.fixture
def url(any_backend):
    return any_backend


@pytest.fixture
def store(url):
    store = Store(url)
    store.migrate()
    yield store
    store.close()


def test_migrate_creates_the_prefixed_tables(store):
    assert TABLES <= store.table_names()
    assert all(t.startswith("fic_") or t == "_sqlite_migrations" for t in store.table_names())
    if store.dialect == "sqlite":
        assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_running_migrations_again_is_a_no_op(url):
    first = Store(url)
    assert first.migrate() == [name for name, _ in MIGRATIONS]
    applied = first.execute("SELECT name, applied_at FROM fic_migrations ORDER BY name").fetchall()
    second = Store(url)
    assert second.migrate() == [] and second.pending_migrations() == []
    assert second.execute("SELECT name, applied_at FROM fic_migrations ORDER BY name").fetchall() == applied
    first.close(), second.close()


def test_opening_a_current_sqlite_database_waits_for_no_writer(tmp_path):
    """A worker opens a shop for each job it does not keep open: with the schema current that is
    one read, not a write lock per migration, so it never queues behind another process's long
    write (it used to wait up to the 30 s busy timeout)."""
    import sqlite3
    import threading

    path = tmp_path / "shop.db"
    Store(path).migrate()
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # another process in the middle of a write
    try:
        answers: list = []
        opening = threading.Thread(target=lambda: answers.append(Store(path).migrate()), daemon=True)
        opening.start()
        opening.join(5)
        assert answers == [[]], "migrate() waited for the other process's write lock"
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_a_blank_database_is_refused_until_fic_migrate(url, tmp_path):
    shop = MemoryShop.__new__(MemoryShop)  # a shop that skipped the install step
    shop.db_path, shop.orders = url, {}
    pm = get_plugin_manager([shop], load_entrypoints=False)
    with pytest.raises(SettingsError, match="fic migrate") as refused:
        pm.get_plugin(CORE_NAME).context  # noqa: B018 - building the context is the test
    assert Store(url).describe() in str(refused.value)
    assert "fic_jobs" not in Store(url).table_names()  # nothing migrated behind the owner's back
    assert main(["--db", url, "status"]) == 1  # the CLI says the same, in one line
    assert main(["--db", url, "migrate"]) == 0
    assert pm.get_plugin(CORE_NAME).context.store.pending_migrations() == []
    assert main(["--db", url, "settings", "set", "numeration", "B"]) == 0
    assert Store(url).raw_settings()["numeration"] == "/B"


def test_a_database_at_an_older_schema_says_so_then_migrates_keeping_its_rows(url, monkeypatch):
    import time

    old = Store(url)
    old.backend.ensure_schema()
    old.execute("CREATE TABLE IF NOT EXISTS fic_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    name, m001 = MIGRATIONS[0]
    m001(old)
    old.execute("INSERT INTO fic_migrations (name, applied_at) VALUES (?, ?)", [name, "2026-11-01T00:00:00"])
    # Rows as the first release wrote them: Italian local time, no offset.
    monkeypatch.setenv("TZ", "Europe/Rome")
    time.tzset()
    try:
        old.execute("INSERT INTO fic_jobs (kind, key, state, run_after, created_at, updated_at)"
                    " VALUES ('send', 'k', 'pending', '2026-10-25T02:30:00', '2026-07-01T12:00:00',"
                    " '2026-07-01T12:00:00')")
        with pytest.raises(SettingsError, match=r"m002_utc_timestamps.*fic migrate"):
            Store(url).check_schema()
        assert Store(url).migrate() == [name for name, _function in MIGRATIONS[1:]]
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    [job] = old.jobs.list()
    # 02:30 on the last Sunday of October is taken as its first occurrence (CEST).
    assert job.run_after == "2026-10-25T00:30:00.000000+00:00"
    assert old.execute("SELECT created_at FROM fic_jobs").fetchone()[0] == "2026-07-01T10:00:00.000000+00:00"
    Store(url).check_schema()
    old.close()


def test_a_database_migrated_by_the_first_release_is_recognised(tmp_path):
    """The first release recorded m001 in sqlite-utils' _sqlite_migrations table."""
    path = tmp_path / "shop.db"
    first = Store(path)
    first.backend.ensure_schema()
    MIGRATIONS[0][1](first)  # the first release's schema: m001 only
    first.close()
    db = sqlite_utils.Database(path)
    db.execute("CREATE TABLE _sqlite_migrations (id INTEGER PRIMARY KEY, migration_set TEXT, name TEXT,"
               " applied_at TEXT)")
    db.execute("INSERT INTO _sqlite_migrations (migration_set, name, applied_at) VALUES"
               " ('fic_plugin', 'm001_initial', '2026-11-01')")
    db.conn.commit()
    later = [name for name, _function in MIGRATIONS[1:]]
    assert later[0] == "m002_utc_timestamps"
    assert Store(path).pending_migrations() == later
    assert Store(path).migrate() == later


def test_migrations_leave_the_shops_own_tables_alone(tmp_path):
    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, total TEXT)")
        conn.execute("INSERT INTO orders VALUES (1, '10.00')")
    Store(path).migrate()
    assert sqlite_utils.Database(path).execute("SELECT total FROM orders").fetchone()[0] == "10.00"


def test_sqlite_urls_and_plain_paths_name_the_same_file(tmp_path):
    Store(f"sqlite:///{tmp_path / 'shop.db'}").migrate()
    assert Store(tmp_path / "shop.db").pending_migrations() == []
    with pytest.raises(SettingsError, match="sqlite:///"):
        Store("sqlite://shop.db")


def test_one_live_document_per_order_and_type(store):
    store.insert_document(Document(id=None, order_id="7", type="invoice"))
    with pytest.raises(store.IntegrityError):
        store.insert_document(Document(id=None, order_id="7", type="invoice"))
    assert len(store.documents("7")) == 1


def test_documents_round_trip_money_as_decimal_and_times_as_utc(store):
    doc = store.insert_document(Document(id=None, order_id="1", type="proforma", amount_due="1234.56",
                                         amount_paid="0.10", sent_at=datetime(2026, 11, 28, 9, 42, tzinfo=UTC)))
    loaded = store.document(doc.id)
    assert loaded.amount_due == Decimal("1234.56") and loaded.amount_paid == Decimal("0.10")
    assert loaded.sent_at == datetime(2026, 11, 28, 9, 42, tzinfo=UTC) and loaded.created_at.tzinfo is not None


def test_a_failed_transaction_writes_nothing(store):
    with pytest.raises(RuntimeError):
        with store.transaction():
            store.insert_document(Document(id=None, order_id="1", type="invoice"))
            store.enqueue("send", "k", order_id="1")
            raise RuntimeError("crash in the middle")
    assert store.documents() == [] and store.jobs.list() == []


def test_a_replayed_job_key_writes_nothing(store):
    assert store.enqueue("auto_document", "auto:1", order_id="1", args={"type": "invoice"})
    assert not store.enqueue("auto_document", "auto:1", order_id="1", args={"type": "receipt"})
    [job] = store.jobs.list()
    assert job.args == {"type": "invoice"} and job.state == "pending"


def test_two_workers_never_claim_the_same_job(url):
    """Eight threads, each with its own connection, race for twenty jobs: each is claimed once."""
    setup = Store(url)
    setup.migrate()
    for n in range(20):
        setup.enqueue("send", f"k{n}", order_id=str(n))
    ids = [job.id for job in setup.jobs.list()]
    claimed: list[tuple[str, int]] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        mine = Store(url)
        for job_id in ids:
            job = mine.jobs.claim(job_id, owner=name, lease_until="9999-12-31T00:00:00.000000+00:00",
                                  is_free=lambda owner, until: False)
            if job is not None:
                with lock:
                    claimed.append((name, job.id))
        mine.close()

    threads = [threading.Thread(target=worker, args=(f"w{n}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(job_id for _, job_id in claimed) == ids
    assert all(job.state == "running" and job.attempts == 1 for job in setup.jobs.list())
    setup.close()


def test_settings_secrets_and_meta_round_trip(store):
    store.write_settings({"numeration": "B", "vat_mapping": {"22": 0}})
    store.set_secret("fic_access_token", "a/secret")
    store.set_meta("paid_orders_watermark", "2026-11-28T10:00:00")
    assert store.raw_settings() == {"numeration": "B", "vat_mapping": {"22": 0}}
    assert store.get_secret("fic_access_token") == "a/secret" and store.get_meta("paid_orders_watermark")
    store.set_secret("fic_access_token", None)
    assert store.get_secret("fic_access_token") is None


def test_sends_and_audit_round_trip(store):
    row, fresh = store.sends.claim("auto:1:email", order_id="1", document_id=3, channel="smtp",
                                   recipients=("a@example.it",), subject="Fattura")
    again, fresh_again = store.sends.claim("auto:1:email", order_id="1", document_id=3, channel="smtp",
                                           recipients=("a@example.it",), subject="Fattura")
    assert fresh and not fresh_again and again["id"] == row["id"] and row["status"] == "queued"
    store.sends.mark_sent(row["id"], provider_id="p1", sent_at="2026-11-28T09:00:00.000000+00:00")
    assert [s["status"] for s in store.sends.for_document(3)] == ["sent"]
    store.sends.replace_on_paid_config("1", "invoice", {"emails": ["a@example.it"]})
    store.sends.replace_on_paid_config("1", "invoice", {"emails": ["b@example.it"]})
    assert store.sends.on_paid_config("1")["config"] == {"emails": ["b@example.it"]}
    store.audit("fic_request", "ok", order_id="1", method="POST", path="/c/1/issued_documents", status=200)
    [entry] = store.audit_log("1")
    assert entry["path"] == "/c/1/issued_documents" and entry["at"].endswith("+00:00")


def test_a_postgres_url_that_does_not_answer_is_one_clear_line(tmp_path, capsys):
    url = "postgresql://postgres@127.0.0.1:1/test?schema=nowhere"
    with pytest.raises(SettingsError, match="127.0.0.1:1") as refused:
        Store(url).migrate()
    assert "\n" not in str(refused.value) and "Traceback" not in str(refused.value)
    assert main(["--db", url, "migrate"]) == 1
    error = capsys.readouterr().err
    assert error.startswith("fic: ") and error.count("\n") == 1 and "127.0.0.1:1" in error


def test_postgres_tables_live_in_the_schema_named_by_the_url():
    with postgres_schema() as url:
        store = Store(url)
        store.migrate()
        schema = url.rsplit("schema=", 1)[1]
        with psycopg.connect(url.split("?")[0], autocommit=True) as conn:
            tables = {r[0] for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", [schema])}
        assert TABLES <= tables and "fic_jobs" not in store.describe()
        store.close()


def test_a_postgres_connection_dropped_by_the_server_is_replaced():
    with postgres_schema() as url:
        store = Store(url)
        store.migrate()
        pid = store.execute("SELECT pg_backend_pid()").fetchone()[0]
        with psycopg.connect(url.split("?")[0], autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        with pytest.raises(psycopg.OperationalError):
            store.execute("SELECT 1")  # the statement that finds the socket closed fails...
        assert store.execute("SELECT COUNT(*) FROM fic_jobs").fetchone()[0] == 0  # ...the next one reconnects
        store.close()


def test_a_closed_postgres_connection_serves_the_next_shop_of_the_database_in_its_own_schema():
    """A worker closes a shop's store after each slice of work: the idle connection is parked and
    the next shop of the same database takes it (no new server backend, about 8 ms of CPU), with
    its own search_path; one dropped while parked, or left in a failed transaction, is never used."""
    with postgres_schema() as first, postgres_schema() as second:
        a, b = Store(first), Store(second)
        for store in (a, b):
            store.migrate()
            store.close()
        a.enqueue("send", "only-in-a")
        backend = a.execute("SELECT pg_backend_pid()").fetchone()[0]
        a.close()
        assert b.execute("SELECT pg_backend_pid()").fetchone()[0] == backend  # the same session...
        assert b.execute("SELECT COUNT(*) FROM fic_jobs").fetchone()[0] == 0  # ...in b's schema
        b.close()
        plain = Store(first.split("?")[0])  # no schema: the server's default search_path again
        assert plain.execute("SELECT pg_backend_pid()").fetchone()[0] == backend
        assert plain.execute("SHOW search_path").fetchone()[0] == '"$user", public'
        plain.close()

        with psycopg.connect(first.split("?")[0], autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [backend])
        assert a.execute("SELECT COUNT(*) FROM fic_jobs").fetchone()[0] == 1  # a new session
        assert a.execute("SELECT pg_backend_pid()").fetchone()[0] != backend
        failed = a.execute("SELECT pg_backend_pid()").fetchone()[0]
        a.execute("BEGIN")
        with pytest.raises(psycopg.errors.UndefinedTable):
            a.execute("SELECT * FROM no_such_table")
        a.close()  # in a failed transaction: closed, not parked
        assert b.execute("SELECT pg_backend_pid()").fetchone()[0] != failed
        assert b.execute("SELECT COUNT(*) FROM fic_jobs").fetchone()[0] == 0
        b.close()


def test_a_forked_process_opens_its_own_postgres_connection():
    """gunicorn --preload forks after the app was built: parent and child never share a socket."""
    import os

    with postgres_schema() as url:
        store = Store(url)
        store.migrate()
        parent_pid = store.execute("SELECT pg_backend_pid()").fetchone()[0]
        child = os.fork()
        if child == 0:  # pragma: no cover - the child reports through its exit code
            try:
                same = store.execute("SELECT pg_backend_pid()").fetchone()[0] == parent_pid
                store.enqueue("send", "from-child")
                os._exit(1 if same else 0)
            except BaseException:
                os._exit(2)
        _, status = os.waitpid(child, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert store.execute("SELECT pg_backend_pid()").fetchone()[0] == parent_pid  # still usable
        assert [job.key for job in store.jobs.list()] == ["from-child"]
        store.close()


def test_a_forked_process_opens_its_own_sqlite_connection(tmp_path):
    import os

    store = Store(tmp_path / "shop.db")
    store.migrate()
    parent = store.db
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through its exit code
        try:
            store.enqueue("send", "from-child")
            os._exit(1 if store.db is parent else 0)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert store.db is parent and [job.key for job in store.jobs.list()] == ["from-child"]


def test_a_sqlite_files_change_mark_moves_with_each_commit_and_never_with_a_read(tmp_path, monkeypatch):
    """What lets a dispatcher leave an idle shop's file closed (fic_plugin.shop_marks)."""
    import time

    from fic_plugin.store import change_mark, sqlite

    path = tmp_path / "shop.db"
    assert change_mark(str(path)) is None  # no file yet
    writer = Store(path)
    writer.migrate()
    assert change_mark(str(path)) is None  # just written: file times are kept to the clock's tick
    monkeypatch.setattr(sqlite, "SETTLED_NS", 0)  # here: trust every mark, to see each commit move it
    time.sleep(0.05)
    before = change_mark(f"sqlite:///{path}")
    reader = Store(path)
    assert reader.jobs.count_open() == 0 and reader.raw_settings() is not None
    reader.close()
    assert change_mark(str(path)) == before  # reads (and closing a reader) leave it
    time.sleep(0.05)
    writer.settings_rows.set("numeration", "/B")
    assert change_mark(str(path)) != before  # a commit moves it
    writer.close()
    with postgres_schema() as pg_url:
        assert change_mark(pg_url) is None  # PostgreSQL has no mark that costs less than a query



def test_a_postgresql_job_rings_its_databases_bell_with_its_schema_at_commit_only():
    """What wakes a dispatcher's idle PostgreSQL shop (fic_plugin.shop_marks): NOTIFY fic_jobs
    with the schema, sent with the transaction that writes the job (the plugin's own connection
    or the host's), never for a job that was already there or a transaction rolled back."""
    import time

    from fic_plugin.store import job_bell, job_bell_address

    ours: set[str] = set()

    def heard(bell, seconds: float = 0.5) -> set[str]:
        """Which of this test's schemas the bell heard within ``seconds`` (a notification crosses a
        socket: not at once; the tests running beside this one ring for their own schemas in the
        same database, and the bell hears those too)."""
        deadline, got = time.monotonic() + seconds, set()
        while time.monotonic() < deadline:
            got |= bell.heard()
            time.sleep(0.02)
        return got & ours

    with postgres_schema() as first, postgres_schema() as second:
        database, schema = job_bell_address(first)
        assert job_bell_address(second)[0] == database and schema and job_bell_address("shop.db") is None
        ours.update({schema, job_bell_address(second)[1]})
        one, other = Store(first), Store(second)
        one.migrate()
        other.migrate()
        bell = job_bell(database)
        try:
            assert bell.heard() is None and bell.listening  # just opened: anything before is unheard
            assert heard(bell) == set()
            assert one.enqueue("auto_document", "k1", order_id="1")
            assert heard(bell) == {schema}
            assert not one.enqueue("auto_document", "k1", order_id="1")  # already there: no ring
            assert heard(bell) == set()
            host = psycopg.connect(split_url(first)[0], autocommit=False)  # the host's own transaction
            other.enqueue("auto_document", "k2", order_id="2", connection=host)
            assert heard(bell) == set()  # not before the host commits
            host.rollback()
            assert heard(bell) == set()
            other.enqueue("auto_document", "k3", order_id="3", connection=host)
            host.commit()
            host.close()
            assert heard(bell) == {job_bell_address(second)[1]}
            one.execute("UPDATE fic_jobs SET state = 'failed'")  # as a worker leaves a job that failed
            assert heard(bell) == set()
            assert one.jobs.requeue_failed() == 1
            assert heard(bell) == {schema}  # fic retry makes it due again
        finally:
            bell.close()
            one.close()
            other.close()
