"""Credentials for FiC: a manual token, or OAuth2 (authorization code) with refresh.

FiC's access tokens live 24 hours and each refresh hands out a new refresh token, so the new
pair is saved through a :class:`TokenStore` every time: lose it and the shop must reconnect.
Several processes (web and worker) share one store, so before refreshing we re-read it: if
another process already refreshed, we adopt its token instead of spending the old refresh token.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Protocol
from urllib.parse import urlencode

import attrs
import requests

from ..i18n import _
from . import errors
from .redact import register_secret
from .transport import RequestRecord, Timeouts, _error_details, parse_json, session_for

AUTHORIZE_PATH = "/oauth/authorize"
TOKEN_PATH = "/oauth/token"

#: What the plugin does in FiC: write the six document types, read settings (VAT types,
#: payment methods and accounts) and the email log.
SCOPES = (
    "issued_documents.invoices:a",
    "issued_documents.quotes:a",
    "issued_documents.proformas:a",
    "issued_documents.delivery_notes:a",
    "issued_documents.credit_notes:a",
    "issued_documents.receipts:a",
    "settings:r",
    "emails:r",
)

#: Refresh this long before the access token expires, so a slow call does not straddle it.
REFRESH_MARGIN = 300.0


@attrs.frozen
class TokenSet:
    """An access token, with its refresh token and expiry (epoch seconds) when from OAuth."""

    access_token: str = attrs.field(repr=False)
    refresh_token: str | None = attrs.field(default=None, repr=False)
    expires_at: float | None = None

    def __attrs_post_init__(self) -> None:
        register_secret(self.access_token)
        register_secret(self.refresh_token)


class TokenStore(Protocol):
    """Where OAuth tokens are kept (the context's secrets table)."""

    def load(self) -> TokenSet | None: ...

    def save(self, tokens: TokenSet) -> None: ...


class ManualToken:
    """FiC's "token manuale": never expires, cannot be refreshed."""

    def __init__(self, token: str):
        register_secret(token)
        self._token = token

    def __repr__(self) -> str:
        return "ManualToken([redacted])"

    def access_token(self) -> str:
        return self._token

    def refresh(self, stale_token: str) -> bool:
        return False


@attrs.define(kw_only=True)
class OAuthApp:
    """A FiC app's identity, and where its token endpoint lives."""

    base_url: str
    client_id: str
    client_secret: str = attrs.field(repr=False)
    timeouts: Timeouts = attrs.field(factory=Timeouts)
    #: The process's connections (see :mod:`.http_pool`): a refresh a day per kept shop must not
    #: leave each one an SSL context of its own.
    session: requests.Session = attrs.field(
        default=attrs.Factory(lambda app: session_for(app.base_url), takes_self=True), repr=False)
    on_request: Callable[[RequestRecord], None] | None = attrs.field(default=None, repr=False)

    def __attrs_post_init__(self) -> None:
        register_secret(self.client_secret)

    def authorize_url(self, redirect_uri: str, state: str, scopes: tuple[str, ...] = SCOPES) -> str:
        """The page where the shop owner grants the plugin access."""
        query = urlencode({"response_type": "code", "client_id": self.client_id, "redirect_uri": redirect_uri,
                           "scope": " ".join(scopes), "state": state})
        return f"{self.base_url.rstrip('/')}{AUTHORIZE_PATH}?{query}"

    def exchange_code(self, code: str, redirect_uri: str) -> TokenSet:
        """Trade the authorization code from the redirect for tokens."""
        register_secret(code)
        return self._token_request({"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri})

    def refresh(self, refresh_token: str) -> TokenSet:
        """A new access token and a new refresh token (the old one should not be used again)."""
        tokens = self._token_request({"grant_type": "refresh_token", "refresh_token": refresh_token})
        if tokens.refresh_token is None:
            tokens = attrs.evolve(tokens, refresh_token=refresh_token)
        return tokens

    def _token_request(self, grant: dict[str, str]) -> TokenSet:
        body = {**grant, "client_id": self.client_id, "client_secret": self.client_secret}
        method, path = "POST", TOKEN_PATH
        started = time.monotonic()
        status: int | None = None
        outcome = "ok"
        try:
            try:
                response = self.session.post(self.base_url.rstrip("/") + TOKEN_PATH, json=body,
                                             headers={"Accept": "application/json"},
                                             timeout=(self.timeouts.connect, self.timeouts.read))
            except requests.RequestException:
                raise errors.FicUnavailable(
                    _("Fatture in Cloud's login service could not be reached: check the internet connection "
                      "and try again."), method=method, path=path) from None
            status = response.status_code
            return self._tokens_from(response, grant["grant_type"])
        except errors.FicApiError as error:
            outcome = error.code
            raise
        finally:
            if self.on_request is not None:
                self.on_request(RequestRecord(method, path, status, round((time.monotonic() - started) * 1000),
                                              outcome))

    def _tokens_from(self, response: requests.Response, grant_type: str) -> TokenSet:
        where = {"status": response.status_code, "method": "POST", "path": TOKEN_PATH}
        if response.status_code >= 500:
            raise errors.FicUnavailable(
                _("Fatture in Cloud's login service is not answering (HTTP {status}): try again in a few "
                  "minutes.").format(status=response.status_code), **where)
        if response.status_code != 200:
            # The description is FiC's text; the code/refresh token are never in it, redact anyway.
            message, fic_code, _result, _extra = _error_details(response)
            what = (_("renew the connection") if grant_type == "refresh_token"
                    else _("accept the authorization code"))
            raise errors.AuthenticationRequired(
                _("Fatture in Cloud refused to {what} ({code}). Run `fic connect` to connect the shop "
                  "again.").format(what=what, code=fic_code or response.status_code), fic_code=fic_code, **where)
        data = parse_json(response)
        access = data.get("access_token") if isinstance(data, dict) else None
        if not access:
            raise errors.BadResponse(
                _("Fatture in Cloud's login service answered without an access token: run `fic connect` "
                  "again."), **where)
        expires_in = data.get("expires_in")
        expires_at = time.time() + float(expires_in) if expires_in not in (None, "") else None
        return TokenSet(str(access), data.get("refresh_token") or None, expires_at)


class OAuthSession:
    """OAuth credentials for the transport: refreshes before expiry, and once on a 401."""

    def __init__(self, app: OAuthApp, tokens: TokenSet, store: TokenStore | None = None, *,
                 clock: Callable[[], float] = time.time, margin: float = REFRESH_MARGIN):
        self.app = app
        self.store = store
        self._tokens = tokens
        self._clock = clock
        self._margin = margin
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"OAuthSession(client_id={self.app.client_id!r})"

    def access_token(self) -> str:
        tokens = self._tokens
        if tokens.expires_at is not None and tokens.expires_at - self._margin <= self._clock():
            self.refresh(tokens.access_token)
        return self._tokens.access_token

    def refresh(self, stale_token: str) -> bool:
        """Get a token other than ``stale_token``; False when there is no way to (no refresh token).

        Serialised across processes by the token store's lock (the shop database's write lock):
        the web app and a worker never both spend the same refresh token, since FiC takes each
        refresh token once. Under the lock the stored pair is read again, refreshed only if still
        stale, and the new pair is stored before the lock is let go.
        """
        locked = getattr(self.store, "locked", None)
        with self._lock, (locked() if locked is not None else contextlib.nullcontext()):
            if self._tokens.access_token != stale_token:
                return True  # another thread refreshed meanwhile
            stored = self.store.load() if self.store is not None else None
            if stored is not None and stored.access_token != stale_token and not self._expiring(stored):
                self._tokens = stored  # another process refreshed meanwhile
                return True
            refresh_token = (stored or self._tokens).refresh_token
            if not refresh_token:
                return False
            self._tokens = self.app.refresh(refresh_token)
            if self.store is not None:
                self.store.save(self._tokens)
            return True

    def _expiring(self, tokens: TokenSet) -> bool:
        return tokens.expires_at is not None and tokens.expires_at - self._margin <= self._clock()
