"""Many shops on one installation: the shops registry, ``fic sync --all-shops`` round-robin on the
embedded engine, one shop's failure never stopping the others, ``fic status --all-shops``."""

from __future__ import annotations

import json
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest

from fic_plugin import hookimpl
from fic_plugin.cli import main
from fic_plugin.shop_registry import RegistryError, load_registry
from fic_sandbox.server import SandboxServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
# examples/platform_shop.py: a platform's per-shop plugin (the workers get this sys.path too).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

from campaign import TOKEN, create_shop, end_state, jobs_by_state, read_db  # noqa: E402

#: These shops measure the engine: plain invoices (no SdI send job, no verify + send requests), so
#: job counts and throughput read as one job per order.
PLAIN = {"e_invoice": False}


@pytest.fixture
def sandbox(monkeypatch):
    for name in ("FIC_API_URL", "FIC_ACCESS_TOKEN", "FIC_COMPANY_ID", "FIC_SHOPS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FIC_LANGUAGE", "en")
    with SandboxServer(many_companies=True, token=TOKEN) as server:
        yield server


def write_registry(path: Path, rows: list[dict]) -> Path:
    lines = []
    for row in rows:
        lines.append("[[shop]]")
        lines.extend(f"{key} = {json.dumps(value)}" for key, value in row.items())
    path.write_text("\n".join(lines) + "\n")
    return path


def company_documents(sandbox, cid):
    import requests

    return requests.get(f"{sandbox.url}/__sandbox__/documents", params={"company_id": cid}, timeout=10).json()["data"]


def company_emails(sandbox, cid):
    import requests

    return requests.get(f"{sandbox.url}/__sandbox__/emails", params={"company_id": cid}, timeout=10).json()["data"]


@pytest.mark.parametrize(("rows", "words"), [
    ([{"id": "a", "db": "a.db"}, {"id": "a", "db": "b.db"}], ["a", "twice"]),
    ([{"id": "a", "db": "x.db"}, {"id": "b", "db": "x.db"}], ["same database", "a", "b"]),
    ([{"id": "a"}], ["db"]),
    ([{"id": "a", "db": "a.db", "enabled": "yes"}], ["enabled"]),
    ([{"id": "a", "db": "a.db", "company_id": -3}], ["company_id"]),
    ([{"id": "a", "db": "a.db", "colour": "red"}], ["colour"]),
])
def test_a_wrong_registry_is_refused_naming_the_shop_and_field(tmp_path, rows, words, english):
    registry = write_registry(tmp_path / "shops.toml", rows)
    with pytest.raises(RegistryError) as raised:
        load_registry(registry)
    assert all(word in str(raised.value) for word in words), str(raised.value)


def test_a_missing_registry_says_how_to_give_one(tmp_path, english):
    with pytest.raises(RegistryError, match="--shops"):
        load_registry(tmp_path / "nowhere.toml")


def test_json_registry_is_read_too(tmp_path):
    (tmp_path / "shops.json").write_text(json.dumps({"shops": [{"id": "a", "db": "a.db", "queue": "web-2"}]}))
    [shop] = load_registry(tmp_path / "shops.json")
    assert shop.id == "a" and shop.enabled and shop.engine_queue() == "fic-web-2"


