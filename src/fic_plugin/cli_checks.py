"""Checks of what the ``fic`` command is given, before anything is opened or created.

argparse's types let through a document id no database holds or an ``--interval`` of ``nan``:
each is one line on stderr and a non-zero exit here (a ``--db`` that cannot be the shop's
database is refused in :mod:`fic_plugin.cli_shop`, where it is opened).
"""

from __future__ import annotations

import argparse
import math

from .errors import InvalidInput, NotFound
from .i18n import _

#: The largest row id SQLite stores (a larger number is no document and no job).
MAX_ROW_ID = 2**63 - 1


def check_arguments(args: argparse.Namespace) -> None:
    """What argparse's types let through but no command can use: one line, exit 1, nothing done."""
    doc_id = getattr(args, "doc_id", None)
    if doc_id is not None and not 1 <= doc_id <= MAX_ROW_ID:
        raise NotFound(_("Document {id} does not exist.").format(id=doc_id))
    job_id = getattr(args, "job_id", None)
    if job_id is not None and not 1 <= job_id <= MAX_ROW_ID:
        raise NotFound(_("Job {id} does not exist.").format(id=job_id))
    interval = getattr(args, "interval", None)
    if interval is not None and not (math.isfinite(interval) and interval > 0):
        raise InvalidInput(_("--interval {value}: give the seconds between rounds as a number above 0, like 60.")
                           .format(value=interval), field="interval")
