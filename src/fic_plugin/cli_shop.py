"""The shop the ``fic`` command talks to when it runs outside a host process.

``--db`` names the shop's SQLite file. When that file is the reference shop's (it has the
``demo_`` tables), or it is the default file and does not exist yet, the demo shop answers the
shop services, seeded as ``fic demo`` seeds it, so ``FIC_API_URL=… fic doc create 1`` works on
a fresh clone; otherwise the shop's own plugin, installed under the ``shop`` entry-point group,
must provide orders.
"""

from __future__ import annotations

from pathlib import Path

from . import hookimpl
from .context import Context
from .manager import get_plugin_manager
from .plugin import CORE_NAME
from .store import Store

#: The reference shop's file, where ``fic demo`` and the other commands look without ``--db``.
DEFAULT_DB = "demo-data/shop.db"


class DatabaseFile:
    """Answers ``shop_database`` with the file given on the command line."""

    def __init__(self, path: str | Path):
        self.path = path

    @hookimpl
    def shop_database(self) -> str:
        return str(self.path)


def _is_demo_database(path: Path) -> bool:
    if not path.exists():
        return False
    store = Store(path)
    try:
        return "demo_orders" in store.table_names()
    finally:
        store.close()


def cli_context(db_path: str | Path) -> Context:
    if str(db_path).startswith(("postgresql://", "postgres://")):
        # The host's database: the plugin's tables only, orders come from the shop's own plugin.
        return get_plugin_manager([DatabaseFile(db_path)]).get_plugin(CORE_NAME).context
    path = Path(str(db_path).removeprefix("sqlite:///"))
    path.parent.mkdir(parents=True, exist_ok=True)
    plugins: list[object] = [DatabaseFile(path)]
    shop = None
    if _is_demo_database(path) or (path == Path(DEFAULT_DB) and not path.exists()):
        from fic_demo.shop import DemoShop

        shop = DemoShop(path)
        plugins.insert(0, shop)
    pm = get_plugin_manager(plugins)
    context = pm.get_plugin(CORE_NAME).context
    if shop is not None and not context.settings.vat_mapping:
        _, token, company_id = context.connection()
        # Not connected yet: the command itself says what to do, once, in the owner's language.
        if token and company_id is not None:
            from fic_demo.server import fill_missing_mappings

            fill_missing_mappings(context, shop)
    return context
