"""The plugin's WSGI app, which the host mounts at ``/fic/``: the routes, and the screens joined
on :class:`~fic_plugin.web.base.Screens` (the screens never import this module).

Every request must come from an administrator (the host answers ``shop_is_admin``), every POST
must carry a CSRF token (:mod:`fic_plugin.web.csrf`), and no request ever shows a traceback: a
:class:`~fic_plugin.errors.FicError` is shown as its message, anything else as a short "unexpected
error" while the traceback goes to the server log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from ..errors import FicError, NotFound
from ..i18n import _, language
from ..webhooks import handle as handle_webhook
from . import actions, csrf, oauth, overview, public_link, send_screen, settings_screen
from .base import Screens, safe_local_target
from .panel import UNEXPECTED

if TYPE_CHECKING:
    from ..context import Context

__all__ = ["HANDLERS", "PUBLIC_ENDPOINTS", "URLS", "FicWebApp", "make_wsgi_app", "safe_local_target"]

log = logging.getLogger(__name__)

Handler = Callable[..., Response]
PUBLIC_ENDPOINTS = {"public_document"}
HANDLERS: dict[str, Handler] = {
    **actions.HANDLERS, **overview.HANDLERS, **public_link.HANDLERS, **send_screen.HANDLERS,
    **settings_screen.HANDLERS, **oauth.HANDLERS,
}

URLS = Map([
    Rule("/static/<path:name>", endpoint="static", methods=["GET"]),
    Rule("/orders/<order_id>", endpoint="order_page", methods=["GET"]),
    Rule("/orders/<order_id>/documents", endpoint="create", methods=["POST"]),
    Rule("/orders/<order_id>/totals", endpoint="totals_preview", methods=["POST"]),
    Rule("/orders/<order_id>/schedule", endpoint="schedule", methods=["GET", "POST"]),
    Rule("/orders/<order_id>/schedule/cancel", endpoint="cancel_schedule", methods=["POST"]),
    Rule("/documents/<int:document_id>/view", endpoint="view", methods=["GET"]),
    Rule("/documents/<int:document_id>/convert", endpoint="convert", methods=["POST"]),
    Rule("/documents/<int:document_id>/delete", endpoint="delete", methods=["GET", "POST"]),
    Rule("/documents/<int:document_id>/retry", endpoint="retry_document", methods=["POST"]),
    Rule("/documents/<int:document_id>/send", endpoint="send", methods=["GET", "POST"]),
    # The preview renders texts it is given: by POST with the CSRF token only, never from a link.
    Rule("/documents/<int:document_id>/preview", endpoint="preview", methods=["POST"]),
    Rule("/orders/<order_id>/preview", endpoint="order_preview", methods=["POST"]),
    Rule("/jobs/<int:job_id>/retry", endpoint="retry_job", methods=["POST"]),
    Rule("/documents", endpoint="overview", methods=["GET"]),
    Rule("/public/documents/<value>", endpoint="public_document", methods=["GET"]),
    Rule("/documents/bulk", endpoint="bulk", methods=["POST"]),
    Rule("/settings", endpoint="settings", methods=["GET", "POST"]),
    Rule("/settings/verify", endpoint="verify", methods=["POST"]),
    Rule("/oauth/start", endpoint="oauth_start", methods=["GET"]),
    Rule("/oauth/callback", endpoint="oauth_callback", methods=["GET"]),
    Rule("/webhooks", endpoint="webhooks", methods=["GET", "POST"]),
    Rule("/documents/<int:document_id>/sdi", endpoint="send_sdi", methods=["POST"]),
    Rule("/documents/<int:document_id>/resend_sdi", endpoint="resend_sdi", methods=["POST"]),
], strict_slashes=False)


def make_wsgi_app(context: Context) -> Callable[[dict, Callable], Iterable[bytes]]:
    """The WSGI app for one shop: mount it at ``/fic/`` (e.g. with werkzeug's DispatcherMiddleware)."""
    return FicWebApp(context)


class FicWebApp(Screens):
    """Routing, admin check, CSRF, language and error handling around the screen handlers."""

    handlers = HANDLERS

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        request = Request(environ)
        try:
            with language(self.language_of(request)):
                response = self.dispatch(request)
        except Exception:
            log.exception("fic-plugin: %s %s failed", request.method, request.path)
            with language("it"):
                response = Response(_(UNEXPECTED), status=500, mimetype="text/plain")
        # No site may frame these pages (their buttons act at one click); on every answer.
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Content-Security-Policy"] = "frame-ancestors 'none'"
        return response(environ, start_response)

    # --- the pipeline -------------------------------------------------------------------------------

    def dispatch(self, request: Request) -> Response:
        adapter = URLS.bind_to_environ(request.environ)
        try:
            endpoint, args = adapter.match()
        except HTTPException as error:
            if error.code == 405:
                return self.message_page(request, _("This address does not accept this request."), 405)
            return self.message_page(request, _("Page not found."), 404)
        if endpoint == "static":
            return self.static(args["name"])
        if endpoint == "webhooks":
            # FiC, not an administrator, calls it: its JWT signature is the check.
            return handle_webhook(self.context, request)
        # The customer's signed PDF link is the one page for people who are not administrators.
        if endpoint not in PUBLIC_ENDPOINTS and not self.is_admin(request):
            return self.message_page(
                request, _("Only the shop's administrators can use Fatture in Cloud pages: log in as "
                           "an administrator and try again."), 403)
        if request.method == "POST" and not self.post_allowed(request, endpoint, args):
            return self.message_page(
                request, _("This form has expired or did not come from your shop: reload the page "
                           "and try again."), 403)
        try:
            response = self.handlers[endpoint](self, request, **args)
        except FicError as error:
            return self.message_page(request, error.message, 404 if isinstance(error, NotFound) else 400)
        new_nonce = getattr(request, "fic_new_nonce", None)
        if not new_nonce and not request.cookies.get(csrf.COOKIE):
            new_nonce = csrf.new_nonce()  # so the next panel the host draws is bound to this browser
        if new_nonce:
            # Path /: the host's order page, where the panel is drawn, must see it too.
            response.set_cookie(csrf.COOKIE, new_nonce, httponly=True, samesite="Strict", path="/",
                                secure=request.is_secure)
        return response
