"""The shop's connection to Fatture in Cloud: the one place that joins the FiC client to the
shop's settings, secrets and tables.

``fic/`` is a pure API client: it knows no settings and no tables. This service builds it for a
shop (:func:`client_for_context`), keeps its OAuth tokens (:class:`StoreTokens`), runs the
connect flows of ``fic connect`` and of the settings screen, and reads the lists the settings
screen offers (companies, VAT types, payment methods and accounts).
"""

from __future__ import annotations

import argparse
import itertools
import logging
import os
from collections.abc import Callable
from typing import Any, Protocol

from .errors import FicError, SettingsError
from .fic.auth import ManualToken, OAuthApp, OAuthSession, TokenSet
from .fic.client import FicClient
from .fic.errors import AuthenticationRequired
from .fic.oauth_redirect import CALLBACK_TIMEOUT, oauth_flow, redirect_uri_on_port
from .fic.ratelimit import RateLimits
from .fic.redact import register_secret
from .fic.shared_pacer import SharedPacer
from .fic.transport import Auth, RequestRecord, Timeouts
from .i18n import _
from .labels import UNEXPECTED
from .mappings import STANDARD_RATES, suggest_mappings
from .settings import Settings, update_settings

log = logging.getLogger(__name__)


class Context(Protocol):
    """What the connection service needs of a shop (a :class:`fic_plugin.context.Context` is
    one). A protocol, so the service sits below the context that builds its client from it."""

    pm: Any
    store: Any

    @property
    def settings(self) -> Settings: ...

    @property
    def client(self) -> FicClient: ...

    def connection(self) -> tuple[str, str | None, int | None]: ...

    def reset_client(self) -> None: ...


class StoreTokens:
    """OAuth tokens in the shop's secrets table (expiry in the meta table: it is not a secret)."""

    EXPIRES_KEY = "fic_token_expires_at"

    def __init__(self, store: Any):
        self.store = store

    def load(self) -> TokenSet | None:
        access = self.store.get_secret("fic_access_token")
        if not access:
            return None
        expires = self.store.get_meta(self.EXPIRES_KEY)
        return TokenSet(access, self.store.get_secret("fic_refresh_token"), float(expires) if expires else None)

    def locked(self) -> Any:
        """The shop database's write lock: one process at a time refreshes (see OAuthSession)."""
        return self.store.transaction()

    def save(self, tokens: TokenSet) -> None:
        with self.store.transaction():
            self.store.set_secret("fic_access_token", tokens.access_token)
            self.store.set_secret("fic_refresh_token", tokens.refresh_token)
            self.store.set_meta(self.EXPIRES_KEY, None if tokens.expires_at is None else repr(tokens.expires_at))


def client_for_context(context: Context, *, on_request: Callable[[RequestRecord], None] | None = None) -> FicClient:
    """The client for the shop's connection: env (FIC_API_URL, FIC_ACCESS_TOKEN, FIC_COMPANY_ID)
    over stored settings; OAuth refresh when a refresh token and the app's credentials are stored;
    rate limits from FIC_RATE_* and timeouts from FIC_TIMEOUT_* (see docs/fic-client.md)."""
    base_url, token, company_id = context.connection()
    if not token:
        raise AuthenticationRequired(
            _("The shop is not connected to Fatture in Cloud: run `fic connect` (or set FIC_ACCESS_TOKEN)."))
    if company_id is None:
        raise SettingsError(
            _("No Fatture in Cloud company is chosen: run `fic connect --company ID`, or "
              "`fic settings set fic_company_id ID` (or set FIC_COMPANY_ID)."), field="fic_company_id")
    auth: Auth = ManualToken(token)
    store = context.store
    tokens = StoreTokens(store)
    stored = tokens.load()
    client_id = context.settings.fic_client_id
    client_secret = store.get_secret("fic_client_secret")
    from_env = bool(os.environ.get("FIC_ACCESS_TOKEN"))
    if not from_env and stored is not None and stored.refresh_token and client_id and client_secret:
        auth = OAuthSession(OAuthApp(base_url=base_url, client_id=client_id, client_secret=client_secret),
                            stored, tokens)
    limits = RateLimits.from_env(os.environ)
    # Every process of the shop draws on the company's one quota: the pacing log is shared
    # through the shop database (an in-memory database is one process's own anyway).
    pacer = None if store.path == ":memory:" else SharedPacer(limits, store.pacing, str(company_id))
    return FicClient(base_url, auth, company_id, limits=limits, timeouts=Timeouts.from_env(os.environ),
                     on_request=on_request, pacer=pacer)


# --- connecting (``fic connect`` and the settings screen's button) -----------------------------------


def connect(context: Context, args: argparse.Namespace, *, show: Callable[[str], None] = print,
            callback_timeout: float = CALLBACK_TIMEOUT) -> int:
    """``fic connect``: 0 when done, 2 when the company must be chosen with ``--company``.

    With ``--token`` (typed without echo, or ``--token -`` from stdin: never on the command line)
    and ``--company`` nothing else is asked. Without ``--token`` the OAuth flow prints
    the authorization URL and catches FiC's redirect on a local port; the tokens go only to the
    secrets table.
    """
    base_url = context.connection()[0]
    if args.token:
        register_secret(args.token)
        tokens = TokenSet(args.token)
        client_id = None
    else:
        client_id, client_secret = _app_credentials(context, args)
        app = OAuthApp(base_url=base_url, client_id=client_id, client_secret=client_secret)
        tokens = oauth_flow(app, redirect_uri_on_port(context.settings.fic_redirect_uri, args.port), args.port,
                            show=show, timeout=callback_timeout)
        context.store.set_secret("fic_client_secret", client_secret)
    companies = FicClient(base_url, tokens.access_token, None).user_companies()
    company = _choose_company(companies, args.company)
    if company is None:
        save_connection(context, tokens, client_id, None)
        show(_("The token can use several companies; run again with --company ID:"))
        for row in companies:
            show(f"  {row.get('id')}\t{row.get('name', '')}")
        return 2
    save_connection(context, tokens, client_id, int(company["id"]))
    show(_("Connected to Fatture in Cloud: {name} (company {id}).").format(
        name=company.get("name", ""), id=company["id"]))
    return 0


