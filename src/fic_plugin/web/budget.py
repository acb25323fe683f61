"""Panel actions never keep a web request waiting on FiC.

FiC may take 30 s to answer and the pacer may wait for a rate-limit window; a web server
(gunicorn's default ``--timeout 30``) kills a worker long before that. An action runs in a thread
of its own; the request waits at most :data:`ACTION_BUDGET_SECONDS`. When FiC has not finished by
then, the action's job is queued (the worker finishes it if this process dies; documents and sends
are exactly-once, so the thread and the worker can never both issue it) and the panel says the
operation is in progress ("in corso") and refreshes until it is done.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable

from ..labels import N_

log = logging.getLogger(__name__)

#: What a request waits for FiC before the action becomes a job.
ACTION_BUDGET_SECONDS = 3.0

IN_PROGRESS = N_("Fatture in Cloud is still working on it: the operation is in progress and this "
                 "page refreshes by itself until it is done.")


class StillRunning(Exception):
    """The action did not finish within the budget: it goes on in the background."""


def run_within_budget(action: Callable[[], str], seconds: float,
                      on_overrun: Callable[[], object] | None = None) -> str:
    """``action()``'s result, or :class:`StillRunning` after ``seconds`` (``on_overrun`` queued).

    The action runs with the caller's context variables (language, audit target); its exception
    is raised here when it fails within the budget.
    """
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["result"] = action()
        except BaseException as error:  # noqa: BLE001 - handed to the waiting request, or logged
            outcome["error"] = error
            if finished.is_set():
                log.warning("fic-plugin: a panel action finished in the background with: %s", error)
        finally:
            done.set()

    done, finished = threading.Event(), threading.Event()
    thread = threading.Thread(target=contextvars.copy_context().run, args=(run,),
                              name="fic-panel-action", daemon=True)
    thread.start()
    if not done.wait(seconds):
        finished.set()
        if on_overrun is not None:
            on_overrun()
        raise StillRunning()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["result"]  # type: ignore[return-value]
