"""The settings screen's "Connetti con Fatture in Cloud": FiC's OAuth flow inside the shop.

``/fic/oauth/start`` sends the owner to FiC with a one-time ``state``; FiC sends them back to the
redirect URI registered in the FiC app, which must be this shop's ``/fic/oauth/callback``. The
code is traded for tokens at once; tokens go to the secrets table only, never to a page or a log.
``fic connect`` does the same from a terminal.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from typing import TYPE_CHECKING

from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from .. import connection
from ..errors import SettingsError
from ..i18n import _
from .panel import attempt, flash

if TYPE_CHECKING:
    from .base import FicWebApp

log = logging.getLogger(__name__)

STATE_KEY = "web_oauth_state"
FLASH_KEY = "__settings__"


def start(web: FicWebApp, request: Request) -> Response:
    app = attempt(web.context, FLASH_KEY, lambda: connection.oauth_app(web.context), doing="the OAuth start")
    if app is None:
        return redirect(f"{request.script_root}/settings", code=303)
    state = secrets.token_urlsafe(24)
    web.context.store.set_secret(STATE_KEY, state)
    return redirect(app.authorize_url(web.context.settings.fic_redirect_uri, state), code=302)


def callback(web: FicWebApp, request: Request) -> Response:
    store = web.context.store
    expected = store.get_secret(STATE_KEY)
    state = request.args.get("state", "")
    store.set_secret(STATE_KEY, None)  # one use: a replayed link does nothing

    def connect() -> None:
        if not expected or not hmac.compare_digest(expected, state):
            raise SettingsError(_("This connection link is expired or not from this shop: press "
                                  "“Connect with Fatture in Cloud” again."))
        if request.args.get("error") or not request.args.get("code"):
            raise SettingsError(_("Fatture in Cloud did not grant access ({reason}): try again.").format(
                reason=request.args.get("error_description") or request.args.get("error") or _("no code")))
        company = connection.connect_with_code(web.context, request.args["code"])
        if company is not None:
            flash(web.context, FLASH_KEY, _("Connected to Fatture in Cloud: company {name}.").format(
                name=company.get("name", "")))
        else:
            flash(web.context, FLASH_KEY, _("The token works, but choose the company to use."), "error")

    attempt(web.context, FLASH_KEY, connect, doing="the OAuth connection")
    return redirect(f"{request.script_root}/settings", code=303)


HANDLERS = {"oauth_start": start, "oauth_callback": callback}
