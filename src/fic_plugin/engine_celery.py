"""Jobs on Celery (Redis broker): many worker processes and machines serving many shops.

``fic_jobs`` in each shop's database stays the source of truth and the outbox; Celery only carries
"run job N of shop S" messages. The **dispatcher** (``fic sync --engine celery``) reads each shop's
due jobs and sends them, at most :data:`IN_FLIGHT` per shop at a time (a shop with 10,000 queued
jobs cannot starve one with 3), to the queue that can reach the shop's database: a SQLite file's
machine queue (``fic-HOSTNAME``, or the registry's ``queue``), ``fic`` for PostgreSQL. A **worker**
(``celery -A fic_plugin.engine_celery worker``) runs :func:`fic_plugin.jobs.execute_job`, with the
same leases, idempotency markers and exactly-once checks as ``fic sync``.

Nothing is lost with Redis: a message lost with a restarted Redis or a killed worker leaves its job
pending (or running under a dead lease) in the shop's database, and the dispatcher sends it again
once its in-flight mark expires; a job sent twice runs once (the lease). FiC's quota per company
is booked in Redis (:mod:`fic_plugin.fic.redis_ledger`) by every worker.

Settings (environment, the same on every machine): ``FIC_ENGINE`` (``embedded`` or ``celery``),
``FIC_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``), ``FIC_SHOPS`` (the registry).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

from celery import Celery
from celery.signals import worker_process_init

from . import jobs as _jobs
from .i18n import _
from .multishop import PARK_SECONDS
from .shops import (
    OpenShops,
    Shop,
    ShopUnavailable,
    load_registry,
    open_shops_size,
    shop_context,
    shop_jobs,
)

log = logging.getLogger(__name__)

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
#: Jobs of one shop sent and not finished yet, at most.
IN_FLIGHT = 8
#: With ``--once``, a shop that could not be opened this many times is given up for the run.
ONCE_TRIES = 5
#: A shop with no job open is looked at again after this long (a new order waits at most this).
IDLE_SECONDS = 2.0
#: A shop whose jobs in flight did not change is opened again after this long at the latest.
REVISIT_SECONDS = 1.0
#: A sent job not finished after this long is sent again (its worker died, or Redis lost it).
IN_FLIGHT_SECONDS = 30.0
#: Inside a worker a request waits at most this long for its company's quota; beyond, the job is
#: parked (pending, retried when the window reopens) and the worker takes another company's job.
WORKER_MAX_WAIT = "2"
#: Redis down this long in the middle of a run: the dispatcher serves the shops itself.
REDIS_GRACE_SECONDS = 30.0
#: Share of FiC's limits left unused, as the shared pacer does (1,000 an hour paced as 980).
QUOTA_MARGIN = 0.02
TASK = "fic.run_job"
SINGLE_SHOP = "default"  # the shop of ``fic sync --engine celery --db …``


def redis_url() -> str:
    return os.environ.get("FIC_REDIS_URL") or DEFAULT_REDIS_URL


def make_app(url: str | None = None) -> Celery:
    app = Celery("fic_plugin", broker=url or redis_url(), set_as_current=False)
    app.conf.update(
        task_default_queue="fic", task_ignore_result=True, worker_prefetch_multiplier=1,
        # Acked when done: a message whose worker was killed goes back to the queue (the lease
        # and the dispatcher make a second run harmless anyway).
        task_acks_late=True, task_reject_on_worker_lost=True,
        broker_connection_retry_on_startup=True, broker_connection_timeout=3,
        broker_transport_options={"visibility_timeout": 3600, "socket_connect_timeout": 3},
        # Workers send task events (Flower shows them); the dispatcher sends no "sent" event, which
        # would cost a second broker write per message.
        worker_hijack_root_logger=False, worker_send_task_events=True, task_send_sent_event=False)
    app.task(name=TASK, bind=False)(run_job)
    return app


def machine_queue() -> str:
    return "fic-" + socket.gethostname()


# --- the worker side -----------------------------------------------------------------------------------

_registry: tuple[float, dict[str, Shop]] | None = None
_registry_lock = threading.Lock()


def _shop(shop_id: str) -> Shop:
    """The shop a message names, from this machine's registry (messages carry no database URL:
    a PostgreSQL password never travels through the broker)."""
    global _registry
    if shop_id == SINGLE_SHOP and not os.environ.get("FIC_SHOPS"):
        return Shop(id=SINGLE_SHOP, db=os.environ.get("FIC_SHOP_DB", ""))
    path = Path(os.environ.get("FIC_SHOPS") or "shops.toml")
    mtime = path.stat().st_mtime if path.exists() else 0.0
    with _registry_lock:
        if _registry is None or _registry[0] != mtime:
            _registry = (mtime, {shop.id: shop for shop in load_registry(path)})
        shop = _registry[1].get(shop_id)
    if shop is None:
        raise ShopUnavailable(Shop(id=shop_id, db="?"), _("Shop {shop} is not in the shops registry {file}.").format(
            shop=shop_id, file=path))
    return shop


#: The shops this worker process served last, kept open between jobs (see ``shops.OpenShops``);
#: made on the first job, after ``fic worker`` checked ``FIC_OPEN_SHOPS``.
_open_shops: OpenShops | None = None


def _kept_shops() -> OpenShops:
    """The worker's open shops; their FiC lookups are shared in Redis with the other processes."""
    from .fic.redis_lookups import RedisLookups

    global _open_shops
    with _registry_lock:
        if _open_shops is None:
            _open_shops = OpenShops()
            _open_shops.lookups.shared = RedisLookups(_redis())
        return _open_shops


