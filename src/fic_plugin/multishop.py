"""Many shops on the embedded engine: ``fic sync --all-shops`` and ``fic status --all-shops``.

Round-robin in slices: a shop gets at most :data:`SLICE_JOBS` jobs per turn, then the next shop
has its turn, so a shop with 10,000 queued jobs cannot starve one with 3. Turns run on a small
pool of threads (``--concurrency``), at most one per shop at a time: a shop whose FiC is slow
or down holds one thread while the others keep going, and its failing jobs are rescheduled by
the job layer (backoff), not retried in a loop. A shop that cannot be opened (missing or
broken database, another company's) is reported and parked until its next round.

Failing shops: a job that fails *temporarily* (FiC down for the shop's company, rate limited)
ends the shop's turn at once (its other jobs would only wait on the same FiC) and is retried by
the job layer's backoff on a later turn; jobs that *fail* (a wrong token, a refused document)
and a shop that cannot be opened are reported in one line per shop and round, never in a loop.
"""

from __future__ import annotations

import contextvars
import logging
import os
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import closing
from typing import Any

import attrs

from . import jobs as _jobs
from .errors import Busy
from .fic.ratelimit import RateLimits
from .i18n import _, ngettext
from .shop_marks import QuietChecks, QuietShops
from .shop_registry import Shop
from .shops import ShopUnavailable, shop_context
from .store import clock

log = logging.getLogger(__name__)

#: Jobs one shop may run in one turn before the next shop's turn.
SLICE_JOBS = 5
#: A shop that could not be opened is tried again after this long.
PARK_SECONDS = 60.0
#: Rough FiC requests per job (create, email, a lookup now and then): for the time to drain.
REQUESTS_PER_JOB = 3


@attrs.define
class ShopTally:
    done: int = 0
    retried: int = 0
    failed: int = 0
    queued_by_check: int = 0
    error: str | None = None


@attrs.define
class _Turn:
    """What one turn of a shop found: whether it left due work, and when its next retry is."""

    ran: int = 0
    more: bool = False
    next_retry_in: float | None = None
    #: At the end of the shop's round: its failed jobs, and the reason of the last one.
    failed: int = 0
    failure: str | None = None
    #: The turn ran the periodic check, and the shop's orders are in its database (see QuietChecks).
    checked: bool = False
    orders_in_database: bool = False


def run_turn(shop: Shop, tally: ShopTally, *, check: bool, limit: int = SLICE_JOBS) -> _Turn:
    """One turn of one shop: the periodic check when asked, then up to ``limit`` due jobs."""
    turn = _Turn()
    with shop_context(shop) as context:
        if check:
            tally.queued_by_check += _jobs.invoice_paid_orders(context)
            turn.checked, turn.orders_in_database = True, bool(context.pm.hook.shop_orders_in_database())
        ids = _jobs.due_job_ids(context, limit=limit + 1)
        turn.more = len(ids) > limit
        for job_id in ids[:limit]:
            state, error = _jobs.run_job(context, job_id)
            turn.ran += 1
            if state == "done":
                tally.done += 1
            elif state == "pending" and isinstance(error, Busy):
                # It waits on another of the shop's jobs (the order's document, paid a moment ago,
                # not made yet): that one may be next in this very turn.
                tally.retried += 1
            elif state == "pending":
                # FiC down (or the quota spent) for this company: the shop's other jobs would only
                # hold this thread waiting on the same FiC; they wait for the retry instead.
                tally.retried += 1
                turn.more = False
                job = context.store.jobs.get(job_id)
                if job is not None:
                    turn.next_retry_in = max(0.0, (clock.parse(job.run_after) - clock.utc_now()).total_seconds())
                break
            elif state == "failed":
                tally.failed += 1
        if not turn.more:
            if turn.next_retry_in is None:
                turn.next_retry_in = _jobs._next_retry_in(context)
            # The end of the shop's round: its failed jobs (a wrong token...) are said once a round.
            failed = context.store.jobs.list(states=("failed",))
            turn.failed = len(failed)
            turn.failure = failed[-1].last_error if failed else None
    return turn


