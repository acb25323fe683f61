"""The settings screen's "Connetti con Fatture in Cloud": FiC's OAuth flow inside the shop.

``/fic/oauth/start`` sends the owner to FiC with a one-time ``state`` kept in this browser's
``fic_oauth_state`` cookie; FiC sends them back to the
redirect URI registered in the FiC app, which must be this shop's ``/fic/oauth/callback``. The
code is traded for tokens at once; tokens go to the secrets table only, never to a page or a log.
``fic connect`` does the same from a terminal.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from typing import TYPE_CHECKING

import attrs
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from ..errors import FicError, SettingsError
from ..i18n import _
from .panel import UNEXPECTED

if TYPE_CHECKING:
    from .app import FicWebApp

log = logging.getLogger(__name__)

STATE_COOKIE = "fic_oauth_state"
STATE_MAX_AGE = 900
FLASH_KEY = "__settings__"


def _app(web: FicWebApp):
    from ..fic.auth import OAuthApp

    settings = web.context.settings
    secret = web.context.store.get_secret("fic_client_secret")
    if not settings.fic_client_id or not secret:
        raise SettingsError(_("To connect with OAuth, save your FiC app's client ID and client secret first."),
                            field="fic_client_id")
    return OAuthApp(base_url=web.context.connection()[0], client_id=settings.fic_client_id, client_secret=secret)


def redirect_uri(web: FicWebApp, request: Request) -> str:
    """The one redirect URI the screen shows and the web flow uses: this shop's
    ``/fic/oauth/callback``, unless the owner set another (a proxy in front) in ``fic_redirect_uri``;
    the setting's default is the ``fic connect`` command's local listener, not a web page."""
    from ..settings import Settings

    configured = web.context.settings.fic_redirect_uri
    default = attrs.fields(Settings).fic_redirect_uri.default
    if configured and configured != default:
        return configured
    return f"{request.host_url.rstrip('/')}{request.script_root}/oauth/callback"


def start(web: FicWebApp, request: Request) -> Response:
    try:
        app = _app(web)
    except FicError as error:
        web.flash(FLASH_KEY, error.message, "error")
        return redirect(f"{request.script_root}/settings", code=303)
    state = secrets.token_urlsafe(24)
    response = redirect(app.authorize_url(redirect_uri(web, request), state), code=302)
    # The state is this browser's: FiC's redirect back is a cross-site navigation (Lax sends it);
    # another browser, or a stray link in this one, cannot complete or cancel the connection.
    response.set_cookie(STATE_COOKIE, state, max_age=STATE_MAX_AGE, httponly=True, samesite="Lax",
                        path=request.script_root or "/", secure=request.is_secure)
    return response


def callback(web: FicWebApp, request: Request) -> Response:
    expected = request.cookies.get(STATE_COOKIE, "")
    state = request.args.get("state", "")
    matched = bool(expected) and hmac.compare_digest(expected, state)
    try:
        if not matched:
            raise SettingsError(_("This connection link is expired or not from this shop: press "
                                  "“Connect with Fatture in Cloud” again."))
        if request.args.get("error") or not request.args.get("code"):
            raise SettingsError(_("Fatture in Cloud did not grant access ({reason}): try again.").format(
                reason=request.args.get("error_description") or request.args.get("error") or _("no code")))
        connect(web, _app(web), request.args["code"], redirect_uri(web, request))
    except FicError as error:
        web.flash(FLASH_KEY, error.message, "error")
    except Exception:
        log.exception("fic-plugin: the OAuth connection failed")
        web.flash(FLASH_KEY, _(UNEXPECTED), "error")
    response = redirect(f"{request.script_root}/settings", code=303)
    if matched:  # one use: a replayed link does nothing; a wrong one leaves the flow in progress
        response.delete_cookie(STATE_COOKIE, path=request.script_root or "/")
    return response


def connect(web: FicWebApp, app, code: str, uri: str) -> None:
    """Trade the code, keep the tokens, and choose the company when there is only one."""
    from ..connection import StoreTokens
    from ..fic.client import FicClient
    from ..settings import update_settings

    tokens = app.exchange_code(code, uri)
    StoreTokens(web.context.store).save(tokens)
    web.context.reset_client()
    companies = FicClient(app.base_url, tokens.access_token, None).user_companies()
    if len(companies) == 1:
        update_settings(web.context.store, {"fic_company_id": companies[0]["id"]})
        web.context.reset_client()
        web.flash(FLASH_KEY, _("Connected to Fatture in Cloud: company {name}.").format(
            name=companies[0].get("name", "")))
    else:
        web.flash(FLASH_KEY, _("The token works, but choose the company to use."), "error")


HANDLERS = {"oauth_start": start, "oauth_callback": callback}
