"""Checks of what the ``fic`` command is given, before anything is opened or created.

argparse's types let through a document id no database holds, an ``--interval`` of ``nan``, a
``--db`` that is a folder or not SQLite: each is one line on stderr and a non-zero exit here.
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

from .cli_shop import DEFAULT_DB
from .errors import InvalidInput, NotAvailable, NotFound
from .i18n import _

#: The largest row id SQLite stores (a larger number is no document and no job).
MAX_ROW_ID = 2**63 - 1


def check_database_path(db: str) -> None:
    """Refuse, before anything is created, a ``--db`` that cannot be the shop's database: a
    folder, a file that is not SQLite, one that cannot be written, or one in a missing folder
    (only the default ``demo-data/shop.db``, :data:`~fic_plugin.cli.DEFAULT_DB`, is made from
    nothing, for a fresh clone)."""
    if db.startswith(("postgresql://", "postgres://")):
        return  # the server says what is wrong with it, in one line (see cli.main)
    path = Path(db.removeprefix("sqlite:///"))
    if path.is_dir():
        raise NotAvailable(_("--db {path} is a folder: give the shop's SQLite file.").format(path=db))
    if not path.exists():
        if not path.parent.exists() and path != Path(DEFAULT_DB):
            raise NotAvailable(_("--db {path}: the folder {folder} does not exist. Check the path, or create the "
                                 "folder first.").format(path=db, folder=path.parent))
        return
    try:
        with path.open("rb") as file:
            header = file.read(16)
    except OSError as error:
        raise NotAvailable(_("--db {path} cannot be read ({reason}).").format(path=db, reason=error.strerror)) from None
    if header and header != b"SQLite format 3\x00":
        raise NotAvailable(_("--db {path} is not a SQLite database: give the shop's database file.").format(path=db))
    if not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK):
        raise NotAvailable(_("--db {path} is read-only: the plugin writes its queue and documents there. Give the "
                             "user running fic write access to the file and its folder.").format(path=db))


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
