"""Connecting to FiC: OAuth (authorize, code, refresh, rotation), manual tokens, company choice,
and no secret in any log line or error text."""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from fic_scripted import FAST_BACKOFF, RELAXED_LIMITS, Answer, free_port

from fic_plugin.connection import StoreTokens, client_for_context, connect
from fic_plugin.errors import SettingsError
from fic_plugin.fic import errors
from fic_plugin.fic.auth import SCOPES, ManualToken, OAuthApp, OAuthSession, TokenSet
from fic_plugin.fic.client import FicClient
from fic_sandbox.server import SandboxServer

CLIENT_ID = "fic-sandbox-client"
CLIENT_SECRET = "fic-sandbox-secret"
MANUAL = "a/manual-token-for-tests-7c41"


@pytest.fixture(scope="module")
def locked_sandbox() -> Iterator[SandboxServer]:
    """A sandbox that accepts only MANUAL and the access tokens its own OAuth issued."""
    with SandboxServer(port=0, token=MANUAL) as server:
        yield server


@pytest.fixture
def connected(context, locked_sandbox, monkeypatch):
    """The shop's context pointed at the locked sandbox (env wins over settings, so clear it)."""
    for name in ("FIC_ACCESS_TOKEN", "FIC_COMPANY_ID", "FIC_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FIC_API_URL", locked_sandbox.url)
    monkeypatch.setenv("FIC_RATE_HOURLY", "100000")
    monkeypatch.setenv("FIC_RATE_SHORT_TERM", "100000")
    return context


def args(**values) -> argparse.Namespace:
    defaults = {"token": None, "company": None, "client_id": None, "client_secret": None, "port": free_port()}
    return argparse.Namespace(**{**defaults, **values})


def browser(lines: list[str]):
    """Plays the shop owner: opens the printed URL and follows FiC's redirect to our callback."""

    def show(text: str) -> None:
        lines.append(text)
        if text.startswith("http"):
            requests.get(text, timeout=10)

    return show


def test_authorize_url_asks_for_the_scopes_the_plugin_needs():
    app = OAuthApp(base_url="https://api-v2.fattureincloud.it", client_id="abc", client_secret="s3cr3t-value")
    url = app.authorize_url("http://127.0.0.1:8977/callback", "xyz")
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert (parts.netloc, parts.path) == ("api-v2.fattureincloud.it", "/oauth/authorize")
    assert query == {"response_type": "code", "client_id": "abc", "redirect_uri": "http://127.0.0.1:8977/callback",
                     "scope": " ".join(SCOPES), "state": "xyz"}
    assert {"issued_documents.invoices:a", "issued_documents.receipts:a", "settings:r", "emails:r"} <= set(SCOPES)
    assert "s3cr3t-value" not in url


def test_connect_with_oauth_stores_tokens_and_picks_the_only_company(connected):
    lines: list[str] = []
    code = connect(connected, args(client_id=CLIENT_ID, client_secret=CLIENT_SECRET), show=browser(lines),
                   callback_timeout=10)
    assert code == 0 and "company 1" in lines[-1]
    store = connected.store
    assert store.get_secret("fic_access_token").startswith("a/")
    assert store.get_secret("fic_refresh_token").startswith("r/")
    assert store.get_secret("fic_client_secret") == CLIENT_SECRET
    settings = connected.settings
    assert (settings.fic_company_id, settings.fic_client_id) == (1, CLIENT_ID)
    assert float(store.get_meta(StoreTokens.EXPIRES_KEY)) > time.time() + 3600
    client = client_for_context(connected)
    assert isinstance(client.transport.auth, OAuthSession)
    assert client.vat_types()