def run_job(shop_id: str, job_id: int) -> str:
    """The task: run one job of one shop, as ``fic sync`` would."""
    os.environ.setdefault("FIC_RATE_MAX_WAIT", WORKER_MAX_WAIT)
    shop = _shop(shop_id)
    try:
        with _kept_shops().use(shop) as context:
            use_redis_quota(context)
            return _jobs.execute_job(context, job_id)
    finally:
        try:
            _redis().zrem(_inflight_key(shop_id), job_id)
        except Exception:  # noqa: BLE001 - the mark expires by itself
            log.debug("could not clear the in-flight mark of job %s", job_id)


def company_at_limit(connection: tuple[str, Any, int | None]) -> bool:
    """True when the company's send log in Redis has no room left in one of FiC's windows
    (``connection``: the shop's base URL, token and company, as ``Context.connection``)."""
    from .fic.ratelimit import RateLimits
    from .fic.redis_ledger import RedisLedger

    limits = RateLimits.from_env(os.environ)
    url, _token, company = connection
    keep = 1.0 - QUOTA_MARGIN
    windows = [(max(1, int(limit * keep)), seconds)
               for limit, seconds in ((limits.hourly, limits.hour_seconds), (limits.short_term, limits.short_seconds))]
    return RedisLedger(_redis(), url, str(company)).full(str(company), windows)


def use_redis_quota(context: Any) -> None:
    """Book the shop's FiC requests in Redis, with every other worker of the company and app
    (once per client: the context, and so its client, is kept between jobs)."""
    from .fic.ratelimit import RateLimits
    from .fic.redis_ledger import RedisLedger, RedisPacer

    transport = context.client.transport
    if isinstance(transport.pacer, RedisPacer):
        return
    url, _token, company = context.connection()
    ledger = RedisLedger(_redis(), url, str(company))
    transport.pacer = RedisPacer(RateLimits.from_env(os.environ), ledger, str(company))


_redis_clients: dict[tuple[int, str], Any] = {}


def _redis() -> Any:
    import redis

    key = (os.getpid(), redis_url())
    client = _redis_clients.get(key)
    if client is None:
        client = redis.Redis.from_url(redis_url(), socket_connect_timeout=3, socket_timeout=10)
        _redis_clients[key] = client
    return client


@worker_process_init.connect
def _fresh_connections(**_kwargs: Any) -> None:
    global _open_shops
    _redis_clients.clear()
    _open_shops = None


def _inflight_key(shop_id: str) -> str:
    return f"fic:inflight:{shop_id}"


# --- the dispatcher side --------------------------------------------------------------------------------


class RedisUnavailable(Exception):
    pass


def check_redis() -> None:
    """RedisUnavailable with the reason when the broker does not answer."""
    import redis

    try:
        _redis().ping()
    except redis.RedisError as error:
        raise RedisUnavailable(str(error)) from None


def _flying(client: Any, shop: Shop, now: float) -> frozenset[int]:
    """The shop's jobs sent and not finished (a mark not cleared in time is dropped: sent again)."""
    return _all_flying(client, [shop], now)[shop.id]


