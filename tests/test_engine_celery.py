"""Jobs on Celery with a real Redis broker and a real worker process: many shops, each job run
once, fairness between a big and a small shop, Redis unreachable (the embedded engine goes on),
Redis restarting mid-run (nothing lost), FiC's quota per company booked in Redis."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
import requests

from fic_plugin.cli import main
from fic_sandbox.server import SandboxServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))  # platform_shop, for the workers too

from campaign import TOKEN, create_shop, end_state, fic_command, jobs_by_state, read_db  # noqa: E402

from shoptest import pay_new_order, redis_or_skip, until_quiet  # noqa: E402

#: The databases this file may use on the shared Redis (the benchmarks use 13). A run claims one
#: (a key in the base URL's database) and flushes only that one: two runs on one machine, CI
#: beside a developer's, never flush each other's queues.
REDIS_DBS = (12, 11, 10, 9, 8)
#: These shops measure the engine: plain invoices (no SdI send job, no verify + send requests), so
#: job counts and throughput read as one job per order.
PLAIN = {"e_invoice": False}


def _redis_url(db: int) -> str:
    base = urlsplit(os.environ.get("FIC_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"))
    return urlunsplit(base._replace(path=f"/{db}"))


@pytest.fixture(scope="module")
def redis_db():
    """A Redis database number of this run's own, for this file (released at its end)."""
    base = os.environ.get("FIC_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    claims = redis_or_skip(base)
    token = f"{socket.gethostname()}:{os.getpid()}:{time.time()}"
    for db in REDIS_DBS:
        key = f"fic-test:redis-db:{db}"
        if claims.set(key, token, nx=True, ex=3600):  # a crashed run's claim lapses within the hour
            try:
                yield db
            finally:
                if claims.get(key) == token.encode():
                    claims.delete(key)
            return
    pytest.fail(f"Redis databases {REDIS_DBS} are all claimed by other test runs (keys fic-test:redis-db:* "
                f"at {base}): wait for them, or delete the keys of runs that are gone")


@pytest.fixture
def redis_url(redis_db):
    url = _redis_url(redis_db)
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    client.flushdb()
    yield url
    client.flushdb()


@pytest.fixture
def sandbox(monkeypatch):
    for name in ("FIC_API_URL", "FIC_ACCESS_TOKEN", "FIC_COMPANY_ID", "FIC_SHOPS", "FIC_ENGINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FIC_LANGUAGE", "en")
    with SandboxServer(many_companies=True, token=TOKEN) as server:
        yield server


def registry(tmp_path: Path, shops: dict[str, int]) -> Path:
    path = tmp_path / "shops.toml"
    path.write_text("".join(f'[[shop]]\nid = "{sid}"\ndb = "{tmp_path / (sid + ".db")}"\ncompany_id = {cid}\n\n'
                            for sid, cid in shops.items()))
    return path


class Worker:
    """``fic worker`` as its own process, on the test's Redis."""

    def __init__(self, tmp_path: Path, redis_url: str, shops: Path, concurrency: int = 4):
        env = {**os.environ, "FIC_REDIS_URL": redis_url, "FIC_SHOPS": str(shops), "FIC_LANGUAGE": "en",
               "PYTHONPATH": os.pathsep.join(sys.path)}
        self.log = open(tmp_path / "worker.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen([*fic_command(), "worker", "--concurrency", str(concurrency)], env=env,
                                        stdout=self.log, stderr=subprocess.STDOUT)
        self.redis_url = redis_url

    def wait_ready(self, seconds: float = 120.0) -> None:
        """Until the worker answers a ping on the broker (a loaded machine starts it slowly)."""
        from fic_plugin.engine_celery import make_app

        app = make_app(self.redis_url)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not app.control.ping(timeout=1.0):
            assert self.process.poll() is None, "the worker exited"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


@pytest.fixture
def worker_factory(tmp_path):
    workers: list[Worker] = []

    def start(redis_url: str, shops: Path, concurrency: int = 4) -> Worker:
        workers.append(Worker(tmp_path, redis_url, shops, concurrency))
        return workers[-1]

    yield start
    for worker in workers:
        worker.stop()


def company(sandbox, path: str, cid: int) -> list[dict]:
    return requests.get(f"{sandbox.url}/__sandbox__/{path}", params={"company_id": cid}, timeout=10).json()["data"]


def assert_exactly_once(sandbox, tmp_path: Path, shops: dict[str, tuple[int, int]]) -> None:
    for sid, (cid, orders) in shops.items():
        counts = end_state(tmp_path / f"{sid}.db", company(sandbox, "documents", cid), company(sandbox, "emails", cid),
                           orders)
        assert counts.ok, (sid, counts.problems)


def test_celery_workers_run_every_shops_jobs_once(sandbox, redis_url, tmp_path, worker_factory, monkeypatch, capsys):
    shops = {"verdi": (31, 6), "neri": (32, 4), "gialli": (33, 5)}
    for sid, (cid, orders) in shops.items():
        create_shop(tmp_path / f"{sid}.db", orders, sandbox_url=sandbox.url, settings={"fic_company_id": cid, **PLAIN})
    reg = registry(tmp_path, {**{sid: cid for sid, (cid, _n) in shops.items()}, "sparito": 34})  # no file
    worker_factory(redis_url, reg)
    monkeypatch.setenv("FIC_REDIS_URL", redis_url)
    assert main(["sync", "--engine", "celery", "--all-shops", "--shops", str(reg), "--once"]) == 1
    captured = capsys.readouterr()
    # 15 jobs, each sent at least once (again when a loaded worker left it queued past its mark).
    assert int(captured.out.split(" jobs sent")[0].split()[-1]) >= 15
    assert "sparito" in captured.err and "does not exist" in captured.err
    assert_exactly_once(sandbox, tmp_path, shops)


def test_a_platforms_postgresql_shops_run_on_the_celery_workers(sandbox, redis_url, tmp_path, worker_factory,
                                                                monkeypatch, capsys):
    """Shops on PostgreSQL schemas go to the shared ``fic`` queue (any machine's workers take
    them) beside a SQLite file on this machine's queue; the worker makes each PostgreSQL shop's
    plugin from the registry's ``plugin`` and invoices its own orders once."""
    from shoptest import postgres_schema
    from test_multishop import _fic_documents, _platform_shop

    create_shop(tmp_path / "file.db", 3, sandbox_url=sandbox.url, settings={"fic_company_id": 41, **PLAIN})
    with postgres_schema() as first, postgres_schema() as second:
        _platform_shop(first, sandbox, 42, "A", 4)
        _platform_shop(second, sandbox, 43, "B", 2)
        reg = tmp_path / "shops.toml"
        reg.write_text(f'[[shop]]\nid = "file"\ndb = "{tmp_path / "file.db"}"\ncompany_id = 41\n\n'
                       f'[[shop]]\nid = "pg-a"\ndb = "{first}"\ncompany_id = 42\nplugin = "platform_shop:shop_plugin"\n\n'
                       f'[[shop]]\nid = "pg-b"\ndb = "{second}"\ncompany_id = 43\nplugin = "platform_shop:shop_plugin"\n')
        worker_factory(redis_url, reg).wait_ready()
        monkeypatch.setenv("FIC_REDIS_URL", redis_url)
        assert main(["sync", "--engine", "celery", "--all-shops", "--shops", str(reg), "--once"]) == 0, \
            capsys.readouterr().err
        assert_exactly_once(sandbox, tmp_path, {"file": (41, 3)})
        for url, cid, orders in ((first, 42, 4), (second, 43, 2)):
            assert len(company(sandbox, "documents", cid)) == orders
            assert _fic_documents(url) == [(str(n), "invoice") for n in range(1, orders + 1)]


def test_a_big_shop_does_not_starve_a_small_one(sandbox, redis_url, tmp_path, worker_factory, monkeypatch):
    shops = {"grande": (41, 60), "piccolo": (42, 3)}
    for sid, (cid, orders) in shops.items():
        create_shop(tmp_path / f"{sid}.db", orders, sandbox_url=sandbox.url,
                    settings={"fic_company_id": cid, **PLAIN})
    reg = registry(tmp_path, {sid: cid for sid, (cid, _n) in shops.items()})
    # 60 invoices with their lookups and emails are about FiC's 300 requests in 5 minutes: the
    # quota is not what this test is about (the parking test is), so its short window is relaxed.
    monkeypatch.setenv("FIC_RATE_SHORT_TERM", "100000")
    worker_factory(redis_url, reg, concurrency=2)
    monkeypatch.setenv("FIC_REDIS_URL", redis_url)
    big_open_when_small_done: list[int] = []

    def watch() -> None:
        while True:
            small = jobs_by_state(tmp_path / "piccolo.db")
            if small.get("done", 0) == 3:
                big = jobs_by_state(tmp_path / "grande.db")
                big_open_when_small_done.append(big.get("pending", 0) + big.get("running", 0))
                return
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    assert main(["sync", "--engine", "celery", "--all-shops", "--shops", str(reg), "--once"]) == 0
    watcher.join(5)
    # The small shop was done while most of the big one's 60 jobs were still queued.
    assert big_open_when_small_done and big_open_when_small_done[0] > 30
    assert_exactly_once(sandbox, tmp_path, shops)


def test_a_pass_stops_where_the_queue_is_full_and_the_next_starts_there(sandbox, redis_url, tmp_path,
                                                                         worker_factory, monkeypatch):
    """A pass reads the jobs in flight of WALK_CHUNK shops at a time and stops once the queue is
    full (it read every shop's marks each pass: over a thousand shops, most of the dispatcher's
    CPU); the next pass starts at the shop after the last one served, and every shop is served
    once. The workers count the jobs they finish per queue: the dispatcher's rate and its sign
    that they are alive, without reading the shops' marks."""
    from fic_plugin import engine_dispatch
    from fic_plugin.engine_celery import finished_key, machine_queue

    shops = {f"s{n}": (61 + n, 2) for n in range(6)}
    for sid, (cid, orders) in shops.items():
        create_shop(tmp_path / f"{sid}.db", orders, sandbox_url=sandbox.url, settings={"fic_company_id": cid, **PLAIN})
    reg = registry(tmp_path, {sid: cid for sid, (cid, _n) in shops.items()})
    monkeypatch.setattr(engine_dispatch, "WALK_CHUNK", 2)
    monkeypatch.setattr(engine_dispatch, "QUEUED_AT_LEAST", 1)  # the first pass may send one message
    read_flying, queue_room, passes = engine_dispatch._all_flying, engine_dispatch._queue_room, []

    def reading(client, walked, now):
        passes[-1].extend(shop.id for shop in walked)
        return read_flying(client, walked, now)

    def new_pass(*args):
        passes.append([])
        return queue_room(*args)

    monkeypatch.setattr(engine_dispatch, "_all_flying", reading)
    monkeypatch.setattr(engine_dispatch, "_queue_room", new_pass)
    worker_factory(redis_url, reg, concurrency=2)
    monkeypatch.setenv("FIC_REDIS_URL", redis_url)
    assert main(["sync", "--engine", "celery", "--all-shops", "--shops", str(reg), "--once"]) == 0
    assert_exactly_once(sandbox, tmp_path, shops)
    # One message of room: s0 takes it, s1 is looked at (a chunk is two shops), and the pass stops
    # there; the next starts at s1, the shop after the one that took the last room.
    assert passes[0] == ["s0", "s1"]
    assert passes[1][0] == "s1"
    finished = int(redis.Redis.from_url(redis_url).get(finished_key(machine_queue())) or 0)
    assert finished >= sum(orders for _cid, orders in shops.values())


def test_redis_unreachable_the_embedded_engine_goes_on_and_says_so(sandbox, tmp_path, monkeypatch, capsys):
    create_shop(tmp_path / "solo.db", 3, sandbox_url=sandbox.url, settings={"fic_company_id": 51, **PLAIN})
    reg = registry(tmp_path, {"solo": 51})
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("FIC_REDIS_URL", f"redis://127.0.0.1:{port}/0")
    assert main(["sync", "--engine", "celery", "--all-shops", "--shops", str(reg), "--once"]) == 0
    err = capsys.readouterr().err
    assert "Redis" in err and "does not answer" in err and "embedded engine" in err
    assert_exactly_once(sandbox, tmp_path, {"solo": (51, 3)})


def test_jobs_no_worker_takes_are_served_by_the_embedded_engine_and_said(sandbox, redis_url, tmp_path, monkeypatch,
                                                                          capsys):
    """No worker consumes the queue (none runs, or one lost Redis and stopped taking jobs, a
    known Celery failure with the threads pool, seen here after a Redis restart): once messages
    have waited STALL_SECONDS with no job finished, the dispatcher says so and serves the shops
    itself, every document once."""
    from fic_plugin import engine_dispatch

    create_shop(tmp_path / "solo.db", 3, sandbox_url=sandbox.url, settings={"fic_company_id": 52, **PLAIN})
    reg = registry(tmp_path, {"solo": 52})
    monkeypatch.setenv("FIC_REDIS_URL", redis_url)
    monkeypatch.setattr(engine_dispatch, "STALL_SECONDS", 2.0)
    # Marks expire (and the jobs are sent again) well within the stall time: an expired mark is
    # no sign of a worker, so it must not count as progress.
    monkeypatch.setattr(engine_dispatch, "IN_FLIGHT_SECONDS", 0.5)
    monkeypatch.setattr(engine_dispatch, "QUEUED_AT_LEAST", 100_000)  # a queue never full enough to stop sending
    started, result = time.monotonic(), []
    runner = threading.Thread(target=lambda: result.append(main(
        ["sync", "--engine", "celery", "--all-shops", "--shops", str(reg), "--once"])), daemon=True)
    runner.start()
    runner.join(30)
    assert result == [0], "the dispatcher never gave up on the workers"
    err = capsys.readouterr().err
    assert "wait in the Celery queue and no worker finished one for 2 s" in err and "embedded engine" in err
    assert time.monotonic() - started >= 2.0
    assert_exactly_once(sandbox, tmp_path, {"solo": (52, 3)})


def test_the_broker_failing_while_a_message_is_sent_does_not_stop_the_dispatcher(sandbox, redis_url, tmp_path,
                                                                                 monkeypatch, capsys):
    """Redis going away between the dispatcher's reads and its send (kombu's OperationalError,
    not a redis error) once ended `fic sync --engine celery` with a traceback; the message not
    sent is sent again and every document is made once."""
    from celery import Celery
    from kombu.exceptions import OperationalError

    from fic_plugin import engine_dispatch

    create_shop(tmp_path / "solo.db", 3, sandbox_url=sandbox.url, settings={"fic_company_id": 53, **PLAIN})
    reg = registry(tmp_path, {"solo": 53})
    monkeypatch.setenv("FIC_REDIS_URL", redis_url)
    monkeypatch.setattr(engine_dispatch, "STALL_SECONDS", 2.0)  # no worker here: the dispatcher ends the work
    real_send, failures = Celery.send_task, []

    def send_once_refused(self, *args, **kwargs):
        if not failures:
            failures.append(1)
            raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        return real_send(self, *args, **kwargs)

    monkeypatch.setattr(Celery, "send_task", send_once_refused)
    assert main(["sync", "--engine", "celery", "--all-shops", "--shops", str(reg), "--once"]) == 0
    assert failures == [1] and "Traceback" not in capsys.readouterr().err
    assert_exactly_once(sandbox, tmp_path, {"solo": (53, 3)})


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="no redis-server to restart here")
def test_redis_restarting_mid_run_loses_no_job(sandbox, tmp_path, worker_factory, monkeypatch):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    def start_redis() -> subprocess.Popen:
        server = subprocess.Popen(["redis-server", "--port", str(port), "--save", "", "--appendonly", "no",
                                   "--bind", "127.0.0.1"], stdout=subprocess.DEVNULL)
        for _ in range(100):
            try:
                redis.Redis(port=port).ping()
                return server
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    own_redis = start_redis()
    try:
        shops = {"uno": (61, 25), "due": (62, 25)}
        for sid, (cid, orders) in shops.items():
            create_shop(tmp_path / f"{sid}.db", orders, sandbox_url=sandbox.url,
                    settings={"fic_company_id": cid, **PLAIN})
        reg = registry(tmp_path, {sid: cid for sid, (cid, _n) in shops.items()})
        url = f"redis://127.0.0.1:{port}/0"
        worker_factory(url, reg, concurrency=2)
        monkeypatch.setenv("FIC_REDIS_URL", url)
        result: list[int] = []
        runner = threading.Thread(target=lambda: result.append(main(
            ["sync", "--engine", "celery", "--all-shops", "--shops", str(reg), "--once"])), daemon=True)
        runner.start()
        while sum(jobs_by_state(tmp_path / f"{sid}.db").get("done", 0) for sid in shops) < 5:
            time.sleep(0.05)
        own_redis.kill()  # queued messages and in-flight marks are gone with it
        own_redis.wait()
        time.sleep(1.0)
        own_redis = start_redis()
        runner.join(240)
        assert result == [0]
        assert_exactly_once(sandbox, tmp_path, shops)
    finally:
        own_redis.kill()
        own_redis.wait()


