"""Everything the plugin needs for one shop, built once from the plugin manager.

The context reads the database path from the shop (``shop_database``), checks that the ``fic_``
tables are at the code's schema (it never migrates them: ``fic migrate`` does), and builds the FiC client from the settings, the secrets and the environment
(``FIC_API_URL``, ``FIC_ACCESS_TOKEN``, ``FIC_COMPANY_ID`` override what is stored).
"""

from __future__ import annotations

import contextvars
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import attrs

from .connection import client_for_context
from .errors import NotFound, SettingsError
from .i18n import _
from .settings import Settings, load_settings
from .store import Store

if TYPE_CHECKING:
    import pluggy

    from .fic.client import FicClient
    from .fic.transport import RequestRecord
    from .model import Order

#: The order (and document, job) the current FiC calls are made for: what the audit log files
#: each request under.
_acting_for: contextvars.ContextVar[tuple[str | None, int | None, int | None]] = contextvars.ContextVar(
    "fic_acting_for", default=(None, None, None))


@contextmanager
def acting_for(order_id: str | None, document_id: int | None = None, job_id: int | None = None) -> Iterator[None]:
    """File the FiC calls made inside the block under this order in the audit log."""
    token = _acting_for.set((None if order_id is None else str(order_id), document_id, job_id))
    try:
        yield
    finally:
        _acting_for.reset(token)


@attrs.define
class Context:
    pm: pluggy.PluginManager
    store: Store
    _client: FicClient | None = attrs.field(default=None, alias="_client")
    #: A host's configured connection (Django's ``FIC`` dict: ``api_url``, ``access_token``,
    #: ``company_id``): below the environment, above what is stored.
    connection_overrides: dict = attrs.field(factory=dict, repr=False)  # holds a token: never in a traceback

    @classmethod
    def from_plugin_manager(cls, pm: pluggy.PluginManager) -> Context:
        path = pm.hook.shop_database()
        if not path:
            raise SettingsError(_(
                "No shop database: the shop must implement the shop_database hook "
                "(or run the CLI with --db PATH / FIC_SHOP_DB)."))
        store = Store(path)
        store.check_schema()
        return cls(pm=pm, store=store)

    @property
    def settings(self) -> Settings:
        """Read on every use: settings saved from the screen apply at once, in every process."""
        return load_settings(self.store)

    def connection(self) -> tuple[str, str | None, int | None]:
        """(base URL, access token, company id): the environment wins over the stored values."""
        settings = self.settings
        host = self.connection_overrides
        url = os.environ.get("FIC_API_URL") or host.get("api_url") or settings.fic_api_url
        token = (os.environ.get("FIC_ACCESS_TOKEN") or host.get("access_token")
                 or self.store.get_secret("fic_access_token"))
        company = os.environ.get("FIC_COMPANY_ID") or host.get("company_id") or settings.fic_company_id
        return url.rstrip("/"), token, int(company) if company not in (None, "") else None

    @property
    def client(self) -> FicClient:
        if self._client is None:
            self._client = client_for_context(self, on_request=self._audit_request)
        return self._client

    def _audit_request(self, record: RequestRecord) -> None:
        """Every FiC call, for ``fic status ORDER_ID`` and the panel: no tokens, no bodies."""
        order_id, document_id, job_id = _acting_for.get()
        self.store.audit("fic_request", record.outcome, order_id=order_id, document_id=document_id,
                         job_id=job_id, method=record.method, path=record.path, status=record.status,
                         duration_ms=record.duration_ms)

    def reset_client(self) -> None:
        """Forget the client (after the connection settings or the token changed)."""
        self._client = None

    def order(self, order_id: str) -> Order:
        order = self.pm.hook.shop_get_order(order_id=str(order_id))
        if order is None:
            raise NotFound(_("Order {order} does not exist in the shop.").format(order=order_id),
                           order_id=str(order_id))
        return order
