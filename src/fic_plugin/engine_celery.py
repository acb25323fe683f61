"""Jobs on Celery (Redis broker): many worker processes and machines serving many shops.

``fic_jobs`` in each shop's database stays the source of truth and the outbox; Celery only carries
"run job N of shop S" messages. The **dispatcher** (``fic sync --engine celery``) reads each shop's
due jobs and sends them, at most :data:`~fic_plugin.engine_dispatch.IN_FLIGHT` per shop at a time (a shop with 10,000 queued
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
from pathlib import Path
from typing import Any

from celery import Celery
from celery.signals import worker_process_init

from . import jobs as _jobs
from .i18n import _
from .shop_registry import Shop, load_registry
from .shops import OpenShops, ShopUnavailable, open_shops_size

log = logging.getLogger(__name__)

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
#: Inside a worker a request waits at most this long for its company's quota; beyond, the job is
#: parked (pending, retried when the window reopens) and the worker takes another company's job.
WORKER_MAX_WAIT = "2"
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
            _open_shops = OpenShops(shared=RedisLookups(_redis()))
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
            # The count tells the dispatcher that its workers take and finish jobs (its rate, and
            # no stall), without reading every shop's marks.
            pipe = _redis().pipeline(transaction=False)
            pipe.zrem(_inflight_key(shop_id), job_id)
            pipe.incr(finished_key(shop.engine_queue()))
            pipe.execute()
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


def finished_key(queue: str) -> str:
    """How many jobs sent to ``queue`` the workers finished (a counter: a Redis restart resets it)."""
    return f"fic:finished:{queue}"


def run_worker(*, concurrency: int = 16, queues: list[str] | None = None, loglevel: str = "WARNING") -> int:
    """``fic worker``: a Celery worker in this process, threads (the work waits on FiC, not the CPU)."""
    queues = queues or ["fic", machine_queue()]
    open_shops_size()  # a wrong FIC_OPEN_SHOPS is one line now, not a failure in every job
    app.worker_main(["worker", "--pool", "threads", "--concurrency", str(concurrency), "-Q", ",".join(queues),
                     "--loglevel", loglevel, "--without-gossip", "--without-mingle"])
    return 0


#: ``celery -A fic_plugin.engine_celery worker -Q fic,fic-$(hostname) --pool threads -c 16``
app = make_app()
