"""fic-plugin's own hook implementations: thin, they hand events to the job queue.

This module is what the ``shop`` entry point registers. It only binds, on ``shop_ready``, a
:class:`FicPlugin` to the manager: that object keeps the per-shop context (database, settings,
FiC client), so two managers in one process never share state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import hookimpl

if TYPE_CHECKING:
    import pluggy

    from .context import Context
    from .model import Order, Payment, Refund

CORE_NAME = "fic-core"


@hookimpl
def shop_ready(pm: pluggy.PluginManager) -> None:
    if pm.get_plugin(CORE_NAME) is None:
        pm.register(FicPlugin(pm), name=CORE_NAME)


class FicPlugin:
    """The plugin bound to one shop's plugin manager."""

    def __init__(self, pm: pluggy.PluginManager):
        self.pm = pm
        self._context: Context | None = None

    @property
    def context(self) -> Context:
        if self._context is None:
            from .context import Context

            self._context = Context.from_plugin_manager(self.pm)
        return self._context

    @hookimpl(trylast=True)
    def order_paid(self, order: Order) -> None:
        from . import jobs

        jobs.on_order_paid(self.context, order)

    @hookimpl(trylast=True)
    def payment_recorded(self, order: Order, payment: Payment) -> None:
        from . import jobs

        jobs.on_payment_recorded(self.context, order, payment)

    @hookimpl(trylast=True)
    def order_refunded(self, order: Order, refund: Refund) -> None:
        from . import jobs

        jobs.on_order_refunded(self.context, order, refund)

    @hookimpl(trylast=True)
    def order_panel_render(self, order: Order) -> str | None:
        from .web.panel import render_panel

        return render_panel(self.context, order)

    @hookimpl(trylast=True)
    def order_list_cell(self, order: Order) -> str | None:
        from .web.overview import list_cell

        return list_cell(self.context, order)