def test_refresh_before_expiry_stores_the_new_refresh_token(connected):
    connect(connected, args(client_id=CLIENT_ID, client_secret=CLIENT_SECRET), show=browser([]),
            callback_timeout=10)
    store = connected.store
    first_access, first_refresh = store.get_secret("fic_access_token"), store.get_secret("fic_refresh_token")
    store.set_meta(StoreTokens.EXPIRES_KEY, repr(time.time() + 60))  # inside the refresh margin
    records: list = []
    client = client_for_context(connected, on_request=records.append)
    client.payment_accounts()
    assert [r.path for r in records] == ["/oauth/token", "/c/1/info/payment_accounts"]
    new_access, new_refresh = store.get_secret("fic_access_token"), store.get_secret("fic_refresh_token")
    assert new_access != first_access and new_refresh != first_refresh and new_refresh.startswith("r/")
    assert float(store.get_meta(StoreTokens.EXPIRES_KEY)) > time.time() + 3600
    # The sandbox, like FiC, takes a refresh token once: the stored one must be the live one.
    app = OAuthApp(base_url=connected.connection()[0], client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    with pytest.raises(errors.AuthenticationRequired):
        app.refresh(first_refresh)
    assert app.refresh(new_refresh).access_token


def test_a_401_refreshes_once_then_succeeds(connected):
    connect(connected, args(client_id=CLIENT_ID, client_secret=CLIENT_SECRET), show=browser([]),
            callback_timeout=10)
    store = connected.store
    store.set_secret("fic_access_token", "a/revoked-token-not-known-to-fic")
    records: list = []
    client = client_for_context(connected, on_request=records.append)
    assert client.vat_types()
    assert [(r.path, r.status) for r in records] == [
        ("/c/1/info/vat_types", 401), ("/oauth/token", 200), ("/c/1/info/vat_types", 200)]
    assert store.get_secret("fic_access_token") != "a/revoked-token-not-known-to-fic"


def test_another_process_refreshed_first_so_we_adopt_its_token(connected):
    connect(connected, args(client_id=CLIENT_ID, client_secret=CLIENT_SECRET), show=browser([]),
            callback_timeout=10)
    store = connected.store
    worker = client_for_context(connected)
    web = client_for_context(connected)
    worker.transport.auth.refresh(worker.transport.auth.access_token())  # the worker refreshes
    records: list = []
    web.transport.on_request = records.append
    # The web process's token still works at the sandbox, so force the path through a refresh:
    assert web.transport.auth.refresh(web.transport.auth._tokens.access_token)
    assert web.transport.auth.access_token() == store.get_secret("fic_access_token")
    assert records == []  # adopted from the store; the spent refresh token was not reused


def test_no_secret_reaches_logs_or_errors_across_a_failed_refresh_and_a_401(connected, caplog):
    connect(connected, args(client_id=CLIENT_ID, client_secret=CLIENT_SECRET), show=browser([]),
            callback_timeout=10)
    store = connected.store
    secrets_ = [store.get_secret("fic_access_token"), store.get_secret("fic_refresh_token"), CLIENT_SECRET]
    store.set_secret("fic_refresh_token", "r/refresh-token-fic-does-not-know")
    store.set_secret("fic_access_token", "a/expired-access-token-value")
    secrets_ += ["r/refresh-token-fic-does-not-know", "a/expired-access-token-value"]
    caplog.set_level(logging.DEBUG)
    client = client_for_context(connected)
    with pytest.raises(errors.AuthenticationRequired) as caught:
        client.vat_types()
    assert "fic connect" in str(caught.value)
    manual = FicClient(connected.connection()[0], "a/wrong-manual-token-1234", 1, backoff=FAST_BACKOFF,
                       limits=RELAXED_LIMITS)
    secrets_.append("a/wrong-manual-token-1234")
    with pytest.raises(errors.AuthenticationRequired) as second:
        manual.get_document(1)
    logging.getLogger("fic_plugin.fic").debug("token in a message by mistake: %s", secrets_[0])
    texts = [caplog.text, *(r.getMessage() for r in caplog.records), str(caught.value), str(second.value),
             repr(caught.value.to_dict()), repr(client.transport.auth), repr(TokenSet(*secrets_[:2]))]
    assert len(caplog.records) >= 4  # the exchanges were logged, just not the secrets
    for text in texts:
        for secret in secrets_:
            assert secret not in text


def test_manual_token_and_company_connect_without_questions(connected, locked_sandbox):
    lines: list[str] = []
    assert connect(connected, args(token=MANUAL, company=1), show=lines.append) == 0
    assert connected.store.get_secret("fic_access_token") == MANUAL
    assert connected.store.get_secret("fic_refresh_token") is None
    assert connected.settings.fic_company_id == 1
    assert isinstance(client_for_context(connected).transport.auth, ManualToken)


def test_several_companies_without_company_lists_them_and_exits_2(context, scripted, monkeypatch):
    monkeypatch.setenv("FIC_API_URL", scripted.url)
    monkeypatch.delenv("FIC_COMPANY_ID", raising=False)
    companies = {"data": {"companies": [{"id": 11, "name": "Bottega Rossi"}, {"id": 12, "name": "Rossi Srl"}]}}
    scripted.route("GET", "/user/companies", Answer(200, companies))
    lines: list[str] = []
    assert connect(context, args(token=MANUAL), show=lines.append) == 2
    assert "--company" in lines[0] and any("12\tRossi Srl" in line for line in lines)
    assert context.settings.fic_company_id is None
    with pytest.raises(SettingsError, match="Company 99 is not one"):
        connect(context, args(token=MANUAL, company=99), show=lines.append)
    assert connect(context, args(token=MANUAL, company=12), show=lines.append) == 0
    assert context.settings.fic_company_id == 12


def test_oauth_without_app_credentials_says_what_to_give(connected):
    with pytest.raises(SettingsError, match="--client-id"):
        connect(connected, args(), show=lambda text: None)


def test_client_for_context_explains_what_is_missing(context, monkeypatch):
    for name in ("FIC_ACCESS_TOKEN", "FIC_COMPANY_ID", "FIC_API_URL"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(errors.AuthenticationRequired, match="fic connect"):
        client_for_context(context)
    monkeypatch.setenv("FIC_ACCESS_TOKEN", MANUAL)
    with pytest.raises(SettingsError, match="FIC_COMPANY_ID"):
        client_for_context(context)
    monkeypatch.setenv("FIC_COMPANY_ID", "5")
    monkeypatch.setenv("FIC_RATE_HOURLY", "40")
    monkeypatch.setenv("FIC_RATE_HOUR_SECONDS", "60")
    monkeypatch.setenv("FIC_TIMEOUT_READ", "2.5")
    client = client_for_context(context)
    assert client.company_id == 5
    limits = client.transport.limits
    assert (limits.hourly, limits.hour_seconds, limits.short_term) == (40, 60.0, 300)
    assert client.transport.timeouts.read == 2.5


def test_two_processes_with_an_expiring_token_refresh_it_once_and_both_keep_working(connected, shop, locked_sandbox):
    """Issue 13: the web app and the worker used to spend the same refresh token at once; FiC
    takes each once, so one of them was locked out until someone reconnected."""
    import threading

    from fic_plugin.manager import get_plugin_manager
    from fic_plugin.plugin import CORE_NAME

    connect(connected, args(client_id=CLIENT_ID, client_secret=CLIENT_SECRET), show=browser([]),
            callback_timeout=10)
    connected.store.set_meta(StoreTokens.EXPIRES_KEY, repr(time.time() + 60))  # inside the refresh margin
    other = get_plugin_manager([shop], load_entrypoints=False).get_plugin(CORE_NAME).context  # another process
    records: list = []
    clients = [client_for_context(ctx, on_request=records.append) for ctx in (connected, other)]
    requests.post(locked_sandbox.url + "/__sandbox__/faults", json={"latency_ms": 300}, timeout=10)
    start = threading.Barrier(2)
    failures: list = []

    def call(client) -> None:
        start.wait()
        try:
            client.payment_accounts()
        except Exception as error:  # noqa: BLE001 - collected and asserted below
            failures.append(error)

    threads = [threading.Thread(target=call, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    requests.delete(locked_sandbox.url + "/__sandbox__/faults", timeout=10)
    assert failures == []
    assert [r.path for r in records].count("/oauth/token") == 1
    app = OAuthApp(base_url=connected.connection()[0], client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    assert app.refresh(connected.store.get_secret("fic_refresh_token")).access_token  # the stored one is live
