"""The outbox: the one writer of jobs, the queue's reads, and the rules that say which failures
are worth a retry.

``documents`` and ``sending`` queue work here when FiC does not answer in time; the worker
(:mod:`fic_plugin.jobs`) reads the queue and runs it through them. This module sits below all
three, so none of them has to import the worker. The rows themselves are the store's
(:class:`fic_plugin.store.jobs.JobRepository`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .errors import Busy, FicError, NotFound, Queued
from .fic.errors import BadResponse, FicUnavailable, RateLimited
from .i18n import _
from .store import Job

if TYPE_CHECKING:
    from .context import Context


def enqueue(context: Context, kind: str, key: str, *, order_id: str | None = None,
            document_id: int | None = None, args: dict[str, Any] | None = None, connection: Any = None,
            run_after: str | None = None) -> bool:
    """Insert a job unless one with the same key exists; True when a new job was written.

    Called by the shop's events, so it must stay fast: one INSERT, nothing else. ``connection``:
    the host's own open connection to the shop database (psycopg, sqlite3, or a Django
    connection): the job row is then written in the host's transaction and commits or rolls back
    with the order, so no crash between the two can lose it. ``run_after``: not due before then.
    """
    return context.store.enqueue(kind, key, order_id=order_id, document_id=document_id, args=args,
                                 connection=connection, run_after=run_after)


def is_transient(error: BaseException) -> bool:
    """Failures that go away by themselves: FiC down or slow, rate limits, another worker busy."""
    return isinstance(error, FicUnavailable | RateLimited | BadResponse | Busy | Queued)


# --- reading the queue, and retry -------------------------------------------------------------------


def jobs(context: Context, *, order_id: str | None = None, states: tuple[str, ...] = ()) -> Iterator[Job]:
    """The queued jobs, oldest first; of one order and in some states when asked."""
    yield from context.store.jobs.list(order_id=order_id, states=states)


def job_counts(context: Context) -> dict[str, int]:
    """How many jobs are in each state (``pending``, ``running``, ``done``, ``failed``)."""
    return context.store.jobs.counts_by_state()


def retry_jobs(context: Context, *, job_id: int | None = None, all_failed: bool = False) -> int:
    """Queue failed jobs again (after the owner fixed the cause)."""
    if job_id is not None:
        state = context.store.jobs.state_of(job_id)
        if state is None:
            raise NotFound(_("Job {id} does not exist.").format(id=job_id))
        if state != "failed":
            raise FicError(_("Job {id} is {state}, not failed: nothing to retry.").format(id=job_id, state=state))
        return context.store.jobs.requeue_failed(job_id)
    if all_failed:
        return context.store.jobs.requeue_failed()
    return 0
