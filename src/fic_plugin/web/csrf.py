"""CSRF tokens for every POST the screens make.

A token is ``kind.timestamp.mac`` with ``mac = HMAC-SHA256(shop secret, kind|timestamp|binding)``.
The shop secret is made once and kept with the other secrets (``web_csrf_secret``); the binding
ties the token to something an attacker's page cannot choose:

* ``s`` (screen) tokens are bound to a random nonce in the ``fic_csrf`` cookie, for the pages the
  plugin serves itself (send screen, settings, delete confirmation);
* ``p`` (panel) tokens are bound to the order id *and* the ``fic_csrf`` nonce, for the panel
  fragment when the host draws it for a request (``FicApp.panel(order, request=...)``, or inside
  :func:`browser`): they work only on that order's documents and only from that browser;
* ``o`` (order) tokens are bound to the order id alone, the fallback for a panel drawn without a
  request (``order_panel_render(order)``) or for a browser that has no ``fic_csrf`` cookie yet:
  anyone holding such a token can use it on that order's documents until it expires.

The cookie's path is ``/``, so the host's own pages (where the panel is drawn) see it too; every
answer of the plugin's pages sets it when the browser has none. Tokens live :data:`MAX_AGE`
seconds; an expired page asks the owner to reload.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from werkzeug.http import parse_cookie

from ..signing import shop_secret
from ..store import Store

COOKIE = "fic_csrf"
FIELD = "csrf_token"
MAX_AGE = 12 * 3600


def new_nonce() -> str:
    return secrets.token_urlsafe(24)


def _mac(key: bytes, kind: str, stamp: str, binding: str) -> str:
    return hmac.new(key, f"{kind}|{stamp}|{binding}".encode(), hashlib.sha256).hexdigest()


def issue(store: Store, *, nonce: str | None = None, order_id: str | None = None,
          now: float | None = None) -> str:
    """A token bound to the cookie ``nonce`` (screens), to ``order_id`` and the nonce (a panel
    drawn for a browser), or to ``order_id`` alone (a panel drawn without one)."""
    if nonce and order_id is not None:
        kind, binding = "p", f"{order_id}|{nonce}"
    else:
        kind, binding = ("s", nonce) if nonce else ("o", str(order_id))
    if binding in (None, "None"):
        raise ValueError("a CSRF token needs a nonce or an order id")
    stamp = str(int(now if now is not None else time.time()))
    return f"{kind}.{stamp}.{_mac(shop_secret(store), kind, stamp, binding)}"


def check(store: Store, token: str | None, *, nonce: str | Iterable[str] | None, order_id: str | None,
          now: float | None = None) -> bool:
    """True when ``token`` is genuine, fresh and bound to this cookie, this order, or both as it
    says. ``nonce`` may be every ``fic_csrf`` value the browser sent (an older cookie of a
    narrower path comes first)."""
    if not token or token.count(".") != 2:
        return False
    kind, stamp, mac = token.split(".")
    nonces = [nonce] if isinstance(nonce, str) else [n for n in (nonce or ()) if n]
    if kind == "s":
        bindings = nonces
    elif kind == "o":
        bindings = [order_id] if order_id else []
    elif kind == "p":
        bindings = [f"{order_id}|{n}" for n in nonces] if order_id else []
    else:
        return False
    if not bindings or not stamp.isdigit():
        return False
    age = (now if now is not None else time.time()) - int(stamp)
    if age < -300 or age > MAX_AGE:
        return False
    key = shop_secret(store)
    return any(hmac.compare_digest(_mac(key, kind, stamp, str(binding)), mac) for binding in bindings)


# --- the browser a panel is drawn for ---------------------------------------------------------------

_browser: ContextVar[str | None] = ContextVar("fic_csrf_browser", default=None)


@contextmanager
def browser(nonce: str | None) -> Iterator[None]:
    """Panels drawn inside bind their forms to this ``fic_csrf`` nonce (``p`` tokens): what
    ``FicApp.panel(order, request=...)`` does, and what a host drawing the panel through the
    ``order_panel_render`` hook can do around it (the demo shop does)."""
    token = _browser.set(nonce or None)
    try:
        yield
    finally:
        _browser.reset(token)


def browser_nonce() -> str | None:
    """The nonce of :func:`browser`, if a panel is being drawn for a browser."""
    return _browser.get()


def nonce_of(request: Any) -> str | None:
    """The ``fic_csrf`` cookie of a request: a WSGI ``environ``, a werkzeug request, or an object
    with ``.COOKIES`` / ``.META`` (Django)."""
    if request is None:
        return None
    cookies = getattr(request, "cookies", None) or getattr(request, "COOKIES", None)
    if cookies is None:
        environ = request if isinstance(request, dict) else (
            getattr(request, "environ", None) or getattr(request, "META", None) or {})
        cookies = parse_cookie(str(environ.get("HTTP_COOKIE") or ""))
    value = cookies.get(COOKIE)
    return value or None
