"""The plugin's WSGI app: the screens' handlers on :class:`~fic_plugin.web.base.FicWebApp`'s
routing, admin check, CSRF and error handling. Hosts get it as :attr:`fic_plugin.FicApp.wsgi`.

The screens know the base class (for their type hints), the base class knows no screen: this
module joins the two, so the web package has no import circle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import actions, oauth, overview, send_screen, settings_screen
from .base import FicWebApp, Handler, safe_local_target

if TYPE_CHECKING:
    from ..context import Context

__all__ = ["HANDLERS", "FicWebApp", "make_wsgi_app", "safe_local_target"]

HANDLERS: dict[str, Handler] = {
    **actions.HANDLERS, **overview.HANDLERS, **send_screen.HANDLERS, **settings_screen.HANDLERS,
    **oauth.HANDLERS,
}


def make_wsgi_app(context: Context) -> FicWebApp:
    """The WSGI app for one shop; hosts use :attr:`fic_plugin.FicApp.wsgi`, which makes it lazily."""
    return FicWebApp(context, HANDLERS)
