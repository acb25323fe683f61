"""OAuth from a terminal: print FiC's authorization URL and catch its redirect on a local port.

The authorization code never reaches a log (the callback server logs nothing). What is done
with the tokens is the caller's business (:mod:`fic_plugin.connection` keeps them).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

from ..i18n import _
from .auth import OAuthApp, TokenSet
from .errors import AuthenticationRequired
from .redact import register_secret

#: How long to wait for the owner to approve the app in the browser.
CALLBACK_TIMEOUT = 300.0


def redirect_uri_on_port(configured: str, port: int) -> str:
    """The configured redirect URI on the port we listen on (FiC needs it to match the app's)."""
    parts = urlsplit(configured)
    if parts.port == port:
        return configured
    return urlunsplit((parts.scheme or "http", f"{parts.hostname or '127.0.0.1'}:{port}",
                       parts.path or "/callback", "", ""))


def oauth_flow(app: OAuthApp, redirect_uri: str, port: int, *, show: Callable[[str], None] = print,
               timeout: float = CALLBACK_TIMEOUT) -> TokenSet:
    """Print the authorization URL, wait for FiC's redirect on ``port``, exchange the code."""
    state = secrets.token_urlsafe(24)
    path = urlsplit(redirect_uri).path or "/"
    catcher = _CallbackServer(("127.0.0.1", port), state, path)
    thread = threading.Thread(target=catcher.serve_forever, daemon=True)
    thread.start()
    try:
        show(_("Open this address in your browser and allow access to Fatture in Cloud:"))
        show(app.authorize_url(redirect_uri, state))
        if not catcher.done.wait(timeout):
            raise AuthenticationRequired(
                _("No answer from Fatture in Cloud within {seconds} seconds: run `fic connect` again.").format(
                    seconds=round(timeout)))
    finally:
        catcher.shutdown()
        catcher.server_close()
    if catcher.error or not catcher.code:
        raise AuthenticationRequired(
            _("Fatture in Cloud did not grant access ({reason}): run `fic connect` again.").format(
                reason=catcher.error or _("no code")))
    return app.exchange_code(catcher.code, redirect_uri)


class _CallbackServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], state: str, path: str):
        self.state = state
        self.path = path
        self.code: str | None = None
        self.error: str | None = None
        self.done = threading.Event()
        super().__init__(address, _CallbackHandler)


class _CallbackHandler(BaseHTTPRequestHandler):
    server: _CallbackServer

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        parts = urlsplit(self.path)
        if parts.path != self.server.path:
            self._answer(404, _("Not the Fatture in Cloud callback."))
            return
        query = parse_qs(parts.query)
        code = (query.get("code") or [None])[0]
        register_secret(code)
        if (query.get("state") or [None])[0] != self.server.state:
            # A redirect we did not start (or a stale tab): ignore it, keep waiting.
            self._answer(400, _("This link is not from the current `fic connect`; run it again."))
            return
        if query.get("error"):
            self.server.error = str(query["error"][0])[:100]
        else:
            self.server.code = code
        self._answer(200, _("Done: you can close this window and go back to the terminal."))
        self.server.done.set()

    def _answer(self, status: int, text: str) -> None:
        body = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        # The request line carries the authorization code: log nothing.
        return
