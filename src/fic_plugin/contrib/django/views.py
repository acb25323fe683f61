"""The plugin's screens and panel actions as Django views.

Each URL of ``fic_plugin.web.app.URLS`` is a Django view here: Django's session and auth decide
who may act (anonymous users go to the login page, users without ``FIC["PERMISSION"]`` get 403),
Django's CSRF middleware checks every POST, messages go through ``django.contrib.messages``, the
language is Django's ``get_language()``, and the screens are drawn inside
``FIC["BASE_TEMPLATE"]``. The handlers themselves are the plugin's own (the same code as its WSGI
app), so both hosts behave alike, including the budget that keeps FiC out of the request.
"""

from __future__ import annotations

import io
import logging
from functools import cache
from typing import Any

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.middleware.csrf import get_token
from django.urls import reverse
from django.utils import translation
from werkzeug.wrappers import Request, Response

from ...errors import FicError, NotFound
from ...i18n import _, language
from ...web.app import PUBLIC_ENDPOINTS, FicWebApp
from ...web.panel import UNEXPECTED, screen_language
from ...web.templating import render
from .access import may_manage
from .conf import fic_settings
from .shop import get_context

log = logging.getLogger(__name__)

DJANGO_CSRF_FIELD = "csrfmiddlewaretoken"
LEVELS = {"ok": messages.SUCCESS, "warn": messages.WARNING, "error": messages.ERROR}


def django_language(context: Any) -> str:
    """The plugin's ``language`` setting when the owner chose one, else Django's active language."""
    return screen_language(context, asked=(translation.get_language() or "it")[:2])


def mount() -> str:
    """Where ``include("fic_plugin.contrib.django.urls")`` put the plugin (``/fic``)."""
    return reverse("fic:index").rstrip("/")


class DjangoScreens(FicWebApp):
    """The plugin's screen helpers, speaking Django: its CSRF token, messages and layout."""

    def __init__(self, context: Any, django_request: HttpRequest):
        super().__init__(context)
        self.django_request = django_request
        self.action_budget = float(fic_settings()["ACTION_BUDGET"])

    def language_of(self, request: Request) -> str:
        return django_language(self.context)

    def screen_token(self, request: Request) -> str:
        return get_token(self.django_request)

    def flash(self, key: str, text: str, kind: str = "ok") -> None:
        messages.add_message(self.django_request, LEVELS.get(kind, messages.INFO), text)

    def act(self, request: Request, order_id: str | None, action: Any, fallback: str, later: Any = None) -> Response:
        def in_thread() -> str:
            # The action runs in a thread of its own (the budget): close the connections Django
            # opened there (the order adapter's queries), or each action would leave one behind.
            from django.db import connections

            try:
                return action()
            finally:
                connections.close_all()

        return super().act(request, order_id, in_thread, fallback, later)

    def page(self, request: Request, template: str, status: int = 200, **values: Any) -> Response:
        common = dict(mount=request.script_root, csrf_token=get_token(self.django_request),
                      csrf_field=DJANGO_CSRF_FIELD, lang=self.language_of(request), **values)
        body = render(template, layout="bare.html", **common)
        title = render(template, layout="title.html", **common).strip()
        html = layout().render({"fic_html": body, "fic_title": title}, self.django_request)
        response = Response(html, status=status, mimetype="text/html")
        response.headers["Cache-Control"] = "no-store"
        return response


@cache
def _layout(base: str, content_block: str, title_block: str):
    from django.template import engines

    # Built from the settings, so a host names its layout and block without writing a template.
    source = ("{% extends fic_base_template %}"
              f"{{% block {title_block} %}}{{{{ fic_title }}}}{{% endblock %}}"
              f"{{% block {content_block} %}}{{{{ fic_html }}}}{{% endblock %}}")
    template = engines["django"].from_string(source)
    return _BoundLayout(template, base)


class _BoundLayout:
    def __init__(self, template: Any, base: str):
        self.template, self.base = template, base

    def render(self, values: dict[str, Any], request: HttpRequest) -> str:
        from django.utils.safestring import mark_safe

        return self.template.render({"fic_base_template": self.base, "fic_html": mark_safe(values["fic_html"]),
                                     "fic_title": values["fic_title"]}, request)


def layout() -> _BoundLayout:
    conf = fic_settings()
    return _layout(conf["BASE_TEMPLATE"], conf["CONTENT_BLOCK"], conf["TITLE_BLOCK"])


def screen(request: HttpRequest, *, endpoint: str, methods: tuple[str, ...], **args: Any) -> HttpResponse:
    """Every plugin URL: auth, then the plugin's handler for ``endpoint``."""
    if request.method not in methods:
        return HttpResponseNotAllowed(methods)
    if endpoint == "static":
        return _to_django(FicWebApp.static(args["name"]))
    if endpoint not in PUBLIC_ENDPOINTS:  # a customer's signed link needs no login
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not may_manage(request.user):
            raise PermissionDenied("fic-plugin: missing FIC['PERMISSION']")
    context = get_context()
    web = DjangoScreens(context, request)
    wsgi_request = _werkzeug_request(request)
    with language(web.language_of(wsgi_request)):
        try:
            response = web.handlers[endpoint](web, wsgi_request, **args)
        except FicError as error:
            response = web.message_page(wsgi_request, error.message, 404 if isinstance(error, NotFound) else 400)
        except Exception:
            log.exception("fic-plugin: %s %s failed", request.method, request.path)
            response = web.message_page(wsgi_request, _(UNEXPECTED), 500)
    return _to_django(response)


def index(request: HttpRequest) -> HttpResponse:
    """``/fic/``: the settings screen."""
    return screen(request, endpoint="settings", methods=("GET", "POST"))


def _werkzeug_request(request: HttpRequest) -> Request:
    """The same request for the plugin's handlers, mounted where Django's URLconf put it."""
    environ = dict(request.META)
    body = request.body
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    root = mount()
    environ["SCRIPT_NAME"] = root
    environ["PATH_INFO"] = request.path[len(root):] if request.path.startswith(root) else request.path_info
    return Request(environ)


def _to_django(response: Response) -> HttpResponse:
    result = HttpResponse(b"".join(response.iter_encoded()), status=response.status_code,
                          content_type=response.headers.get("Content-Type"))
    for name in ("Location", "Cache-Control", "X-Frame-Options"):
        if name in response.headers:
            result[name] = response.headers[name]
    return result