def oauth_app(context: Context) -> OAuthApp:
    """The shop's FiC app for the settings screen's OAuth flow (client ID and secret saved there)."""
    settings = context.settings
    secret = context.store.get_secret("fic_client_secret")
    if not settings.fic_client_id or not secret:
        raise SettingsError(_("To connect with OAuth, save your FiC app's client ID and client secret first."),
                            field="fic_client_id")
    return OAuthApp(base_url=context.connection()[0], client_id=settings.fic_client_id, client_secret=secret)


def connect_with_code(context: Context, code: str, redirect_uri: str) -> dict[str, Any] | None:
    """Trade FiC's redirect ``code`` for tokens and keep them; the company when the token has one
    (then it is chosen), ``None`` when the owner must choose among several. ``redirect_uri`` is
    the one the flow started with (FiC checks that both are the same)."""
    app = oauth_app(context)
    tokens = app.exchange_code(code, redirect_uri)
    companies = FicClient(app.base_url, tokens.access_token, None).user_companies()
    company = companies[0] if len(companies) == 1 else None
    save_connection(context, tokens, None, None if company is None else company["id"])
    return company


def save_connection(context: Context, tokens: TokenSet, client_id: str | None, company_id: int | None) -> None:
    """Tokens, and the app and company when known, in one transaction; the next call uses them."""
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


# --- what the settings screen offers ------------------------------------------------------------------


def companies(context: Context) -> list[dict]:
    """The companies the token can use, accountants' controlled companies included."""
    return flatten_companies(context.client.user_companies())


def flatten_companies(companies: Any) -> list[dict]:
    """``user_companies`` lists companies and, for accountants, their controlled companies."""
    if isinstance(companies, dict):
        companies = companies.get("companies", [])
    result = []
    for company in companies or []:
        result.append(company)
        result.extend(company.get("controlled_companies") or [])
    return result


def lookups(context: Context) -> tuple[dict[str, list[dict]], str | None]:
    """FiC's VAT types, payment methods and accounts, companies; empty with a reason when offline.

    The settings screen draws its choices from these; it never calls FiC itself.
    """
    found: dict[str, list[dict]] = {"vat_types": [], "payment_methods": [], "payment_accounts": [],
                                    "companies": []}
    if not context.connection()[1]:
        return found, _("Not connected to Fatture in Cloud yet: paste a manual token and save.")
    try:
        found["companies"] = companies(context)
        if context.connection()[2]:
            # The owner comes here after adding a VAT type or an account in FiC: show it now, not
            # within the hour the kept lists last.
            context.client.clear_lookups()
            found["vat_types"] = [v for v in context.client.vat_types() if not v.get("is_disabled")]
            found["payment_methods"] = list(context.client.payment_methods())
            found["payment_accounts"] = list(context.client.payment_accounts())
    except FicError as error:
        return found, error.message
    except Exception:
        log.exception("fic-plugin: cannot load FiC's lists for the settings screen")
        return found, _(UNEXPECTED)
    return found, None


def suggested_mappings(context: Context, *, sample: int = 200) -> dict[str, Any]:
    """FiC's matches for the shop's VAT rates and payment methods (those of its paid orders, Italy's
    standard rates and bank transfer): ``{"vat_mapping", "payment_mapping", "unmatched"}``.

    Only a suggestion: ``fic settings suggest-mappings --apply`` saves it, keeping what the owner
    mapped already.
    """
    orders = list(itertools.islice(context.pm.hook.shop_paid_orders(since=None) or (), sample))
    rates = [*STANDARD_RATES, *(line.vat_rate for order in orders for line in order.lines)]
    methods = ["bank_transfer", *(order.payment_method for order in orders)]
    client = context.client
    return suggest_mappings(client.vat_types(), client.payment_methods(), client.payment_accounts(), rates,
                            methods)


def apply_suggested_mappings(context: Context, suggestion: dict[str, Any]) -> list[str]:
    """Save the suggestion for the rates and methods not mapped yet; what is mapped stays."""
    settings = context.settings
    changes = {key: merged for key in ("vat_mapping", "payment_mapping")
               if (merged := {**suggestion[key], **getattr(settings, key)}) != getattr(settings, key)}
    if changes:
        update_settings(context.store, changes)
    return sorted(changes)


def describe_suggestion(suggestion: dict[str, Any], applied: list[str] | None) -> str:
    """The suggestion as ``fic settings set`` arguments, and what happened to it."""
    lines = [f"vat_mapping.{rate} {vat_id}" for rate, vat_id in suggestion["vat_mapping"].items()]
    lines += [f"payment_mapping.{method} {ids['payment_method_id']}:{ids['payment_account_id'] or ''}"
              for method, ids in suggestion["payment_mapping"].items()]
    if suggestion["unmatched"]:
        lines.append(_("No match in Fatture in Cloud for: {what}").format(what=", ".join(suggestion["unmatched"])))
    if applied is None:
        lines.append(_("Nothing saved: run again with --apply to save what is not mapped yet."))
    elif applied:
        lines.append(_("Saved: {keys}").format(keys=", ".join(applied)))
    else:
        lines.append(_("Nothing to save: every suggested mapping is set already."))
    return "\n".join(lines)
