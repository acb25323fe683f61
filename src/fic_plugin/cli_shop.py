"""The shop the ``fic`` command talks to (always one that was named, never a stand-in, and a
``--db`` that can be its database), and how the command answers (``emit``).

``--db`` (or ``FIC_SHOP_DB``) names the database of the plugin's tables: a SQLite file (a path or
``sqlite:///path``) or the host's PostgreSQL (``postgresql://…``); an installed shop plugin
(``shop`` entry point) that answers ``shop_database`` names it too. Without either the command
stops with one line saying how to name it: a real FiC account must never receive documents for a
shop nobody chose. A SQLite file the reference shop made (it has the ``demo_`` tables) is answered
by the demo shop, the one case where ``fic_demo`` is loaded.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from .context import Context
from .errors import NotAvailable, SettingsError
from .i18n import _
from .integration import DatabaseFile
from .manager import get_plugin_manager
from .plugin import CORE_NAME
from .store import Store

#: Where ``fic demo`` keeps the reference shop when no ``--db`` is given.
DEFAULT_DB = "demo-data/shop.db"


def _no_shop_named() -> SettingsError:
    return SettingsError(_("No shop named: give --db PATH (or set FIC_SHOP_DB), or install your shop's "
                           "plugin; `fic demo` runs the reference shop."), field="db")


def _is_demo_database(path: Path) -> bool:
    if not path.exists():
        return False
    store = Store(path)
    try:
        return "demo_orders" in store.table_names()
    finally:
        store.close()


def named_database(db_path: str | Path | None) -> str:
    """The database named by ``--db`` or by an installed shop plugin; else how to name one."""
    if db_path:
        return str(db_path)
    named = get_plugin_manager().hook.shop_database()
    if not named:
        raise _no_shop_named()
    return str(named)


def cli_context(db_path: str | Path | None, plugins: Iterable[object] = ()) -> Context:
    """The plugin's context for the named shop, or a SettingsError saying how to name one.

    ``plugins``: the shop's own (a platform's per-shop plugin, from the shops registry), which
    answer for its orders before any installed one.
    """
    plugins = list(plugins)
    if db_path and str(db_path).startswith(("postgresql://", "postgres://")):
        # The host's database: the plugin's tables only, orders come from the shop's own plugin.
        plugins.append(DatabaseFile(db_path))
    elif db_path:
        path = Path(str(db_path).removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        if _is_demo_database(path):
            from fic_demo.shop import DemoShop  # optional: only for a file the demo made

            plugins.append(DemoShop(path))
        plugins.append(DatabaseFile(path))
    pm = get_plugin_manager(plugins)
    if not db_path and not pm.hook.shop_database.get_hookimpls():
        raise _no_shop_named()
    return pm.get_plugin(CORE_NAME).context


def check_database_path(db: str) -> None:
    """Refuse, before anything is created, a ``--db`` that cannot be the shop's database: a
    folder, a file that is not SQLite, one that cannot be written, or one in a missing folder
    (only the default ``demo-data/shop.db``, :data:`DEFAULT_DB`, is made from
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


def open_context(args: argparse.Namespace) -> Context:
    """The plugin context for the shop named by ``--db`` (or an installed shop plugin), or the
    host's own when a Django management command set ``args.context``."""
    if getattr(args, "context", None) is not None:
        return args.context
    if args.db:
        check_database_path(args.db)
    return cli_context(args.db)


def emit(args: argparse.Namespace, data: Any, text: str | Callable[[], str]) -> None:
    """Print a command's answer: JSON with ``--json``, else the text (made only when needed)."""
    if args.json:
        print(json.dumps(data, indent=2, default=str, ensure_ascii=False))
    else:
        print(text() if callable(text) else text)
