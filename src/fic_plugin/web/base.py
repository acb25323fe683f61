"""What every screen shares: the request and response helpers, rendering, flash messages, the
admin and CSRF checks, and the one way a screen turns a failure into words for the owner.

The screens (``actions``, ``overview``, ``send_screen``, ``settings_screen``, ``oauth``,
``public_link``) take a :class:`Screens` and never import :mod:`fic_plugin.web.app`, which routes
requests to them; so the web package has no import circle (an import-linter contract in
``pyproject.toml`` keeps it so).
"""

from __future__ import annotations

import logging
import mimetypes
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from ..errors import FicError, NotFound
from ..i18n import _
from . import csrf
from .budget import ACTION_BUDGET_SECONDS, IN_PROGRESS, StillRunning, run_within_budget
from .panel import UNEXPECTED, flash, screen_language
from .templating import STATIC, render

if TYPE_CHECKING:
    from ..context import Context
    from ..model import Document

log = logging.getLogger(__name__)


class Failure:
    """What went wrong in a :func:`caught` block, in the owner's words; false while all is well."""

    def __init__(self) -> None:
        self.message: str | None = None
        self.error: Exception | None = None

    def __bool__(self) -> bool:
        return self.message is not None

    @property
    def field(self) -> str | None:
        """The form field a :class:`~fic_plugin.errors.FicError` names, if any."""
        return getattr(self.error, "field", None)


@contextmanager
def caught(doing: str) -> Iterator[Failure]:
    """Run the block for a screen; its exception never escapes. A
    :class:`~fic_plugin.errors.FicError` is told in its own words; anything else goes to the log
    with its traceback (``fic-plugin: {doing} failed``) and is told as "unexpected error"."""
    failure = Failure()
    try:
        yield failure
    except FicError as error:
        failure.message, failure.error = error.message, error
    except Exception as error:
        log.exception("fic-plugin: %s failed", doing)
        failure.message, failure.error = _(UNEXPECTED), error


class Screens:
    """The helpers the screen handlers share, around one shop's context."""

    #: Seconds an action waits for FiC before it becomes a job (see :mod:`fic_plugin.web.budget`).
    action_budget = ACTION_BUDGET_SECONDS

    def __init__(self, context: Context):
        self.context = context

    # --- who may ask -------------------------------------------------------------------------------

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
        return csrf.check(self.context.store, token, nonce=request.cookies.getlist(csrf.COOKIE),
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

    # --- drawing ----------------------------------------------------------------------------------

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

    # --- where to go next, and what to say there --------------------------------------------------

    def back(self, request: Request, fallback: str) -> str:
        """Where to go after an action: ``?next=`` or the Referer, only paths of this site."""
        for candidate in (request.values.get("next"), request.referrer):
            target = safe_local_target(candidate, request.host)
            if target:
                return target
        return fallback

    def order_url(self, request: Request, order_id: str) -> str:
        return f"{request.script_root}/orders/{quote(str(order_id), safe='')}"

    def flash(self, key: str, text: str, kind: str = "ok") -> None:
        """A message for the next page of this order (or screen ``key``)."""
        flash(self.context, key, text, kind)

    @contextmanager
    def flashing(self, key: str | None, doing: str) -> Iterator[Failure]:
        """:func:`caught`, and the failure told in the flash of ``key`` (an order or a screen)."""
        with caught(doing) as failure:
            yield failure
        if failure and key is not None:
            self.flash(key, failure.message, "error")

    def act(self, request: Request, order_id: str | None, action: Callable[[], str], fallback: str,
            later: Callable[[], object] | None = None) -> Response:
        """Run ``action`` (which returns the success message), flash the outcome, redirect back.

        FiC gets :attr:`action_budget` seconds; after that ``later`` queues the action's job and
        the owner reads that it is in progress, so no request outlives a web server's timeout.
        """
        with self.flashing(order_id, f"{request.method} {request.path}") as failure:
            try:
                message = run_within_budget(action, self.action_budget, later)
            except StillRunning:
                message = _(IN_PROGRESS)
        if order_id is not None and not failure:
            self.flash(order_id, message)
        return redirect(self.back(request, fallback), code=303)

    def document_or_404(self, document_id: int) -> Document:
        document = self.context.store.document(document_id)
        if document is None:
            raise NotFound(_("This document does not exist (it may have been deleted)."))
        return document


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
