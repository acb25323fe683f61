"""What stands in front of every page of the demo (and the plugin's pages mounted in it).

* **Host names**: only this machine's (``127.0.0.1``, ``localhost``, ``::1``) and the one of
  ``FIC_DEMO_PUBLIC_URL``. A page elsewhere that points its own name at 127.0.0.1 (DNS
  rebinding) gets a 421, not the shop's forms and their CSRF tokens.
* **No framing**: ``X-Frame-Options: DENY`` and CSP ``frame-ancestors 'none'`` on every answer,
  so no site can overlay the one-click buttons (Converti in Nota di credito).
* **Behind a proxy** (``FIC_DEMO_PUBLIC_URL`` set): every request must carry the password of
  ``FIC_DEMO_PASSWORD`` (HTTP Basic, any user name); without one the demo refuses to serve. The
  demo's owner check trusts the client address, and behind a proxy every visitor comes from it.
"""

from __future__ import annotations

import base64
import hmac
import os
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from fic_plugin.i18n import _
from fic_plugin.settings import is_loopback

PASSWORD_ENV = "FIC_DEMO_PASSWORD"
SECURITY_HEADERS = [("X-Frame-Options", "DENY"), ("Content-Security-Policy", "frame-ancestors 'none'")]


def host_name(host_header: str) -> str:
    """``example.it`` of ``example.it:8000``, ``::1`` of ``[::1]:8000``."""
    host = (host_header or "").strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class Guard:
    """WSGI middleware: allowed Host names, no framing, a password behind a proxy."""

    def __init__(self, app: Callable, *, public_url: str | None = None, password: str | None = None):
        self.app = app
        self.public_host = (urlsplit(public_url).hostname or "").lower() if public_url else None
        self.password = password if password is not None else os.environ.get(PASSWORD_ENV) or None

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        def with_headers(status: str, headers: list, exc_info=None):
            kept = [h for h in headers if h[0].lower() not in ("x-frame-options", "content-security-policy")]
            return start_response(status, kept + SECURITY_HEADERS, exc_info)

        host = host_name(environ.get("HTTP_HOST") or environ.get("SERVER_NAME", ""))
        if not (is_loopback(host) or (self.public_host and host == self.public_host)):
            return self._refuse(with_headers, "421 Misdirected Request", _(
                "This shop answers only at its own address (127.0.0.1, localhost or FIC_DEMO_PUBLIC_URL), "
                "not at {host}.").format(host=host or "?"))
        if self.public_host:
            if not self.password:
                return self._refuse(with_headers, "503 Service Unavailable", _(
                    "The demo is published at FIC_DEMO_PUBLIC_URL: set FIC_DEMO_PASSWORD too, so that only "
                    "you can use it."))
            if not self._authorised(environ.get("HTTP_AUTHORIZATION", "")):
                return self._refuse(with_headers, "401 Unauthorized", _("The demo shop asks for its password."),
                                    [("WWW-Authenticate", 'Basic realm="fic demo", charset="UTF-8"')])
        return self.app(environ, with_headers)

    def _authorised(self, header: str) -> bool:
        scheme, _sep, value = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            _user, _colon, given = base64.b64decode(value.strip()).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return hmac.compare_digest(given.encode(), (self.password or "").encode())

    @staticmethod
    def _refuse(start_response: Callable, status: str, message: str,
                headers: list[tuple[str, str]] | None = None) -> Iterable[bytes]:
        body = (message + "\n").encode()
        start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))),
                                ("Cache-Control", "no-store"), *(headers or [])])
        return [body]
