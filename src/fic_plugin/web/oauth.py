"""The settings screen's "Connetti con Fatture in Cloud": FiC's OAuth flow inside the shop.

``/fic/oauth/start`` sends the owner to FiC with a one-time ``state`` kept in this browser's
``fic_oauth_state`` cookie; FiC sends them back to the
redirect URI registered in the FiC app, which must be this shop's ``/fic/oauth/callback``. The
code is traded for tokens at once; tokens go to the secrets table only, never to a page or a log.
``fic connect`` does the same from a terminal.
"""

from __future__ import annotations

import hmac
import secrets
from typing import TYPE_CHECKING

import attrs
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from ..connection import connect_with_code, oauth_app
from ..errors import SettingsError
from ..i18n import _
from ..settings import Settings

if TYPE_CHECKING:
    from .base import Screens

STATE_COOKIE = "fic_oauth_state"
STATE_MAX_AGE = 900
FLASH_KEY = "__settings__"


def redirect_uri(web: Screens, request: Request) -> str:
    """The one redirect URI the screen shows and the web flow uses: this shop's
    ``/fic/oauth/callback``, unless the owner set another (a proxy in front) in ``fic_redirect_uri``;
    the setting's default is the ``fic connect`` command's local listener, not a web page."""
    configured = web.context.settings.fic_redirect_uri
    default = attrs.fields(Settings).fic_redirect_uri.default
    if configured and configured != default:
        return configured
    return f"{request.host_url.rstrip('/')}{request.script_root}/oauth/callback"


def start(web: Screens, request: Request) -> Response:
    with web.flashing(FLASH_KEY, "starting the OAuth connection") as failure:
        app = oauth_app(web.context)
    if failure:
        return redirect(f"{request.script_root}/settings", code=303)
    state = secrets.token_urlsafe(24)
    response = redirect(app.authorize_url(redirect_uri(web, request), state), code=302)
    # The state is this browser's: FiC's redirect back is a cross-site navigation (Lax sends it);
    # another browser, or a stray link in this one, cannot complete or cancel the connection.
    response.set_cookie(STATE_COOKIE, state, max_age=STATE_MAX_AGE, httponly=True, samesite="Lax",
                        path=request.script_root or "/", secure=request.is_secure)
    return response


def callback(web: Screens, request: Request) -> Response:
    expected = request.cookies.get(STATE_COOKIE, "")
    state = request.args.get("state", "")
    matched = bool(expected) and hmac.compare_digest(expected, state)
    with web.flashing(FLASH_KEY, "the OAuth connection"):
        if not matched:
            raise SettingsError(_("This connection link is expired or not from this shop: press "
                                  "“Connect with Fatture in Cloud” again."))
        if request.args.get("error") or not request.args.get("code"):
            raise SettingsError(_("Fatture in Cloud did not grant access ({reason}): try again.").format(
                reason=request.args.get("error_description") or request.args.get("error") or _("no code")))
        company = connect_with_code(web.context, request.args["code"], redirect_uri(web, request))
        if company is not None:
            web.flash(FLASH_KEY, _("Connected to Fatture in Cloud: company {name}.").format(
                name=company.get("name", "")))
        else:
            web.flash(FLASH_KEY, _("The token works, but choose the company to use."), "error")
    response = redirect(f"{request.script_root}/settings", code=303)
    if matched:  # one use: a replayed link does nothing; a wrong one leaves the flow in progress
        response.delete_cookie(STATE_COOKIE, path=request.script_root or "/")
    return response


HANDLERS = {"oauth_start": start, "oauth_callback": callback}
