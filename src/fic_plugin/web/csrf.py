"""CSRF tokens for every POST the screens make.

A token is ``kind.timestamp.mac`` with ``mac = HMAC-SHA256(shop secret, kind|timestamp|binding)``.
The shop secret is made once and kept with the other secrets (``web_csrf_secret``); the binding
ties the token to something an attacker's page cannot choose:

* ``s`` (screen) tokens are bound to a random nonce in the ``fic_csrf`` cookie, for the pages the
  plugin serves itself (send screen, settings, delete confirmation);
* ``o`` (order) tokens are bound to the order id, for the panel fragment: the host draws it through
  ``order_panel_render(order)`` without handing over the request, so there is no cookie to bind
  to. Such a token only works on that order's documents and expires like the others.

Tokens live :data:`MAX_AGE` seconds; an expired page asks the owner to reload.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

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
    """A token bound to the cookie ``nonce`` (screens) or to ``order_id`` (panel)."""
    kind, binding = ("s", nonce) if nonce else ("o", str(order_id))
    if binding in (None, "None"):
        raise ValueError("a CSRF token needs a nonce or an order id")
    stamp = str(int(now if now is not None else time.time()))
    return f"{kind}.{stamp}.{_mac(shop_secret(store), kind, stamp, binding)}"


def check(store: Store, token: str | None, *, nonce: str | None, order_id: str | None,
          now: float | None = None) -> bool:
    """True when ``token`` is genuine, fresh and bound to this cookie or this order."""
    if not token or token.count(".") != 2:
        return False
    kind, stamp, mac = token.split(".")
    if kind == "s":
        binding = nonce
    elif kind == "o":
        binding = order_id
    else:
        return False
    if not binding or not stamp.isdigit():
        return False
    age = (now if now is not None else time.time()) - int(stamp)
    if age < -300 or age > MAX_AGE:
        return False
    expected = _mac(shop_secret(store), kind, stamp, str(binding))
    return hmac.compare_digest(expected, mac)
