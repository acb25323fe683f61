"""The plugin's WSGI app, which the host mounts at ``/fic/``.

Every request must come from an administrator (the host answers ``shop_is_admin``), every POST
must carry a CSRF token (:mod:`fic_plugin.web.csrf`), and no request ever shows a traceback: a
:class:`~fic_plugin.errors.FicError` is shown as its message, anything else as a short "unexpected
error" while the traceback goes to the server log.
"""

from __future__ import annotations

import logging
import mimetypes
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from ..errors import FicError, NotFound
from ..i18n import _, language
from . import csrf
from .budget import ACTION_BUDGET_SECONDS, IN_PROGRESS, StillRunning, run_within_budget
from .panel import UNEXPECTED, flash, screen_language
from .templating import STATIC, render

if TYPE_CHECKING:
    from ..context import Context

log = logging.getLogger(__name__)

Handler = Callable[..., Response]
PUBLIC_ENDPOINTS = {"public_document"}


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


class FicWebApp:
    """Routing, admin check, CSRF, language and error handling around the screen handlers."""

    #: Seconds an action waits for FiC before it becomes a job (see :mod:`fic_plugin.web.budget`).
    action_budget = ACTION_BUDGET_SECONDS

    def __init__(self, context: Context):
        self.context = context
        from . import actions, oauth, overview, public_link, send_screen, settings_screen

        self.handlers: dict[str, Handler] = {
            **actions.HANDLERS, **overview.HANDLERS, **public_link.HANDLERS, **send_screen.HANDLERS, **settings_screen.HANDLERS, **oauth.HANDLERS,
        }

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
            from ..webhooks import handle

            return handle(self.context, request)
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
        if new_nonce:
            response.set_cookie(csrf.COOKIE, new_nonce, httponly=True, samesite="Strict",
                                path=request.script_root or "/", secure=request.is_secure)
        return response

    def is_admin(self, request: Request) -> bool:
        try:
            return self.context.pm.hook.shop_is_admin(environ=request.environ) is True
        except Exception:
            log.exception("fic-plugin: shop_is_admin failed; refusing the request")
            return False

    def post_allowed(self, request: Request, endpoint: str, args: dict[str, Any]) -> bool:
        origin = request.headers.get("Origin")
        if origin and origin != "null" and urlsplit(origin).netloc != request.host:
            return False
        token = request.form.get(csrf.FIELD) or request.headers.get("X-CSRF-Token")
        return csrf.check(self.context.store, token, nonce=request.cookies.get(csrf.COOKIE),
                          order_id=self.order_scope(endpoint, args))

    def order_scope(self, endpoint: str, args: dict[str, Any]) -> str | None:
        """The order a POST acts on, which an order-bound (panel) token must name."""
        if "order_id" in args:
            return str(args["order_id"])
        if "document_id" in args:
            document = self.context.store.document(args["document_id"])
            return document.order_id if document else None
        if "job_id" in args:
            return self.context.store.jobs.order_of(args["job_id"])
        return None

    # --- helpers the handlers share ---------------------------------------------------------------------

    def language_of(self, request: Request) -> str:
        return screen_language(self.context, request.accept_languages, asked=request.values.get("lang"))

    def screen_token(self, request: Request) -> str:
        """A token bound to this browser's ``fic_csrf`` cookie (set on the response if new)."""
        nonce = request.cookies.get(csrf.COOKIE) or getattr(request, "fic_new_nonce", None)
        if not nonce:
            nonce = request.fic_new_nonce = csrf.new_nonce()
        return csrf.issue(self.context.store, nonce=nonce)

    def page(self, request: Request, template: str, status: int = 200, **values: Any) -> Response:
        html = render(template, mount=request.script_root, csrf_token=self.screen_token(request),
                      lang=self.language_of(request), **values)
        response = Response(html, status=status, mimetype="text/html")
        response.headers["Cache-Control"] = "no-store"
        return response

    def message_page(self, request: Request, message: str, status: int) -> Response:
        return self.page(request, "message.html", status=status, message=message)

    def back(self, request: Request, fallback: str) -> str:
        """Where to go after an action: ``?next=`` or the Referer, only paths of this site."""
        for candidate in (request.values.get("next"), request.referrer):
            target = safe_local_target(candidate, request.host)
            if target:
                return target
        return fallback

    def flash(self, key: str, text: str, kind: str = "ok") -> None:
        """A message for the next page of this order (or screen ``key``)."""
        flash(self.context, key, text, kind)

    def act(self, request: Request, order_id: str | None, action: Callable[[], str], fallback: str,
            later: Callable[[], object] | None = None) -> Response:
        """Run ``action`` (which returns the success message), flash the outcome, redirect back.

        FiC gets :attr:`action_budget` seconds; after that ``later`` queues the action's job and
        the owner reads that it is in progress, so no request outlives a web server's timeout.
        """
        try:
            message, kind = run_within_budget(action, self.action_budget, later), "ok"
        except StillRunning:
            message, kind = _(IN_PROGRESS), "ok"
        except FicError as error:
            message, kind = error.message, "error"
        except Exception:
            log.exception("fic-plugin: %s %s failed", request.method, request.path)
            message, kind = _(UNEXPECTED), "error"
        if order_id is not None:
            self.flash(order_id, message, kind)
        return redirect(self.back(request, fallback), code=303)

    def order_url(self, request: Request, order_id: str) -> str:
        from urllib.parse import quote

        return f"{request.script_root}/orders/{quote(str(order_id), safe='')}"

    def document_or_404(self, document_id: int):
        document = self.context.store.document(document_id)
        if document is None:
            raise NotFound(_("This document does not exist (it may have been deleted)."))
        return document

    @staticmethod
    def static(name: str) -> Response:
        if "\x00" in name:  # panel.css%00.js: no file has such a name (and resolve() would raise)
            return Response("not found", status=404, mimetype="text/plain")
        path = (STATIC / name).resolve()
        if STATIC.resolve() not in path.parents or not path.is_file():
            return Response("not found", status=404, mimetype="text/plain")
        mimetype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        response = Response(path.read_bytes(), mimetype=mimetype)
        response.headers["Cache-Control"] = "max-age=3600"
        return response


def safe_local_target(url: str | None, host: str) -> str | None:
    """``url`` as a path on this site, or ``None`` when it leads anywhere else."""
    if not url or "\\" in url or any(ord(c) < 32 for c in url):
        return None
    parts = urlsplit(url)
    if parts.scheme or parts.netloc:
        if parts.scheme not in ("http", "https") or parts.netloc != host:
            return None
    path = parts.path or "/"
    if not path.startswith("/") or path.startswith("//"):
        return None
    return path + (f"?{parts.query}" if parts.query else "")