def _all_flying(client: Any, shops: list[Shop], now: float) -> dict[str, frozenset[int]]:
    """:func:`_flying` of many shops in one round trip to Redis (a pass over a thousand shops
    used to make a thousand)."""
    pipe = client.pipeline(transaction=False)
    for shop in shops:
        key = _inflight_key(shop.id)
        pipe.zremrangebyscore(key, "-inf", now)
        pipe.zrange(key, 0, -1)
    answers = pipe.execute()
    return {shop.id: frozenset(int(member) for member in answers[2 * n + 1]) for n, shop in enumerate(shops)}


def dispatch_turn(app: Celery, shop: Shop, *, check: bool, flying: frozenset[int] | None = None,
                  connections: dict[str, tuple] | None = None) -> tuple[int, bool, float | None, frozenset[int]]:
    """Send a shop's due jobs that are not in flight, up to :data:`IN_FLIGHT`.

    ``connections``: each shop's (URL, token, company), read on its check turn (the full context)
    and kept by the caller, so the other turns only open the database file.
    Returns (sent, open: jobs still pending or running, seconds to its next retry, jobs in flight)."""
    client = _redis()
    key = _inflight_key(shop.id)
    now = time.time()
    connections = {} if connections is None else connections
    flying = _flying(client, shop, now) if flying is None else flying
    if len(flying) >= IN_FLIGHT and not check:
        return 0, True, None, flying  # nothing could be sent: the shop's database is not even opened
    if check or shop.id not in connections:
        with shop_context(shop) as context:
            if check:  # the paid orders without a document: the shop's own plugin answers for its orders
                _jobs.invoice_paid_orders(context)
            connections[shop.id] = context.connection()
    with shop_jobs(shop) as context:
        # A company at its FiC limit: its jobs stay parked in the shop's database (no worker slot
        # spent waiting) until its window reopens; the other companies' jobs go on.
        due = [] if company_at_limit(connections[shop.id]) else _jobs.due_job_ids(context, limit=IN_FLIGHT * 4)
        open_jobs = context.store.jobs.count_open()
        next_retry = _jobs._next_retry_in(context)
    sent = [job_id for job_id in due if job_id not in flying][:max(0, IN_FLIGHT - len(flying))]
    if sent:
        client.zadd(key, {str(job_id): now + IN_FLIGHT_SECONDS for job_id in sent})
        client.expire(key, int(IN_FLIGHT_SECONDS * 4))
        with app.producer_or_acquire() as producer:  # one broker connection for the shop's messages
            for job_id in sent:
                app.send_task(TASK, args=[shop.id, job_id], queue=shop.engine_queue(), producer=producer)
    return len(sent), open_jobs > 0, next_retry, flying | frozenset(sent)