def test_sync_all_shops_serves_every_shop_and_a_bad_one_stops_none(sandbox, tmp_path, capsys):
    create_shop(tmp_path / "small.db", 3, sandbox_url=sandbox.url, settings={"fic_company_id": 11, **PLAIN})
    create_shop(tmp_path / "big.db", 12, sandbox_url=sandbox.url, settings={"fic_company_id": 12, **PLAIN})
    create_shop(tmp_path / "badtoken.db", 2, sandbox_url=sandbox.url,
                settings={"fic_company_id": 13, "fic_access_token": "a/not-the-token", **PLAIN})
    create_shop(tmp_path / "other.db", 2, sandbox_url=sandbox.url, settings={"fic_company_id": 14, **PLAIN})
    (tmp_path / "broken.db").write_bytes(b"this is not a database at all" * 100)
    registry = write_registry(tmp_path / "shops.toml", [
        {"id": "big", "db": str(tmp_path / "big.db")},
        {"id": "small", "db": str(tmp_path / "small.db"), "company_id": 11},
        {"id": "badtoken", "db": str(tmp_path / "badtoken.db")},
        {"id": "gone", "db": str(tmp_path / "gone.db")},
        {"id": "broken", "db": str(tmp_path / "broken.db")},
        {"id": "wrongco", "db": str(tmp_path / "other.db"), "company_id": 99},
        {"id": "off", "db": str(tmp_path / "off.db"), "enabled": False},
    ])
    code = main(["sync", "--all-shops", "--shops", str(registry), "--once", "--concurrency", "3"])
    captured = capsys.readouterr()
    assert code == 1  # some shops could not be served: cron and systemd see it
    for cid, db, orders in ((11, "small.db", 3), (12, "big.db", 12)):
        counts = end_state(tmp_path / db, company_documents(sandbox, cid), company_emails(sandbox, cid), orders)
        assert counts.ok, counts.problems
    assert company_documents(sandbox, 13) == [] and jobs_by_state(tmp_path / "badtoken.db") == {"failed": 2}
    assert "gone" in captured.err and "does not exist" in captured.err
    assert "broken" in captured.err
    assert "wrongco" in captured.err and "company 14, not 99" in captured.err
    assert jobs_by_state(tmp_path / "other.db") == {}  # nothing run in the database of another company
    assert "15 done" in captured.out and "2 failed" in captured.out and "3 unavailable" in captured.out

    assert main(["--json", "status", "--all-shops", "--shops", str(registry)]) == 0
    rows = {row["shop"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["big"]["done"] == 12 and rows["big"]["queued"] == 0 and rows["big"]["drain_seconds"] == 0
    assert rows["badtoken"]["failed"] == 2 and "error" in rows["gone"] and rows["off"]["enabled"] is False


def test_status_all_shops_gives_the_time_to_drain_at_the_quota(sandbox, tmp_path, capsys, monkeypatch):
    create_shop(tmp_path / "a.db", 50, sandbox_url=sandbox.url, settings={"fic_company_id": 21, **PLAIN})
    registry = write_registry(tmp_path / "shops.toml", [{"id": "a", "db": str(tmp_path / "a.db")}])
    from fic_plugin.multishop import run_turn
    from fic_plugin.shop_registry import load_registry as load

    [shop] = load(registry)
    from fic_plugin.multishop import ShopTally

    run_turn(shop, ShopTally(), check=True, limit=0)  # the periodic check queues 50 jobs, runs none
    assert main(["status", "--all-shops", "--shops", str(registry)]) == 0
    out = capsys.readouterr().out
    # 50 jobs x 3 requests at FiC's 1,000 an hour (over an hour the tighter of the two): 9 minutes.
    assert "a " in out and " 50 " in out and "9 min" in out


def test_postgresql_shops_in_the_registry(tmp_path, capsys, monkeypatch, english):
    """Shops on PostgreSQL schemas: served from any machine (the shared queue), checked like files."""
    from fic_plugin.cli_shop import cli_context
    from fic_plugin.settings import update_settings
    from fic_plugin.shops import ShopUnavailable, open_shop
    from shoptest import postgres_schema

    for name in ("FIC_API_URL", "FIC_ACCESS_TOKEN", "FIC_COMPANY_ID"):
        monkeypatch.delenv(name, raising=False)
    with postgres_schema() as first, postgres_schema() as second:
        for url, company in ((first, 81), (second, 82)):
            assert main(["--db", url, "migrate"]) == 0
            context = cli_context(url)
            update_settings(context.store, {"fic_company_id": company})
            context.store.close()
        capsys.readouterr()
        registry = write_registry(tmp_path / "shops.toml", [
            {"id": "pg-a", "db": first, "company_id": 81}, {"id": "pg-b", "db": second, "company_id": 81}])
        shops = load_registry(registry)
        assert [shop.engine_queue() for shop in shops] == ["fic", "fic"]
        open_shop(shops[0]).store.close()
        with pytest.raises(ShopUnavailable, match="company 82, not 81"):
            open_shop(shops[1])
        assert main(["--json", "status", "--all-shops", "--shops", str(registry)]) == 0
        rows = {row["shop"]: row for row in json.loads(capsys.readouterr().out)}
        assert rows["pg-a"]["queued"] == 0 and "82" in rows["pg-b"]["error"]


def test_a_worker_keeps_a_shops_context_between_jobs_and_checks_it_on_every_use(sandbox, tmp_path, english):
    """``OpenShops``: the context (plugins, FiC client and its lookups) is reused between jobs; a
    shop whose database changed company or disappeared is refused on its next use, a changed
    token gives a new client, and at most ``size`` shops are kept."""
    from fic_plugin.fic.errors import AuthenticationRequired
    from fic_plugin.settings import update_settings
    from fic_plugin.shops import OpenShops, ShopUnavailable

    for name, cid in (("a", 31), ("b", 32)):
        create_shop(tmp_path / f"{name}.db", 1, sandbox_url=sandbox.url, settings={"fic_company_id": cid, **PLAIN})
    shop_a, shop_b = load_registry(write_registry(tmp_path / "shops.toml", [
        {"id": "a", "db": str(tmp_path / "a.db"), "company_id": 31},
        {"id": "b", "db": str(tmp_path / "b.db"), "company_id": 32}]))
    shops = OpenShops(size=1)
    with shops.use(shop_a) as context:
        client = context.client
        client.vat_types()
    with shops.use(shop_a) as again:
        assert again is context and again.client is client
        again.client.vat_types()
    assert len(shops) == 1
    with shops.use(shop_b) as other:
        assert other is not context
    assert len(shops) == 1  # a was let go
    with shops.use(shop_a) as reopened:
        assert reopened is not context
        old_client = reopened.client
        # The lookups outlive the context: a worker serving more shops than it keeps open
        # reopens them for most jobs, and must not ask FiC for the VAT types every time.
        reopened.client.vat_types()
        assert vat_type_requests(reopened) == 1
        reopened.store.set_secret("fic_access_token", TOKEN + "x")
    with shops.use(shop_a) as fresh:
        assert fresh is reopened and fresh.client is not old_client  # the new token's client
        # Other credentials never read the lookups cached for these: FiC refuses this token.
        with pytest.raises(AuthenticationRequired):
            fresh.client.vat_types()
        update_settings(fresh.store, {"fic_company_id": 99})
    with pytest.raises(ShopUnavailable, match="company 99, not 31"), shops.use(shop_a):
        pass
    (tmp_path / "b.db").unlink()
    with pytest.raises(ShopUnavailable, match="does not exist"), shops.use(shop_b):
        pass


class SharedLookups:
    """A ``SharedStore`` in this process's memory: what Redis is to the workers of a platform."""

    def __init__(self) -> None:
        self.values: dict = {}

    def get(self, key):
        return self.values.get(key)

    def put(self, key, value, ttl) -> None:
        self.values[key] = value

    def forget(self, scope) -> None:
        self.values = {k: v for k, v in self.values.items() if k[:1] != (scope,)}


def test_a_worker_with_shared_lookups_keeps_only_its_open_shops_worth_in_memory(sandbox, tmp_path):
    """Worker memory stays flat however many companies it serves: with a shared store the
    worker's own cache holds LOOKUPS_PER_SHOP entries per kept shop; a company's lookups it let
    go are read back from the store, not asked of FiC. Without a store every company's are kept."""
    from fic_plugin.fic.lookups import SHARED_ENTRIES
    from fic_plugin.shops import LOOKUPS_PER_SHOP, OpenShops

    registry = []
    for name, cid in (("a", 41), ("b", 42), ("c", 43)):
        create_shop(tmp_path / f"{name}.db", 1, sandbox_url=sandbox.url, settings={"fic_company_id": cid, **PLAIN})
        registry.append({"id": name, "db": str(tmp_path / f"{name}.db"), "company_id": cid})
    shops = load_registry(write_registry(tmp_path / "shops.toml", registry))
    for shared in (SharedLookups(), None):
        kept = OpenShops(size=1, shared=shared)
        assert kept.lookups.size == (LOOKUPS_PER_SHOP if shared else SHARED_ENTRIES)
        for shop in shops:  # three lookups for each of three companies: 9 entries
            with kept.use(shop) as context:
                context.client.vat_types()
                context.client.payment_methods()
                context.client.payment_accounts()
        assert len(kept.lookups) == (LOOKUPS_PER_SHOP if shared else 9)
        with kept.use(shops[0]) as context:
            context.client.vat_types()  # let go by the bounded cache: the store has it
            # One request for a's VAT types in all: each pass over the shops started afresh
            assert vat_type_requests(context) == (1 if shared else 2)


def vat_type_requests(context) -> int:
    return sum(1 for row in context.store.audit_log(limit=1000)
               if row["action"] == "fic_request" and str(row["path"]).endswith("/info/vat_types"))


def _wait_for(condition, seconds: float = 120.0) -> None:
    """Until ``condition()`` holds (a guard against hanging, not a measure of speed)."""
    import time

    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the shops were not served in time"
        time.sleep(0.2)


def test_a_company_whose_fic_is_down_holds_one_job_per_turn_and_is_served_once_it_is_back(
        sandbox, tmp_path, english):
    """FiC down for one company (the sandbox's faults on its /c/ID/ paths only): its shop's turn
    ends at the first failed job, which waits for its retry, while the other shop is served; once
    FiC answers again a later turn serves it, every document once."""
    import threading

    import requests

    from fic_plugin.multishop import ShopTally, run_all_shops, run_turn

    create_shop(tmp_path / "down.db", 4, sandbox_url=sandbox.url, settings={"fic_company_id": 41, **PLAIN})
    create_shop(tmp_path / "up.db", 3, sandbox_url=sandbox.url, settings={"fic_company_id": 42, **PLAIN})
    down, up = load_registry(write_registry(tmp_path / "shops.toml", [
        {"id": "down", "db": str(tmp_path / "down.db")}, {"id": "up", "db": str(tmp_path / "up.db")}]))
    faults = f"{sandbox.url}/__sandbox__/faults"
    requests.post(faults, json={"error_rate": 1.0, "path_contains": "/c/41/"}, timeout=10).raise_for_status()

    tally = ShopTally()
    turn = run_turn(down, tally, check=True)
    assert turn.ran == 1 and tally.retried == 1 and not turn.more and turn.next_retry_in > 0
    attempts = sorted(row[0] for row in read_db(tmp_path / "down.db", "SELECT attempts FROM fic_jobs"))
    assert attempts == [0, 0, 0, 1]  # the other jobs did not wait on the same FiC

    stop, lines = threading.Event(), []
    loop = threading.Thread(target=run_all_shops, args=([down, up],),
                            kwargs={"interval": 1.0, "concurrency": 2, "stop": stop, "out": lines.append})
    loop.start()
    try:
        _wait_for(lambda: jobs_by_state(tmp_path / "up.db") == {"done": 3})
        assert "done" not in jobs_by_state(tmp_path / "down.db")  # pending, retried later: not failed
        assert "failed" not in jobs_by_state(tmp_path / "down.db")
        requests.delete(faults, timeout=10).raise_for_status()
        _wait_for(lambda: jobs_by_state(tmp_path / "down.db") == {"done": 4})
    finally:
        stop.set()
        loop.join(60)
    for cid, name, orders in ((41, "down", 4), (42, "up", 3)):
        counts = end_state(tmp_path / f"{name}.db", company_documents(sandbox, cid), company_emails(sandbox, cid),
                           orders)
        assert counts.ok, (name, counts.problems)
    assert not lines  # a company down for a while is not an error to shout about


def test_a_shop_failing_for_good_is_reported_in_one_line_a_round(sandbox, tmp_path, english):
    """A missing database and a wrong token: one clear line per shop and round (two ``--once``
    rounds: two lines each), the healthy shop served."""
    from fic_plugin.multishop import run_all_shops

    create_shop(tmp_path / "badtoken.db", 2, sandbox_url=sandbox.url,
                settings={"fic_company_id": 43, "fic_access_token": "a/not-the-token", **PLAIN})
    create_shop(tmp_path / "ok.db", 2, sandbox_url=sandbox.url, settings={"fic_company_id": 44, **PLAIN})
    shops = load_registry(write_registry(tmp_path / "shops.toml", [
        {"id": "gone", "db": str(tmp_path / "gone.db")}, {"id": "badtoken", "db": str(tmp_path / "badtoken.db")},
        {"id": "ok", "db": str(tmp_path / "ok.db")}]))
    lines: list[str] = []
    for _round in range(2):
        run_all_shops(shops, once=True, concurrency=2, out=lines.append)
    gone = [line for line in lines if "gone" in line]
    bad = [line for line in lines if "badtoken" in line]
    assert len(gone) == 2 and all("does not exist" in line for line in gone)
    assert len(bad) == 2 and all("2 jobs failed" in line and "fic retry --all-failed" in line for line in bad)
    assert not [line for line in lines if "Shop ok" in line]
    assert jobs_by_state(tmp_path / "ok.db") == {"done": 2} and jobs_by_state(tmp_path / "badtoken.db") == {"failed": 2}


def test_the_number_of_shops_a_worker_keeps_open_is_checked():
    from fic_plugin.errors import SettingsError
    from fic_plugin.shops import OPEN_SHOPS, OpenShops, open_shops_size

    assert open_shops_size({}) == OPEN_SHOPS and open_shops_size({"FIC_OPEN_SHOPS": " 12 "}) == 12
    for wrong in ("0", "-3", "many", "1.5"):
        with pytest.raises(SettingsError, match=f"FIC_OPEN_SHOPS .*{wrong}") as raised:
            open_shops_size({"FIC_OPEN_SHOPS": wrong})
        assert raised.value.field == "FIC_OPEN_SHOPS"
    assert OpenShops(size=3).size == 3


def test_the_jobs_of_a_shop_in_flight_at_a_time_are_checked():
    from fic_plugin.engine_dispatch import IN_FLIGHT, in_flight_per_shop
    from fic_plugin.errors import SettingsError

    assert in_flight_per_shop({}) == IN_FLIGHT == 2 and in_flight_per_shop({"FIC_IN_FLIGHT": "5"}) == 5
    with pytest.raises(SettingsError, match="FIC_IN_FLIGHT .*'0'") as raised:
        in_flight_per_shop({"FIC_IN_FLIGHT": "0"})
    assert raised.value.field == "FIC_IN_FLIGHT"


def _platform_shop(url: str, sandbox, company: int, prefix: str, orders: int) -> None:
    """A platform's shop on a PostgreSQL schema, ``orders`` paid orders in the platform's own
    table (examples/platform_shop.py)."""
    from campaign import create_platform_shop

    create_platform_shop(url, orders, sandbox_url=sandbox.url, prefix=prefix,
                         settings={"fic_company_id": company, "shop_name": prefix, **PLAIN})


def _fic_documents(url: str) -> list[tuple]:
    from platform_shop import connect

    with connect(url) as conn:
        return conn.execute("SELECT order_id, type FROM fic_documents ORDER BY order_id").fetchall()


def test_a_platforms_postgresql_shops_are_served_by_the_plugin_the_registry_names(sandbox, tmp_path, capsys, english):
    """Two shops on PostgreSQL schemas, their orders in the platform's own tables, which no
    installed plugin could tell apart: the registry's ``plugin`` factory makes each shop's own.
    ``fic sync --all-shops`` invoices each shop's paid orders in its own FiC company and keeps the
    references in its own schema."""
    from shoptest import postgres_schema

    with postgres_schema() as first, postgres_schema() as second:
        _platform_shop(first, sandbox, 71, "A", 3)
        _platform_shop(second, sandbox, 72, "B", 2)
        registry = tmp_path / "shops.toml"
        registry.write_text('plugin = "platform_shop:shop_plugin"\n\n' + write_registry(tmp_path / "rows.toml", [
            {"id": "a", "db": first, "company_id": 71}, {"id": "b", "db": second, "company_id": 72}]).read_text())
        capsys.readouterr()
        assert main(["sync", "--all-shops", "--shops", str(registry), "--once"]) == 0, capsys.readouterr().err
        for url, company, prefix, orders in ((first, 71, "A", 3), (second, 72, "B", 2)):
            documents = company_documents(sandbox, company)
            assert len(documents) == orders and all(d["type"] == "invoice" for d in documents)
            assert all(prefix + "-" in json.dumps(d) for d in documents), documents  # its own orders' numbers
            assert _fic_documents(url) == [(str(n), "invoice") for n in range(1, orders + 1)]
        # Run again: every order already has its invoice, nothing more reaches FiC.
        assert main(["sync", "--all-shops", "--shops", str(registry), "--once"]) == 0
        assert len(company_documents(sandbox, 71)) == 3 and len(company_documents(sandbox, 72)) == 2


@pytest.mark.parametrize(("plugin", "words"), [
    ("platform_shop", ["module:callable"]),
    ("no_such_platform:shop_plugin", ["cannot be imported", "no_such_platform"]),
    ("platform_shop:no_such_factory", ["cannot be imported", "no_such_factory"]),
    ("json:loads", ["failed", "TypeError"]),
    ("broken_platform:shop_plugin", ["cannot be imported", "settings missing"]),
])
def test_a_wrong_plugin_in_the_registry_is_said_for_its_shop_only(tmp_path, monkeypatch, plugin, words, english):
    from fic_plugin.shops import ShopUnavailable, open_shop

    (tmp_path / "broken_platform.py").write_text('raise RuntimeError("settings missing")\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = tmp_path / "shops.toml"
    registry.write_text(f'[[shop]]\nid = "p"\ndb = "{tmp_path / "p.db"}"\nplugin = "{plugin}"\n')
    if words == ["module:callable"]:
        with pytest.raises(RegistryError, match="module:callable"):
            load_registry(registry)
        return
    (tmp_path / "p.db").touch()
    [shop] = load_registry(registry)
    with pytest.raises(ShopUnavailable) as raised:
        open_shop(shop)
    assert all(word in str(raised.value) for word in ["Shop p", *words]), str(raised.value)


class CountingRelease:
    """A platform's per-shop plugin that counts ``shop_release`` (or fails in it)."""

    released: list[str] = []

    def __init__(self, shop, fail: bool = False):
        self.shop, self.fail = shop, fail

    @hookimpl
    def shop_release(self):
        CountingRelease.released.append(self.shop.id)
        if self.fail:
            raise RuntimeError("the platform's pool is gone")


def counting_release(shop):
    return CountingRelease(shop, fail=shop.id == "failing")


def test_hook_shop_release(tmp_path, caplog, english):
    """After each slice of a shop's work the worker asks the shop's plugins to close what they
    opened for it: the reference shop's SQLite connection (a few hundred kilobytes each) no longer
    stays open for every shop a worker keeps; a plugin failing there is logged, not raised."""
    from fic_demo.shop import DemoShop
    from fic_plugin.shops import OpenShops, shop_context

    for name in ("kept", "failing"):
        create_shop(tmp_path / f"{name}.db", 1, sandbox_url="http://127.0.0.1:9", settings={"fic_company_id": 5})
    registry = tmp_path / "shops.toml"
    registry.write_text(f'plugin = "{__name__}:counting_release"\n\n' + write_registry(tmp_path / "rows.toml", [
        {"id": "kept", "db": str(tmp_path / "kept.db")}, {"id": "failing", "db": str(tmp_path / "failing.db")}]
    ).read_text())
    kept, failing = load_registry(registry)
    CountingRelease.released.clear()
    shops = OpenShops(size=4)
    with shops.use(kept) as context:
        demo = next(p for p in context.pm.get_plugins() if isinstance(p, DemoShop))
        assert context.order("1").number == "B-000001"
        assert demo.store.backend._local.db is not None  # open while the job runs
    assert demo.store.backend._local.db is None and context.store.backend._local.db is None
    assert CountingRelease.released == ["kept"]
    with shops.use(kept) as again:
        assert again is context and again.order("1").number == "B-000001"  # opens again when asked
    with shop_context(failing) as other:
        other.order("1")
    assert CountingRelease.released == ["kept", "kept", "failing"]
    assert "shop_release failed" in caplog.text


@contextmanager
def loop_running(shops, interval: float = 3600.0):
    """``fic sync --all-shops`` without ``--once`` (an hour between rounds) in a thread, stopped on
    exit; yields the shops given a turn, in order."""
    from fic_plugin import multishop

    turns: list[str] = []
    real_run_turn = multishop.run_turn

    def counted(shop, *args, **kwargs):
        turns.append(shop.id)
        return real_run_turn(shop, *args, **kwargs)

    stop = threading.Event()
    loop = threading.Thread(target=multishop.run_all_shops, args=(shops,), kwargs={
        "interval": interval, "concurrency": 2, "stop": stop, "out": lambda _line: None})
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(multishop, "run_turn", counted)
        loop.start()
        try:
            yield turns
        finally:
            stop.set()
            loop.join(60)


def test_an_idle_shop_is_served_as_soon_as_an_event_writes_its_job(sandbox, tmp_path, english):
    """``fic sync --all-shops`` (no ``--once``): a shop with nothing left waits for its next round
    (an hour here) unless its file changes: a paid order's job is run within seconds, and the
    other idle shops are not opened for it."""
    import time

    from fic_plugin import leases
    from shoptest import pay_new_order, until_quiet

    for n in range(3):
        create_shop(tmp_path / f"s{n}.db", 1, sandbox_url=sandbox.url, settings={"fic_company_id": 51 + n, **PLAIN})
    shops = load_registry(write_registry(tmp_path / "shops.toml", [
        {"id": f"s{n}", "db": str(tmp_path / f"s{n}.db")} for n in range(3)]))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(leases, "STALE_SECONDS", 3.0)  # this process's heartbeat in the files stops sooner
        with loop_running(shops) as turns:
            _wait_for(lambda: all(jobs_by_state(tmp_path / f"s{n}.db") == {"done": 1} for n in range(3)))
            time.sleep(5.0)  # the heartbeat stops and the files settle; a shop written meanwhile has one more turn
            # A window longer than a heartbeat's whole tail (STALE_SECONDS, one more beat, then its
            # connection closed: the last write into the file). With 3 s, once in a loaded clean-clone
            # run, s0 and s2 were opened again after the window.
            until_quiet(turns, window=6.0)
            pay_new_order(tmp_path / "s1.db")
            # The new order's invoice, and the payment's sync that waits for it.
            _wait_for(lambda: jobs_by_state(tmp_path / "s1.db") == {"done": 3}, seconds=30)
            assert set(turns) == {"s1"}  # the idle others were not opened for it
    for n, orders in ((0, 1), (1, 2), (2, 1)):
        counts = end_state(tmp_path / f"s{n}.db", company_documents(sandbox, 51 + n), company_emails(sandbox, 51 + n),
                           orders)
        assert counts.ok, (n, counts.problems)


def test_an_idle_shop_holding_its_orders_has_no_round_while_its_file_is_unchanged(sandbox, tmp_path, english):
    """``fic sync --all-shops``: an idle shop's round (a full opening, for the paid-orders check)
    is left out while its file, which holds its orders (the reference shop's
    ``shop_orders_in_database``), did not change; an order paid without its event changes it, and
    the next round invoices it."""
    import time

    from fic_plugin import leases
    from shoptest import pay_new_order, until_quiet

    for n in range(3):
        create_shop(tmp_path / f"s{n}.db", 1, sandbox_url=sandbox.url, settings={"fic_company_id": 71 + n, **PLAIN})
    shops = load_registry(write_registry(tmp_path / "shops.toml", [
        {"id": f"s{n}", "db": str(tmp_path / f"s{n}.db")} for n in range(3)]))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(leases, "STALE_SECONDS", 3.0)
        # A round every 2 s before; now none, but for the check made anyway once in ten rounds (20 s).
        with loop_running(shops, interval=2.0) as turns:
            _wait_for(lambda: all(jobs_by_state(tmp_path / f"s{n}.db") == {"done": 1} for n in range(3)))
            time.sleep(5.0)
            until_quiet(turns)  # no round for 3 s
            pay_new_order(tmp_path / "s2.db", fire=False)
            _wait_for(lambda: jobs_by_state(tmp_path / "s2.db") == {"done": 2}, seconds=30)
            assert set(turns) == {"s2"}
    for n, orders in ((0, 1), (1, 1), (2, 2)):
        counts = end_state(tmp_path / f"s{n}.db", company_documents(sandbox, 71 + n), company_emails(sandbox, 71 + n),
                           orders)
        assert counts.ok, (n, counts.problems)


def test_a_job_waiting_on_its_orders_invoice_does_not_end_the_shops_turn(sandbox, tmp_path, english):
    """A paid order's events write its payment sync before its invoice job; the sync waits for the
    invoice (Busy, retried later), which is not FiC being down: the invoice runs in the same turn.
    The turn used to end at the sync, and every later turn ran the sync first again."""
    from fic_plugin.multishop import ShopTally, run_turn
    from shoptest import pay_new_order

    create_shop(tmp_path / "s.db", 0, sandbox_url=sandbox.url, settings={"fic_company_id": 61, **PLAIN})
    pay_new_order(tmp_path / "s.db")
    assert [kind for (kind,) in read_db(tmp_path / "s.db", "SELECT kind FROM fic_jobs ORDER BY id")] == [
        "sync_payments", "auto_document"]
    (shop,) = load_registry(write_registry(tmp_path / "shops.toml", [{"id": "s", "db": str(tmp_path / "s.db")}]))
    tally = ShopTally()
    turn = run_turn(shop, tally, check=False)
    assert turn.ran == 2 and tally.done == 1 and tally.retried == 1
    assert dict(read_db(tmp_path / "s.db", "SELECT kind, state FROM fic_jobs")) == {
        "sync_payments": "pending", "auto_document": "done"}
    assert len(company_documents(sandbox, 61)) == 1


def test_an_idle_postgresql_shop_is_served_as_soon_as_its_database_rings(sandbox, tmp_path, english):
    """The same on PostgreSQL schemas, woken by ``NOTIFY fic_jobs`` instead of a file's mark."""

    from platform_shop import SchemaShop, connect

    from fic_plugin.shops import shop_context
    from shoptest import postgres_schema, until_quiet

    def states(url: str) -> dict[str, int]:
        with connect(url) as conn:
            return dict(conn.execute("SELECT state, COUNT(*) FROM fic_jobs GROUP BY state").fetchall())

    with postgres_schema() as first, postgres_schema() as second:
        _platform_shop(first, sandbox, 91, "A", 1)
        _platform_shop(second, sandbox, 92, "B", 1)
        shops = load_registry(write_registry(tmp_path / "shops.toml", [
            {"id": "pg-a", "db": first, "plugin": "platform_shop:shop_plugin"},
            {"id": "pg-b", "db": second, "plugin": "platform_shop:shop_plugin"}]))
        with loop_running(shops) as turns:
            _wait_for(lambda: states(first) == {"done": 1} and states(second) == {"done": 1})
            until_quiet(turns)  # each shop's last turn found it idle
            with connect(second) as conn:
                conn.execute("INSERT INTO platform_orders SELECT '2', 'B-0002', paid_at, customer, lines"
                             " FROM platform_orders WHERE id = '1'")
            with shop_context(shops[1]) as context:
                context.pm.hook.order_paid(order=SchemaShop(second).shop_get_order("2"))
            _wait_for(lambda: states(second) == {"done": 2}, seconds=20)
            assert set(turns) == {"pg-b"}
        assert len(company_documents(sandbox, 92)) == 2 and len(company_documents(sandbox, 91)) == 1