def test_quota_per_company_is_booked_in_redis(redis_url):
    from fic_plugin.fic.redis_ledger import RedisLedger

    client = redis.Redis.from_url(redis_url)
    ledger = RedisLedger(client, "http://fic.example", "7", prefix="fic:test:pace")
    other = RedisLedger(client, "http://fic.example", "7", prefix="fic:test:pace")  # another process
    with ledger.transaction():
        ledger.book("7", 100.0, 1)
        ledger.book("7", 101.0, 2)
    with other.transaction():
        other.book("7", 101.0, 1)
    assert other.total("7") == 4 and ledger.last_at("7") == 101.0
    assert ledger.total_at_or_before("7", 100.5) == 1 and ledger.first_at_above("7", 1) == 101.0
    assert ledger.used("7", 10, now=105.0) == 4 and ledger.used("8", 10, now=105.0) == 0
    ledger.forget("7", 101.0)
    assert ledger.total("7") == 4 and ledger.total_at_or_before("7", 100.5) == 1
    assert all(json.dumps(key.decode()).count("fic.example") == 0 for key in client.keys("fic:test:*"))


def test_a_company_at_its_limit_is_parked_while_another_proceeds(sandbox, redis_url, tmp_path, worker_factory,
                                                                  monkeypatch):
    from fic_plugin.fic.redis_ledger import RedisLedger

    shops = {"pieno": (71, 3), "libero": (72, 3)}
    for sid, (cid, orders) in shops.items():
        create_shop(tmp_path / f"{sid}.db", orders, sandbox_url=sandbox.url,
                    settings={"fic_company_id": cid, **PLAIN})
    reg = registry(tmp_path, {sid: cid for sid, (cid, _n) in shops.items()})
    # A small compressed quota: 50 requests per 20-second "hour", and company 71 has used it all.
    for name, value in (("FIC_RATE_HOURLY", "50"), ("FIC_RATE_HOUR_SECONDS", "20"), ("FIC_REDIS_URL", redis_url)):
        monkeypatch.setenv(name, value)
    worker_factory(redis_url, reg).wait_ready()
    ledger = RedisLedger(redis.Redis.from_url(redis_url), sandbox.url, "71")
    full_at = time.time()
    with ledger.transaction():
        ledger.book("71", full_at, 50)
    assert main(["sync", "--engine", "celery", "--all-shops", "--shops", str(reg), "--once"]) == 0
    assert_exactly_once(sandbox, tmp_path, shops)

    def finished(sid: str) -> list[float]:
        rows = [r[0] for r in read_db(tmp_path / f"{sid}.db", "SELECT finished_at FROM fic_jobs")]
        return [datetime.fromisoformat(r).replace(tzinfo=UTC).timestamp() for r in rows]

    # The full company ran nothing before its window reopened; the other did not wait for it.
    assert min(finished("pieno")) >= full_at + 20 - 0.5
    assert min(finished("libero")) < full_at + 20