def dispatch(shops: list[Shop], *, once: bool = False, interval: float = 60.0, pause: float = 0.2,
             stop: threading.Event | None = None, out: Any = print) -> dict[str, Any]:
    """``fic sync --engine celery``: send due jobs of every enabled shop round-robin until stopped
    (``once``: until no shop has a job left open or due within the ``--once`` horizon)."""
    import redis

    app = make_app()
    stop = stop or threading.Event()
    served = [shop for shop in shops if shop.enabled]
    errors: dict[str, str] = {}
    parked_until: dict[str, float] = {}  # shops that could not be opened: not retried every pass
    failures: dict[str, int] = {}
    checked_at: dict[str, float] = {}
    # A shop with no job open is looked at again after IDLE_SECONDS (with --once: never, its jobs
    # are all done): a pass over thousands of shops opens only those with work.
    idle_until: dict[str, float] = {}
    # What a shop had in flight when last looked at: while none of it finished (and for at most
    # REVISIT_SECONDS, for retries coming due), nothing new can be due and the shop is skipped.
    seen: dict[str, tuple[frozenset[int], float]] = {}
    connections: dict[str, tuple] = {}
    sent_total = 0
    down_since: float | None = None
    while not stop.is_set():
        busy = False
        try:
            client = _redis()
            client.ping()
        except (redis.RedisError, OSError) as error:
            # Redis restarting: the jobs wait in the shops' databases; past the grace, serve them here.
            if down_since is None:
                down_since = time.monotonic()
                out(_("fic: Redis does not answer ({reason}); waiting for it.").format(reason=error))
            if time.monotonic() - down_since > REDIS_GRACE_SECONDS:
                raise RedisUnavailable(str(error)) from None
            stop.wait(1.0)
            continue
        if down_since is not None:
            out(_("fic: Redis answers again; sending the jobs still due."))
            down_since = None
        turn = []
        for shop in served:
            later = max(parked_until.get(shop.id, 0.0), idle_until.get(shop.id, 0.0))
            if later > time.monotonic():
                busy = busy or later != float("inf")  # a shop looked at again later is not done
            else:
                turn.append(shop)
        try:
            in_flight = _all_flying(client, turn, time.time()) if turn else {}
        except (redis.RedisError, OSError):
            stop.wait(pause)  # Redis went away between the ping and now: the next pass waits for it
            continue
        for shop in turn:
            check = time.monotonic() - checked_at.get(shop.id, -1e9) >= (1e9 if once else interval)
            try:
                flying = in_flight[shop.id]
                last = seen.get(shop.id)
                if (not check and last is not None and flying and last[0] == flying
                        and time.monotonic() - last[1] < REVISIT_SECONDS):
                    busy = True
                    continue
                sent, open_jobs, next_retry, flying = dispatch_turn(app, shop, check=check, flying=flying,
                                                                    connections=connections)
                seen[shop.id] = (flying, time.monotonic())
            except ShopUnavailable as error:
                if errors.get(shop.id) != str(error):
                    out(_("fic: {error} (the other shops go on)").format(error=error))
                errors[shop.id] = str(error)
                # A broken database (a PostgreSQL server timing out) must not slow every pass; with
                # --once a shop is given up after a few tries (a file busy for a moment is not lost).
                failures[shop.id] = failures.get(shop.id, 0) + 1
                if once:  # given up for this run when waiting cannot help, or after a few tries
                    give_up = error.permanent or failures[shop.id] >= ONCE_TRIES
                    parked_until[shop.id] = float("inf") if give_up else time.monotonic() + 2.0
                    busy = busy or not give_up
                else:
                    parked_until[shop.id] = time.monotonic() + PARK_SECONDS
                continue
            except (redis.RedisError, OSError):
                busy = True  # Redis went away during the turn: the next pass waits for it
                break
            if check:
                checked_at[shop.id] = time.monotonic()
            errors.pop(shop.id, None)
            failures.pop(shop.id, None)
            sent_total += sent
            if not open_jobs:
                idle_until[shop.id] = float("inf") if once else time.monotonic() + IDLE_SECONDS
            elif not flying:  # open jobs, none due (retries later, or its company at its limit)
                idle_until[shop.id] = time.monotonic() + min(IDLE_SECONDS, max(pause, next_retry or 0.0))
            if open_jobs and (not once or next_retry is None or next_retry <= _jobs.ONCE_HORIZON_SECONDS
                              or _has_running(shop)):
                busy = True
        if once and not busy:
            break
        stop.wait(pause)
    return {"sent": sent_total, "errors": errors}


def _has_running(shop: Shop) -> bool:
    with shop_jobs(shop) as context:
        return context.store.jobs.counts_by_state().get("running", 0) > 0


def sync_with_engine(shops: list[Shop], *, once: bool, interval: float, out: Any) -> dict[str, Any] | None:
    """Dispatch to Celery; None when Redis does not answer (the caller then serves the shops with
    the embedded engine, after saying so)."""
    try:
        check_redis()
        return dispatch(shops, once=once, interval=interval, out=out)
    except RedisUnavailable as error:
        out(_("fic: Redis at {url} does not answer ({reason}): the embedded engine serves the shops "
              "instead.").format(url=_safe_url(redis_url()), reason=error))
        return None


def _safe_url(url: str) -> str:
    """The Redis URL without its password."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def run_worker(*, concurrency: int = 16, queues: list[str] | None = None, loglevel: str = "WARNING") -> int:
    """``fic worker``: a Celery worker in this process, threads (the work waits on FiC, not the CPU)."""
    queues = queues or ["fic", machine_queue()]
    open_shops_size()  # a wrong FIC_OPEN_SHOPS is one line now, not a failure in every job
    app.worker_main(["worker", "--pool", "threads", "--concurrency", str(concurrency), "-Q", ",".join(queues),
                     "--loglevel", loglevel, "--without-gossip", "--without-mingle"])
    return 0


#: ``celery -A fic_plugin.engine_celery worker -Q fic,fic-$(hostname) --pool threads -c 16``
app = make_app()
