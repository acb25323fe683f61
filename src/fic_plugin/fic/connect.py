"""``fic connect``: get a token (manual, or OAuth in the browser) and choose the FiC company.

With ``--token`` (typed without echo, or ``--token -`` from stdin: never on the command line)
and ``--company`` nothing else is asked. Without ``--token`` the OAuth flow prints
the authorization URL and catches FiC's redirect on a local port; the authorization code never
reaches a log (our callback server logs nothing) and the tokens go only to the secrets table.
"""

from __future__ import annotations

import argparse
import os
import secrets
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

from ..errors import SettingsError
from ..i18n import _
from ..settings import update_settings
from .auth import OAuthApp, TokenSet
from .client import FicClient, StoreTokens
from .errors import AuthenticationRequired
from .redact import register_secret

if TYPE_CHECKING:
    from ..context import Context

#: How long to wait for the owner to approve the app in the browser.
CALLBACK_TIMEOUT = 300.0


def connect(context: Context, args: argparse.Namespace, *, show: Callable[[str], None] = print,
            callback_timeout: float = CALLBACK_TIMEOUT) -> int:
    """Connect the shop; 0 when done, 2 when the company must be chosen with ``--company``."""
    base_url = context.connection()[0]
    store = context.store
    if args.token:
        register_secret(args.token)
        tokens = TokenSet(args.token)
        client_id = None
    else:
        client_id, client_secret = _app_credentials(context, args)
        app = OAuthApp(base_url=base_url, client_id=client_id, client_secret=client_secret)
        tokens = oauth_flow(app, _redirect_uri(context.settings.fic_redirect_uri, args.port), args.port,
                            show=show, timeout=callback_timeout)
        store.set_secret("fic_client_secret", client_secret)
    client = FicClient(base_url, tokens.access_token, None)
    companies = client.user_companies()
    company = _choose_company(companies, args.company)
    if company is None:
        _save(context, tokens, client_id, None)
        show(_("The token can use several companies; run again with --company ID:"))
        for row in companies:
            show(f"  {row.get('id')}\t{row.get('name', '')}")
        return 2
    _save(context, tokens, client_id, int(company["id"]))
    show(_("Connected to Fatture in Cloud: {name} (company {id}).").format(
        name=company.get("name", ""), id=company["id"]))
    return 0


def _app_credentials(context: Context, args: argparse.Namespace) -> tuple[str, str]:
    client_id = args.client_id or context.settings.fic_client_id
    client_secret = (args.client_secret or os.environ.get("FIC_CLIENT_SECRET")
                     or context.store.get_secret("fic_client_secret"))
    if not client_id or not client_secret:
        raise SettingsError(
            _("To connect with OAuth give your FiC app's --client-id and --client-secret (or set "
              "FIC_CLIENT_SECRET); or connect with a manual token: fic connect --token --company ID."),
            field="fic_client_id")
    register_secret(client_secret)
    return client_id, client_secret


def _redirect_uri(configured: str, port: int) -> str:
    """The configured redirect URI on the port we listen on (FiC needs it to match the app's)."""
    parts = urlsplit(configured)
    if parts.port == port:
        return configured
    return urlunsplit((parts.scheme or "http", f"{parts.hostname or '127.0.0.1'}:{port}",
                       parts.path or "/callback", "", ""))


def _choose_company(companies: list[dict[str, Any]], wanted: int | None) -> dict[str, Any] | None:
    if wanted is not None:
        for row in companies:
            if str(row.get("id")) == str(wanted):
                return row
        known = ", ".join(f"{row.get('id')} ({row.get('name', '')})" for row in companies) or _("none")
        raise SettingsError(
            _("Company {id} is not one this token can use. Available: {known}.").format(id=wanted, known=known),
            field="fic_company_id")
    if len(companies) == 1:
        return companies[0]
    if not companies:
        raise AuthenticationRequired(
            _("The token gives access to no Fatture in Cloud company: make it from the company's account."))
    return None


def _save(context: Context, tokens: TokenSet, client_id: str | None, company_id: int | None) -> None:
    store = context.store
    with store.transaction():
        StoreTokens(store).save(tokens)
        changes: dict[str, Any] = {}
        if client_id:
            changes["fic_client_id"] = client_id
        if company_id is not None:
            changes["fic_company_id"] = company_id
        if changes:
            update_settings(store, changes)
    context.reset_client()


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