def test_the_shared_pacer_on_redis_keeps_two_processes_within_one_quota(redis_url):
    """Two workers (two pacers, two ledgers) booking for one company: together within its quota."""
    shared_pacer = pytest.importorskip("fic_plugin.fic.shared_pacer", reason="the shared pacer is not on this branch")
    from fic_plugin.fic.ratelimit import RateLimits, WaitTooLong
    from fic_plugin.fic.redis_ledger import RedisLedger

    client = redis.Redis.from_url(redis_url)
    limits = RateLimits(hourly=10, hour_seconds=60, short_term=100, short_seconds=60, max_wait=0.5)
    pacers = [shared_pacer.SharedPacer(limits, RedisLedger(client, "http://fic.example", "9"), "9", margin=0.0,
                                       sleep=lambda _s: None) for _ in range(2)]
    for n in range(10):
        pacers[n % 2].acquire()
    with pytest.raises(WaitTooLong):
        pacers[1].acquire()
    other_company = shared_pacer.SharedPacer(limits, RedisLedger(client, "http://fic.example", "10"), "10",
                                             margin=0.0, sleep=lambda _s: None)
    assert other_company.acquire() == 0  # another company's quota is untouched


def test_the_redis_pacer_books_each_request_atomically_within_the_quota(redis_url):
    """The workers' pacer (one Lua script per request): two processes within one company's
    quota, another company untouched, and what FiC says was used elsewhere booked too."""
    from fic_plugin.fic.ratelimit import Quota, RateLimits, WaitTooLong
    from fic_plugin.fic.redis_ledger import RedisLedger, RedisPacer

    client = redis.Redis.from_url(redis_url)
    limits = RateLimits(hourly=10, hour_seconds=60, short_term=100, short_seconds=60, max_wait=0.5)
    pacers = [RedisPacer(limits, RedisLedger(client, "http://fic.example", "9"), "9", margin=0.0,
                         sleep=lambda _s: None) for _ in range(2)]
    threads = [threading.Thread(target=lambda p=pacers[n % 2]: p.acquire()) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ledger = RedisLedger(client, "http://fic.example", "9")
    assert ledger.used("9", 60) == 10 and ledger.full("9", [(10, 60.0)])
    with pytest.raises(WaitTooLong):
        pacers[1].acquire()
    assert ledger.used("9", 60) == 10  # a refused slot is not booked
    other = RedisPacer(limits, RedisLedger(client, "http://fic.example", "10"), "10", margin=0.0,
                       sleep=lambda _s: None)
    assert other.acquire() == 0 and not ledger.full("10", [(10, 60.0)])
    # FiC says 5 remain for company 10 after our one request: 4 were made by someone else.
    other.observe(Quota(hourly_remaining=5, hourly_limit=10))
    assert ledger.used("10", 60) == 5
    # Past the window the company has its quota again (the slots age out of the log).
    later = RedisPacer(limits, ledger, "9", margin=0.0, sleep=lambda _s: None, clock=lambda: time.time() + 61)
    assert later.acquire() == 0


def test_the_engine_is_a_setting_the_environment_and_the_option_win_over(sandbox, tmp_path, monkeypatch, capsys):
    """``engine`` stored in the shop's settings (the registry's ``engine`` for ``--all-shops``)
    picks Celery when ``--engine`` is not given; FIC_ENGINE and ``--engine`` win over it. Redis
    does not answer here, so choosing Celery shows as its message (then the embedded engine works)."""
    create_shop(tmp_path / "solo.db", 2, sandbox_url=sandbox.url,
                settings={"fic_company_id": 52, "engine": "celery", **PLAIN})
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        monkeypatch.setenv("FIC_REDIS_URL", f"redis://127.0.0.1:{probe.getsockname()[1]}/0")
    db = str(tmp_path / "solo.db")

    def chose_celery(argv: list[str]) -> bool:
        assert main(argv) == 0
        return "does not answer" in capsys.readouterr().err

    assert chose_celery(["--db", db, "sync", "--once"])  # the stored setting
    assert_exactly_once(sandbox, tmp_path, {"solo": (52, 2)})
    assert not chose_celery(["--db", db, "sync", "--once", "--engine", "embedded"])
    monkeypatch.setenv("FIC_ENGINE", "embedded")
    assert not chose_celery(["--db", db, "sync", "--once"])
    monkeypatch.delenv("FIC_ENGINE")
    assert main(["--db", db, "settings", "set", "engine", "embedded"]) == 0
    assert not chose_celery(["--db", db, "sync", "--once"])
    reg = registry(tmp_path, {"solo": 52})
    assert not chose_celery(["sync", "--all-shops", "--shops", str(reg), "--once"])
    reg.write_text('engine = "celery"\n' + reg.read_text())
    assert chose_celery(["sync", "--all-shops", "--shops", str(reg), "--once"])
    reg.write_text('engine = "rq"\n' + reg.read_text().split("\n", 1)[1])
    assert main(["sync", "--all-shops", "--shops", str(reg), "--once"]) == 1
    assert "engine is embedded or celery, not rq" in capsys.readouterr().err


def shops_opened(monkeypatch, how: str) -> list[str]:
    """The shops the dispatcher opens with ``engine_dispatch.<how>`` (``shop_jobs``: its jobs only;
    ``shop_context``: the whole shop, for its periodic check), in order."""
    from fic_plugin import engine_dispatch

    calls: list[str] = []
    real = getattr(engine_dispatch, how)

    def counted(shop):
        calls.append(shop.id)
        return real(shop)

    monkeypatch.setattr(engine_dispatch, how, counted)
    return calls


@pytest.fixture
def opened(monkeypatch) -> list[str]:
    """The shops the dispatcher opens to read their jobs, in order."""
    return shops_opened(monkeypatch, "shop_jobs")


@contextmanager
def dispatcher_running(shops, interval: float = 3600.0):
    """The dispatcher without ``--once``, as a platform runs it, in a thread stopped on exit."""
    from fic_plugin import engine_dispatch

    stop = threading.Event()
    runner = threading.Thread(target=engine_dispatch.dispatch, args=(shops,), daemon=True, kwargs={
        "interval": interval, "pause": 0.05, "stop": stop, "out": lambda _line: None})
    runner.start()
    try:
        yield
    finally:
        stop.set()
        runner.join(30)


def test_idle_shops_stay_closed_until_an_event_writes_a_job(sandbox, redis_url, tmp_path, worker_factory,
                                                            monkeypatch, opened):
    """A running dispatcher (no ``--once``) leaves idle SQLite shops closed, reading only their
    files' change marks, and still sends a job an event writes in one of them within seconds.
    It used to open every idle shop every 2 s: 500 opens a second for a thousand shops."""
    from fic_plugin import engine_dispatch
    from fic_plugin.leases import HEARTBEAT_SECONDS
    from fic_plugin.shop_registry import load_registry

    STALE = 3.0

    shops = {f"quieto{n}": (70 + n, 1) for n in range(8)}
    for sid, (cid, orders) in shops.items():
        create_shop(tmp_path / f"{sid}.db", orders, sandbox_url=sandbox.url, settings={"fic_company_id": cid, **PLAIN})
    reg = registry(tmp_path, {sid: cid for sid, (cid, _n) in shops.items()})
    monkeypatch.setenv("FIC_WORKER_STALE_SECONDS", str(STALE))  # the worker's heartbeat stops sooner
    worker_factory(redis_url, reg, concurrency=2).wait_ready()
    monkeypatch.setenv("FIC_REDIS_URL", redis_url)
    with dispatcher_running(load_registry(reg)):
        deadline = time.monotonic() + 120
        while sum(jobs_by_state(tmp_path / f"{sid}.db").get("done", 0) for sid in shops) < len(shops):
            assert time.monotonic() < deadline, "the first orders were not invoiced"
            time.sleep(0.1)
        # The worker's heartbeat in each file stops STALE seconds after its last job, the files
        # settle (a mark is trusted a second after the last write), each shop is seen idle once
        # more; then, idle and unchanged, none is opened at all (the dispatcher before opened
        # each every 2 s).
        time.sleep(STALE + HEARTBEAT_SECONDS + 1.0 + engine_dispatch.IDLE_SECONDS + 1.5)
        until_quiet(opened)

        written = time.monotonic()
        pay_new_order(tmp_path / "quieto3.db")
        while (states := jobs_by_state(tmp_path / "quieto3.db")).get("done", 0) < 2 or set(states) != {"done"}:
            assert time.monotonic() - written < 30, f"the new order's jobs were not all sent: {states}"
            time.sleep(0.1)
        assert set(opened) == {"quieto3"}  # the other shops stayed closed
    assert_exactly_once(sandbox, tmp_path, {**shops, "quieto3": (73, 2)})


def test_hook_shop_orders_in_database(sandbox, redis_url, tmp_path, worker_factory, monkeypatch):
    """The reference shop writes its orders in its own file (``shop_orders_in_database``): the
    running dispatcher leaves out the periodic paid-orders check, a full opening of the shop, while
    an idle shop's file is unchanged (it ran every --interval for every shop: 0.12 of a core for
    1,000 shops). An order paid without its event (the shop's process lost it) changes the file:
    the next check finds it and it is invoiced."""
    from fic_plugin.leases import HEARTBEAT_SECONDS
    from fic_plugin.shop_registry import load_registry

    checked = shops_opened(monkeypatch, "shop_context")
    shops = {f"calmo{n}": (90 + n, 1) for n in range(4)}
    for sid, (cid, orders) in shops.items():
        create_shop(tmp_path / f"{sid}.db", orders, sandbox_url=sandbox.url, settings={"fic_company_id": cid, **PLAIN})
    reg = registry(tmp_path, {sid: cid for sid, (cid, _n) in shops.items()})
    monkeypatch.setenv("FIC_WORKER_STALE_SECONDS", "3")
    worker_factory(redis_url, reg, concurrency=2).wait_ready()
    monkeypatch.setenv("FIC_REDIS_URL", redis_url)
    # Each shop's check due every 2 s; left out, but for the one made anyway once in ten (20 s).
    with dispatcher_running(load_registry(reg), interval=2.0):
        deadline = time.monotonic() + 120
        while sum(jobs_by_state(tmp_path / f"{sid}.db").get("done", 0) for sid in shops) < len(shops):
            assert time.monotonic() < deadline, "the first orders were not invoiced"
            time.sleep(0.1)
        time.sleep(3 + HEARTBEAT_SECONDS + 1.0)  # the worker's heartbeats stop, the files settle
        until_quiet(checked)  # then no check for 3 s

        paid = time.monotonic()
        pay_new_order(tmp_path / "calmo2.db", fire=False)
        while jobs_by_state(tmp_path / "calmo2.db").get("done", 0) < 2:  # the first order's job and the new one's
            assert time.monotonic() - paid < 30, "the order paid without its event was not found by the check"
            time.sleep(0.1)
        assert "calmo2" in checked
    assert_exactly_once(sandbox, tmp_path, {**shops, "calmo2": (92, 2)})


def test_a_check_is_left_out_only_for_an_unchanged_file_holding_its_orders_and_not_for_long():
    from fic_plugin.shop_marks import QuietChecks
    from fic_plugin.shop_registry import Shop

    shop, elsewhere = Shop(id="a", db="a.db"), Shop(id="b", db="b.db")
    checks = QuietChecks(every=0.1, anyway=3)  # checked anyway after 0.3 s
    assert not checks.needless(shop, (1, 2))  # never checked yet
    checks.checked(shop, (1, 2), orders_in_database=True)
    checks.checked(elsewhere, (1, 2), orders_in_database=False)
    assert checks.needless(shop, (1, 2)) and not checks.needless(elsewhere, (1, 2))
    assert not checks.needless(shop, (1, 3))  # the file changed
    assert not checks.needless(shop, None)  # written less than a second ago: no mark yet
    time.sleep(0.35)
    assert not checks.needless(shop, (1, 2))  # a restored file keeps its old times: checked anyway


def test_idle_postgresql_shops_stay_closed_until_their_database_rings(sandbox, redis_url, tmp_path, worker_factory,
                                                                      monkeypatch, opened):
    """PostgreSQL shops have no file to watch: each job written rings ``NOTIFY fic_jobs`` with its
    schema, and the running dispatcher listens. Idle schemas are not opened (they were every 2 s);
    an order paid in one of them is sent within seconds, and only that shop is opened for it."""
    from platform_shop import SchemaShop, connect

    from fic_plugin.shop_registry import load_registry
    from fic_plugin.shops import shop_context
    from shoptest import postgres_schema
    from test_multishop import _platform_shop

    with postgres_schema() as first, postgres_schema() as second, postgres_schema() as third:
        urls = {"pg-a": (first, 81), "pg-b": (second, 82), "pg-c": (third, 83)}
        for sid, (url, cid) in urls.items():
            _platform_shop(url, sandbox, cid, sid.upper(), 1)
        reg = tmp_path / "shops.toml"
        reg.write_text('plugin = "platform_shop:shop_plugin"\n' + "".join(
            f'[[shop]]\nid = "{sid}"\ndb = "{url}"\ncompany_id = {cid}\n\n' for sid, (url, cid) in urls.items()))
        monkeypatch.setenv("FIC_WORKER_STALE_SECONDS", "3")
        worker_factory(redis_url, reg, concurrency=2).wait_ready()
        monkeypatch.setenv("FIC_REDIS_URL", redis_url)

        def states(url: str) -> dict[str, int]:
            with connect(url) as conn:
                return dict(conn.execute("SELECT state, COUNT(*) FROM fic_jobs GROUP BY state").fetchall())

        shops = load_registry(reg)
        with dispatcher_running(shops):
            deadline = time.monotonic() + 120
            while not all(states(url).get("done", 0) >= 1 and set(states(url)) == {"done"} for url, _c in urls.values()):
                assert time.monotonic() < deadline, "the first orders were not invoiced"
                time.sleep(0.2)
            until_quiet(opened)  # each shop seen idle once more, then not opened at all

            with connect(second) as conn:  # a second order paid on the platform, its event fired
                conn.execute("INSERT INTO platform_orders SELECT '2', 'PG-B-0002', paid_at, customer, lines"
                             " FROM platform_orders WHERE id = '1'")
            written = time.monotonic()
            with shop_context(shops[1]) as context:
                context.pm.hook.order_paid(order=SchemaShop(second).shop_get_order("2"))
            while (now := states(second)).get("done", 0) < 2 or set(now) != {"done"}:
                assert time.monotonic() - written < 30, f"the new order's jobs were not all sent: {now}"
                time.sleep(0.1)
            assert set(opened) == {"pg-b"}  # the other shops stayed closed
        for url, cid in urls.values():
            with connect(url) as conn:
                count = conn.execute("SELECT COUNT(*) FROM fic_documents").fetchone()[0]
            assert len(company(sandbox, "documents", cid)) == count == (2 if url == second else 1)