def run_all_shops(shops: list[Shop], *, once: bool = False, interval: float = 60.0, concurrency: int = 4,
                  stop: threading.Event | None = None, out: Any = print) -> dict[str, ShopTally]:
    """Serve every enabled shop round-robin until ``stop`` (or, ``once``, until none has work due
    within the ``fic sync --once`` horizon). Returns each shop's tally."""
    served = [shop for shop in shops if shop.enabled]
    tallies = {shop.id: ShopTally() for shop in served}
    next_at = dict.fromkeys(tallies, 0.0)
    checked: set[str] = set()
    finished: set[str] = set()
    said: dict[str, float] = {}
    stop = stop or threading.Event()
    position = 0
    # A shop with nothing left waits for its next round (``interval``), unless its database changes
    # first (an event wrote a job): then its turn comes at once, without opening the idle others.
    quiet = QuietShops([] if once else served)  # PostgreSQL shops: a listening connection per database
    marks: dict[str, tuple[int, ...] | None] = {}
    checks = QuietChecks(interval)  # an idle shop's round left out while its file is unchanged
    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="fic-shop") as pool, closing(quiet):
        running: dict[Future, Shop] = {}
        while not stop.is_set():
            quiet.listen()
            now = time.monotonic()
            busy = {shop.id for shop in running.values()}
            # Hand free threads to the next shops in the ring that are due and not already running.
            for _step in range(len(served)):
                if len(running) >= max(1, concurrency):
                    break
                shop = served[position % len(served)] if served else None
                position += 1
                if shop is None or shop.id in busy or shop.id in finished:
                    continue
                if next_at[shop.id] > now:
                    if once or not quiet.woken(shop):
                        continue
                    next_at[shop.id] = now
                mark = None if once else quiet.mark(shop)  # before its jobs are read
                if quiet.resting(shop) and checks.needless(shop, mark):
                    next_at[shop.id] = now + interval  # its round would read the same file again
                    continue
                check = shop.id not in checked
                marks[shop.id] = mark
                # The caller's context (its language, above all) goes with the turn to the thread.
                turn = contextvars.copy_context().run
                running[pool.submit(turn, run_turn, shop, tallies[shop.id], check=check)] = shop
                busy.add(shop.id)
            if not running:
                if once and len(finished) == len(served):
                    break
                pause = min((at for sid, at in next_at.items() if sid not in finished), default=now + 1) - now
                stop.wait(max(0.05, min(pause, 1.0)))
                continue
            done, _pending = wait(list(running), timeout=1.0, return_when=FIRST_COMPLETED)
            for future in done:
                shop = running.pop(future)
                checked.add(shop.id)
                mark = marks.pop(shop.id, None)
                if future.exception() is None and future.result().checked:
                    checks.checked(shop, mark, future.result().orders_in_database)
                if _after_turn(shop, future, tallies[shop.id], next_at, finished, once=once, interval=interval,
                               out=out, said=said) and not once:
                    checked.discard(shop.id)  # idle until its next round: that round checks paid orders again
                    if future.exception() is None and future.result().next_retry_in is None:
                        quiet.rest(shop, mark)  # nothing pending at all: woken by a write
    return tallies


