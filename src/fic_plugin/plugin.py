"""fic-plugin's own hook implementations: thin, they hand events to the job queue.

This module is what the ``shop`` entry point registers. It only binds, on ``shop_ready``, a
:class:`FicPlugin` to the manager: that object keeps the per-shop context (database, settings,
FiC client), so two managers in one process never share state. Hosts reach it through
:func:`fic_plugin.setup`, never by its registration name.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

from . import jobs
from .context import Context
from .hookspecs import hookimpl
from .web.overview import list_cell
from .web.panel import MOUNT, render_panel

if TYPE_CHECKING:
    import pluggy

    from .model import Order, Payment, Refund

CORE_NAME = "fic-core"


@hookimpl
def shop_ready(pm: pluggy.PluginManager) -> None:
    if pm.get_plugin(CORE_NAME) is None:
        pm.register(FicPlugin(pm), name=CORE_NAME)


class FicPlugin:
    """The plugin bound to one shop's plugin manager."""

    def __init__(self, pm: pluggy.PluginManager, *, mount: str = MOUNT):
        self.pm = pm
        #: Where the host mounted the web app: the panel's forms and links go there.
        self.mount = mount
        self._context: tuple[int, Context] | None = None
        self._lock = threading.Lock()

    @property
    def context(self) -> Context:
        """Made on first use, once per process: after a ``fork`` (gunicorn ``--preload``) the child
        makes its own, so no database connection is ever shared between processes."""
        pid = os.getpid()
        with self._lock:
            if self._context is None or self._context[0] != pid:
                self._context = (pid, Context.from_plugin_manager(self.pm))
            return self._context[1]

    @hookimpl(trylast=True)
    def order_paid(self, order: Order) -> None:
        jobs.on_order_paid(self.context, order)

    @hookimpl(trylast=True)
    def payment_recorded(self, order: Order, payment: Payment) -> None:
        jobs.on_payment_recorded(self.context, order, payment)

    @hookimpl(trylast=True)
    def order_refunded(self, order: Order, refund: Refund) -> None:
        jobs.on_order_refunded(self.context, order, refund)

    @hookimpl(trylast=True)
    def order_panel_render(self, order: Order) -> str | None:
        return render_panel(self.context, order, mount=self.mount)

    @hookimpl(trylast=True)
    def order_list_cell(self, order: Order) -> str | None:
        return list_cell(self.context, order)
