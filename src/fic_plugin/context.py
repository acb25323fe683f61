"""Everything the plugin needs for one shop, built once from the plugin manager.

The context reads the database path from the shop (``shop_database``), migrates the ``fic_``
tables, and builds the FiC client from the settings, the secrets and the environment
(``FIC_API_URL``, ``FIC_ACCESS_TOKEN``, ``FIC_COMPANY_ID`` override what is stored).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import attrs

from .errors import NotFound, SettingsError
from .settings import Settings, load_settings
from .store import Store

if TYPE_CHECKING:
    import pluggy

    from .fic.client import FicClient
    from .model import Order


@attrs.define
class Context:
    pm: pluggy.PluginManager
    store: Store
    _client: FicClient | None = attrs.field(default=None, alias="_client")

    @classmethod
    def from_plugin_manager(cls, pm: pluggy.PluginManager) -> Context:
        path = pm.hook.shop_database()
        if not path:
            raise SettingsError(
                "No shop database: the shop must implement the shop_database hook "
                "(or run the CLI with --db PATH / FIC_SHOP_DB)."
            )
        store = Store(path)
        store.migrate()
        return cls(pm=pm, store=store)

    @property
    def settings(self) -> Settings:
        """Read on every use: settings saved from the screen apply at once, in every process."""
        return load_settings(self.store)

    def connection(self) -> tuple[str, str | None, int | None]:
        """(base URL, access token, company id): the environment wins over the stored values."""
        settings = self.settings
        url = os.environ.get("FIC_API_URL") or settings.fic_api_url
        token = os.environ.get("FIC_ACCESS_TOKEN") or self.store.get_secret("fic_access_token")
        company = os.environ.get("FIC_COMPANY_ID") or settings.fic_company_id
        return url.rstrip("/"), token, int(company) if company not in (None, "") else None

    @property
    def client(self) -> FicClient:
        if self._client is None:
            from .fic.client import client_for_context

            self._client = client_for_context(self)
        return self._client

    def reset_client(self) -> None:
        """Forget the client (after the connection settings or the token changed)."""
        self._client = None

    def order(self, order_id: str) -> Order:
        order = self.pm.hook.shop_get_order(order_id=str(order_id))
        if order is None:
            raise NotFound(f"Order {order_id} does not exist in the shop.", order_id=str(order_id))
        return order
