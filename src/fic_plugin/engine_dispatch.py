"""The dispatcher of the Celery engine (``fic sync --engine celery``): it reads each shop's due
jobs and sends "run job N of shop S" messages to the queue that can reach the shop's database.

Fairness: at most ``FIC_IN_FLIGHT`` (default :data:`IN_FLIGHT`) jobs of a
shop in flight, shops walked round-robin, and the queue kept to about
:data:`QUEUED_SECONDS` of work. Redis not answering, or workers not
taking jobs, make it say so and serve the shops with the embedded engine. The worker side, the
Celery app and the constants are in :mod:`fic_plugin.engine_celery`.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from contextlib import suppress
from typing import Any

from celery import Celery
from kombu.exceptions import OperationalError as BrokerError

from . import jobs as _jobs
from .engine_celery import (
    TASK,
    _inflight_key,
    _redis,
    company_at_limit,
    finished_key,
    make_app,
    redis_url,
)
from .i18n import _
from .multishop import PARK_SECONDS
from .shop_marks import QuietChecks, QuietShops
from .shop_registry import Shop
from .shops import ShopUnavailable, env_count, shop_context, shop_jobs

#: Jobs of one shop sent and not finished yet, at most.
#: Two are enough: FiC lets a company make about one request a second (300 in 5 minutes), and
#: more of one shop's jobs at once only fight over its database file in several processes.
#: ``FIC_IN_FLIGHT`` sets another number.
IN_FLIGHT = 2
#: The queue holds at most this many seconds of work (at the rate jobs were finishing lately) and
#: at least QUEUED_AT_LEAST messages: a message waiting in the queue longer than
#: IN_FLIGHT_SECONDS would be sent again, and a new shop's job waits behind the whole queue.
QUEUED_SECONDS = 10.0
QUEUED_AT_LEAST = 32
#: With ``--once``, a shop that could not be opened this many times is given up for the run.
ONCE_TRIES = 5
#: A shop with no job open and no change mark (PostgreSQL) is looked at again after this long (a
#: new order waits at most this); a SQLite shop only once its file changed (see shop_marks).
IDLE_SECONDS = 2.0
#: A shop whose jobs in flight did not change is opened again after this long at the latest.
REVISIT_SECONDS = 1.0
#: A pass reads the jobs in flight of this many shops in one round trip to Redis, and once the
#: queue is full and this many shops were looked at, it stops: the next pass starts there. (A
#: pass over every shop each time read thousands of marks to send a handful of jobs.)
WALK_CHUNK = 64
#: A sent job not finished after this long is sent again (its worker died, or Redis lost it).
IN_FLIGHT_SECONDS = 30.0
#: Redis down this long in the middle of a run: the dispatcher serves the shops itself.
REDIS_GRACE_SECONDS = 30.0
#: Messages waiting in the queue and no job finished for this long: the workers are not taking
#: jobs (none runs, or one lost Redis and stopped consuming: a known Celery failure with the
#: threads pool), so the dispatcher says so and serves the shops itself.
STALL_SECONDS = 60.0


class RedisUnavailable(Exception):
    pass


class WorkersStalled(Exception):
    """Jobs wait in the queue and no worker finished one for :data:`STALL_SECONDS`."""


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
    """:func:`_flying` of many shops in one round trip to Redis."""
    pipe = client.pipeline(transaction=False)
    for shop in shops:
        key = _inflight_key(shop.id)
        pipe.zremrangebyscore(key, "-inf", now)
        pipe.zrange(key, 0, -1)
    answers = pipe.execute()
    return {shop.id: frozenset(int(member) for member in answers[2 * n + 1]) for n, shop in enumerate(shops)}


def in_flight_per_shop(environ: Any = os.environ) -> int:
    """``FIC_IN_FLIGHT`` or :data:`IN_FLIGHT`; a SettingsError naming it when wrong."""
    return env_count(environ, "FIC_IN_FLIGHT", IN_FLIGHT, _(
        "FIC_IN_FLIGHT is {value!r}: give how many jobs of one shop may be sent to the workers at a time, "
        "1 or more (default {default})."))


def dispatch_turn(app: Celery, shop: Shop, *, check: bool, flying: frozenset[int] | None = None,
                  connections: dict[str, tuple] | None = None, in_flight: int = IN_FLIGHT,
                  room: int | None = None, checks: QuietChecks | None = None,
                  mark: tuple[int, ...] | None = None) -> tuple[int, bool, float | None, frozenset[int]]:
    """Send a shop's due jobs that are not in flight, up to ``in_flight`` of them in flight and
    ``room`` sent (what the queue may still take).

    ``connections``: each shop's (URL, token, company), read on its check turn (the full context)
    and kept by the caller, so the other turns only open the database file. ``checks``: told
    about the check with the file's ``mark`` read before it (see :class:`QuietChecks`).
    Returns (sent, open: jobs still pending or running, seconds to its next retry, jobs in flight)."""
    client = _redis()
    key = _inflight_key(shop.id)
    now = time.time()
    connections = {} if connections is None else connections
    flying = _flying(client, shop, now) if flying is None else flying
    if (len(flying) >= in_flight or room == 0) and not check:
        return 0, True, None, flying  # nothing could be sent: the shop's database is not even opened
    if check or shop.id not in connections:
        with shop_context(shop) as context:
            if check:  # the paid orders without a document: the shop's own plugin answers for its orders
                _jobs.invoice_paid_orders(context)
                if checks is not None:
                    checks.checked(shop, mark, bool(context.pm.hook.shop_orders_in_database()))
            connections[shop.id] = context.connection()
    with shop_jobs(shop) as context:
        # A company at its FiC limit: its jobs stay parked in the shop's database (no worker slot
        # spent waiting) until its window reopens; the other companies' jobs go on.
        due = [] if company_at_limit(connections[shop.id]) else _jobs.due_job_ids(context, limit=in_flight * 4)
        open_jobs = context.store.jobs.count_open()
        next_retry = _jobs._next_retry_in(context)
    can = in_flight - len(flying) if room is None else min(room, in_flight - len(flying))
    sent = [job_id for job_id in due if job_id not in flying][:max(0, can)]
    if sent:
        client.zadd(key, {str(job_id): now + IN_FLIGHT_SECONDS for job_id in sent})
        client.expire(key, int(IN_FLIGHT_SECONDS * 4))
        done = 0
        try:
            with app.producer_or_acquire() as producer:  # one broker connection for the shop's messages
                for job_id in sent:
                    app.send_task(TASK, args=[shop.id, job_id], queue=shop.engine_queue(), producer=producer)
                    done += 1
        except BrokerError:
            # Not sent: unmarked, so the next pass sends them (not IN_FLIGHT_SECONDS later).
            with suppress(Exception):
                client.zrem(key, *[str(job_id) for job_id in sent[done:]])
            raise
    return len(sent), open_jobs > 0, next_retry, flying | frozenset(sent)


def dispatch(shops: list[Shop], *, once: bool = False, interval: float = 60.0, pause: float = 0.2,
             stop: threading.Event | None = None, out: Any = print) -> dict[str, Any]:
    """``fic sync --engine celery``: send due jobs of every enabled shop round-robin until stopped
    (``once``: until no shop has a job left open or due within the ``--once`` horizon)."""
    import redis

    app = make_app()
    stop = stop or threading.Event()
    in_flight = in_flight_per_shop()
    served = [shop for shop in shops if shop.enabled]
    queues = sorted({shop.engine_queue() for shop in served})
    finished: deque[tuple[float, int]] = deque()  # (when, how many) jobs the workers finished
    counted: int | None = None  # the workers' count of finished jobs, last read
    progress_at = time.monotonic()  # the last time a job finished, or nothing waited in the queue
    resume_at: str | None = None
    errors: dict[str, str] = {}
    parked_until: dict[str, float] = {}  # shops that could not be opened: not retried every pass
    failures: dict[str, int] = {}
    checked_at: dict[str, float] = {}
    # A shop with no job open is looked at again once its database changed (quiet), or after
    # IDLE_SECONDS when it has no change mark (with --once: never, its jobs are all done): a pass
    # over thousands of shops opens only those with work.
    idle_until: dict[str, float] = {}
    quiet = QuietShops([] if once else served)  # PostgreSQL shops: a listening connection per database
    checks = QuietChecks(interval)  # the periodic check left out while a shop's file is unchanged
    # What a shop had in flight when last looked at: while none of it finished (and for at most
    # REVISIT_SECONDS, for retries coming due), nothing new can be due and the shop is skipped.
    seen: dict[str, tuple[frozenset[int], float]] = {}
    connections: dict[str, tuple] = {}
    sent_total = 0

    def leave_closed(shop: Shop) -> bool:
        """Idle and unchanged, and its check not due, or due but it would read the same file again."""
        if not quiet.resting(shop):
            return False
        if time.monotonic() - checked_at.get(shop.id, -1e9) < interval:
            return True
        if checks.needless(shop, quiet.mark(shop)):
            checked_at[shop.id] = time.monotonic()
            return True
        return False

    down_since: float | None = None
    try:
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
                progress_at = time.monotonic()  # the workers reconnect: the stall clock starts again
            quiet.listen()  # the PostgreSQL shops whose database rang for them are looked at again
            turn = []
            # Round-robin across passes too: the queue's room may run out before the last shops; the
            # next pass starts where this one stopped.
            first = next((n for n, shop in enumerate(served) if shop.id == resume_at), 0)
            for shop in served[first:] + served[:first]:
                later = max(parked_until.get(shop.id, 0.0), idle_until.get(shop.id, 0.0))
                if later > time.monotonic():
                    busy = busy or later != float("inf")  # a shop looked at again later is not done
                elif leave_closed(shop):
                    continue
                else:
                    quiet.forget(shop)
                    turn.append(shop)
            try:
                room, waiting, counted = _queue_room(client, queues, finished, counted)
            except (redis.RedisError, OSError):
                stop.wait(pause)  # Redis went away between the ping and now: the next pass waits for it
                continue
            resume_at = None
            all_flying: dict[str, frozenset[int]] = {}
            for position, shop in enumerate(turn):
                if room <= 0 and position >= WALK_CHUNK:
                    resume_at, busy = resume_at or shop.id, True  # the queue is full: the rest next pass
                    break
                check = time.monotonic() - checked_at.get(shop.id, -1e9) >= (1e9 if once else interval)
                try:
                    if shop.id not in all_flying:  # the next shops' jobs in flight, in one round trip
                        all_flying = _all_flying(client, turn[position:position + WALK_CHUNK], time.time())
                    flying = all_flying[shop.id]
                    last = seen.get(shop.id)
                    if (not check and last is not None and flying and last[0] == flying
                            and time.monotonic() - last[1] < REVISIT_SECONDS):
                        busy = True
                        continue
                    mark = None if once else quiet.mark(shop)  # before its jobs are read: see shop_marks
                    if check and checks.needless(shop, mark):
                        check, checked_at[shop.id] = False, time.monotonic()
                    sent, open_jobs, next_retry, flying = dispatch_turn(app, shop, check=check, flying=flying,
                                                                        connections=connections, in_flight=in_flight,
                                                                        room=room, checks=checks, mark=mark)
                    room -= sent
                    if room <= 0 and resume_at is None:
                        resume_at = turn[(position + 1) % len(turn)].id
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
                except (redis.RedisError, OSError, BrokerError):
                    # Redis went away during the turn (a message not sent: its job is sent again
                    # once Redis answers); the next pass waits for it.
                    busy = True
                    break
                if check:
                    checked_at[shop.id] = time.monotonic()
                errors.pop(shop.id, None)
                failures.pop(shop.id, None)
                sent_total += sent
                if not open_jobs:
                    if once:
                        idle_until[shop.id] = float("inf")
                    elif not quiet.rest(shop, mark):
                        idle_until[shop.id] = time.monotonic() + IDLE_SECONDS
                elif not flying:  # open jobs, none due (retries later, or its company at its limit)
                    idle_until[shop.id] = time.monotonic() + min(IDLE_SECONDS, max(pause, next_retry or 0.0))
                if open_jobs and (not once or next_retry is None or next_retry <= _jobs.ONCE_HORIZON_SECONDS
                                  or _has_running(shop)):
                    busy = True
            if once and not busy:
                break
            if not waiting or (finished and finished[-1][0] > progress_at):
                progress_at = finished[-1][0] if waiting else time.monotonic()
            elif time.monotonic() - progress_at > STALL_SECONDS:
                raise WorkersStalled(str(waiting))
            stop.wait(pause)
    finally:
        quiet.close()
    return {"sent": sent_total, "errors": errors}


def _queue_room(client: Any, queues: list[str], finished: deque[tuple[float, int]],
                counted: int | None) -> tuple[int, int, int]:
    """(how many more messages the queues may take now, how many wait in them, the workers'
    count of finished jobs): the room is :data:`QUEUED_SECONDS` of work at the rate jobs
    finished over the last minute (at least :data:`QUEUED_AT_LEAST`), less what they hold.
    ``finished`` gets the jobs the workers finished since their count was ``counted``."""
    pipe = client.pipeline(transaction=False)
    for queue in queues:
        pipe.llen(queue)  # Celery's Redis transport keeps a queue's waiting messages in a list of its name
    for queue in queues:
        pipe.get(finished_key(queue))
    answers = pipe.execute()
    waiting = sum(answers[:len(queues)])
    count = sum(int(answer or 0) for answer in answers[len(queues):])
    now = time.monotonic()
    if counted is not None and count > counted:  # lower: Redis restarted, the count with it
        finished.append((now, count - counted))
    while finished and finished[0][0] < now - 60:
        finished.popleft()
    rate = sum(number for _at, number in finished) / max(5.0, now - finished[0][0]) if finished else 0.0
    return max(0, max(QUEUED_AT_LEAST, int(rate * QUEUED_SECONDS)) - waiting), waiting, count


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
    except WorkersStalled as error:
        out(_("fic: {count} jobs wait in the Celery queue and no worker finished one for {seconds} s "
              "(no worker runs, or one lost Redis and stopped taking jobs: restart it); the embedded "
              "engine serves the shops instead.").format(count=error, seconds=int(STALL_SECONDS)))
        return None


def _safe_url(url: str) -> str:
    """The Redis URL without its password."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