def _after_turn(shop: Shop, future: Future, tally: ShopTally, next_at: dict[str, float], finished: set[str],
                *, once: bool, interval: float, out: Any, said: dict[str, float]) -> bool:
    """Schedule the shop's next turn; True when it has nothing left to do for now."""
    now = time.monotonic()
    try:
        turn = future.result()
    except ShopUnavailable as error:
        # Parked until its next round, and said again then: one line per shop and round.
        out(_("fic: {error} (the other shops go on)").format(error=error))
        tally.error = str(error)
        if once:
            finished.add(shop.id)
        next_at[shop.id] = now + max(PARK_SECONDS, interval)
        return True
    except Exception as error:  # noqa: BLE001 - one shop's bug must not stop the others
        log.exception("shop %s: turn failed", shop.id)
        tally.error = _("Shop {shop}: unexpected error ({kind}): see the worker's log.").format(
            shop=shop.id, kind=type(error).__name__)
        if once:
            finished.add(shop.id)
        next_at[shop.id] = now + PARK_SECONDS
        return True
    tally.error = None
    if turn.failed and not turn.more and now - said.get(shop.id, -1e18) >= interval:
        said[shop.id] = now  # the shop's failed jobs are said once a round
        out(ngettext("fic: Shop {shop}: {count} job failed: {reason} (fix the cause, then fic retry --all-failed; "
                     "the other shops go on)",
                     "fic: Shop {shop}: {count} jobs failed, the last one: {reason} (fix the cause, then fic retry "
                     "--all-failed; the other shops go on)", turn.failed).format(
            shop=shop.id, count=turn.failed, reason=turn.failure or "?"))
    if turn.more:
        next_at[shop.id] = now  # back in the ring: its next turn comes after the others'
        return False
    if once:
        wait_s = turn.next_retry_in
        if wait_s is None or wait_s > _jobs.ONCE_HORIZON_SECONDS:
            finished.add(shop.id)
        else:
            next_at[shop.id] = now + min(wait_s, 5.0) + 0.05
    else:
        wait_s = turn.next_retry_in
        next_at[shop.id] = now + min(interval, wait_s + 0.05 if wait_s is not None else interval)
    return True


def summary(tallies: dict[str, ShopTally]) -> str:
    lines = [_("{shops} shops: {done} done, {retried} to retry, {failed} failed, {unavailable} unavailable.").format(
        shops=len(tallies), done=sum(t.done for t in tallies.values()),
        retried=sum(t.retried for t in tallies.values()), failed=sum(t.failed for t in tallies.values()),
        unavailable=sum(1 for t in tallies.values() if t.error))]
    lines.extend(f"  {shop_id}: {tally.error}" for shop_id, tally in tallies.items() if tally.error)
    return "\n".join(lines)


# --- fic status --all-shops --------------------------------------------------------------------------


def all_shops_status(shops: list[Shop]) -> dict[str, Any]:
    """Queued, running and failed jobs per shop, and the time to drain its queue at FiC's quota
    (one company's quota per shop: shops drain side by side, not one after the other)."""
    limits = RateLimits.from_env(os.environ)
    per_second = min(limits.hourly / limits.hour_seconds, limits.short_term / limits.short_seconds)
    rows = []
    for shop in shops:
        row: dict[str, Any] = {"shop": shop.id, "enabled": shop.enabled, "db": shop.db}
        if shop.enabled:
            try:
                with shop_context(shop) as context:
                    counts = context.store.jobs.counts_by_state()
            except ShopUnavailable as error:
                row["error"] = str(error)
            else:
                queued = counts.get("pending", 0)
                row.update(queued=queued, running=counts.get("running", 0), failed=counts.get("failed", 0),
                           done=counts.get("done", 0),
                           drain_seconds=round((queued + counts.get("running", 0)) * REQUESTS_PER_JOB / per_second))
        rows.append(row)
    lines = [_("{shop:<20} {queued:>8} {running:>8} {failed:>8}  {drain}").format(
        shop=_("shop"), queued=_("queued"), running=_("running"), failed=_("failed"), drain=_("time to drain"))]
    for row in rows:
        if not row["enabled"]:
            lines.append(f"{row['shop']:<20} " + _("disabled"))
        elif "error" in row:
            lines.append(f"{row['shop']:<20} " + row["error"])
        else:
            lines.append(f"{row['shop']:<20} {row['queued']:>8} {row['running']:>8} {row['failed']:>8}  "
                         + _duration(row["drain_seconds"]))
    return {"shops": rows, "text": "\n".join(lines)}


def _duration(seconds: int) -> str:
    if seconds < 60:
        return _("{n} s").format(n=seconds)
    if seconds < 3600:
        return _("{n} min").format(n=round(seconds / 60))
    return _("{n} h").format(n=round(seconds / 3600, 1))
