"""The client against the local FiC sandbox: real HTTP, FiC's rules, injected faults and quotas."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal

import pytest
import requests
from fic_scripted import FAST_BACKOFF, RELAXED_LIMITS, TOKEN

from fic_plugin.fic import errors
from fic_plugin.fic.client import FicClient
from fic_plugin.fic.ratelimit import RateLimits
from fic_plugin.fic.transport import Timeouts
from fic_sandbox.server import SandboxServer

INVOICE = {
    "type": "invoice",
    "entity": {"name": "Mario Rossi", "first_name": "Mario", "last_name": "Rossi", "type": "person",
               "tax_code": "RSSMRA85M01H501Q", "country_iso": "IT"},
    "items_list": [{"name": "Olio extravergine 1 L", "qty": Decimal("2"), "net_price": Decimal("12.50"),
                    "vat": {"id": 0}}],
    "payments_list": [{"amount": Decimal("30.50"), "due_date": "2026-12-01", "status": "not_paid"}],
}


@pytest.fixture(scope="module")
def sandbox_server() -> Iterator[SandboxServer]:
    with SandboxServer(port=0) as server:
        yield server


def side(sandbox: SandboxServer, method: str, path: str, body: dict | None = None):
    # The side channel is the test's own line to the sandbox: no proxy a test put in the environment.
    with requests.Session() as session:
        session.trust_env = False
        response = session.request(method, f"{sandbox.url}/__sandbox__/{path}", json=body, timeout=10)
    response.raise_for_status()
    return response.json() if response.content else None


@pytest.fixture
def sandbox(sandbox_server: SandboxServer) -> Iterator[SandboxServer]:
    side(sandbox_server, "POST", "reset")
    yield sandbox_server
    side(sandbox_server, "DELETE", "faults")
    side(sandbox_server, "DELETE", "limits")


@pytest.fixture
def client(sandbox: SandboxServer, records: list) -> FicClient:
    return FicClient(sandbox.url, TOKEN, sandbox.company_id, limits=RELAXED_LIMITS, backoff=FAST_BACKOFF,
                     timeouts=Timeouts(connect=2, read=5), on_request=records.append)


def live_documents(sandbox: SandboxServer) -> list[dict]:
    return [d for d in side(sandbox, "GET", "documents")["data"] if not d.get("deleted")]


def test_document_lifecycle(sandbox, client):
    created = client.create_document(INVOICE)
    assert created["id"] and created["amount_due"] == Decimal("30.50")
    assert client.get_document(created["id"])["entity"]["name"] == "Mario Rossi"
    modified = client.modify_document(created["id"], {"notes": "<p>Grazie</p>"})
    assert modified["notes"] == "<p>Grazie</p>"
    totals = client.document_totals(created["id"], {"items_list": INVOICE["items_list"]})
    assert totals["amount_due"] == Decimal("30.50")
    draft = client.transform_document(created["id"], "credit_note", current_type="invoice")
    assert draft["options"]["create_from"] == [str(created["id"])] and "id" not in draft["data"]
    assert len(live_documents(sandbox)) == 1  # transform creates nothing
    client.delete_document(created["id"])
    with pytest.raises(errors.FicNotFound):
        client.get_document(created["id"])


def test_schedule_email_keeps_the_attachments_placeholder(sandbox, client):
    document = client.create_document(INVOICE)
    defaults = client.email_data(document["id"])
    body = "<p>Gentile Mario,</p><p>{{allegati}}</p>"
    client.schedule_email(document["id"], {
        "sender_id": defaults["default_sender_email"]["id"], "recipient_email": "mario.rossi@example.it",
        "subject": "Fattura n. 1", "body": body, "include": {"document": True}, "attach_pdf": True})
    [sent] = side(sandbox, "GET", "emails")["data"]
    assert sent["document_id"] == document["id"] and sent["body"] == body
    assert [e["subject"] for e in client.list_emails()] == ["Fattura n. 1"]


def test_422_surfaces_fic_message_verbatim_and_is_sent_once(sandbox, client):
    bad = {**INVOICE, "entity": {"name": ""}}
    raw = requests.post(f"{sandbox.url}/c/1/issued_documents", json={"data": {**bad, "items_list": [
        {"name": "x", "net_price": 1, "qty": 1}], "payments_list": []}}, timeout=10).json()
    with pytest.raises(errors.ValidationFailed) as caught:
        client.create_document({**bad, "items_list": [{"name": "x", "net_price": 1, "qty": 1}], "payments_list": []})
    assert caught.value.fic_message == raw["error"]["message"] and raw["error"]["message"]
    assert raw["error"]["message"] in str(caught.value)
    assert caught.value.validation_result == raw["error"]["validation_result"]
    assert side(sandbox, "GET", "stats")["by_status"].get("422") == 2  # the raw probe + ours, no retry


def test_429_retry_after_is_waited_out_then_succeeds(sandbox, client, records):
    side(sandbox, "POST", "limits", {"short_term": 1, "short_seconds": 2})
    client.vat_types()
    started = time.monotonic()
    assert client.payment_accounts()  # refused once with Retry-After, then answered
    waited = time.monotonic() - started
    refused = [r for r in records if r.status == 429]
    assert len(refused) == 1 and records[-1].status == 200
    assert waited >= 1.0
    assert side(sandbox, "GET", "stats")["rate_limited_429"] == 1


def test_5xx_on_reads_are_retried_until_they_succeed(sandbox, client, records):
    side(sandbox, "POST", "faults", {"error_rate": 0.5, "seed": 3})
    for _ in range(6):
        assert client.payment_methods() is not None
        client.clear_lookups()
    statuses = [r.status for r in records]
    assert statuses.count(500) >= 1 and statuses.count(200) == 6


def test_create_under_timeout_raises_outcome_unknown_and_is_not_retried(sandbox, client, records):
    side(sandbox, "POST", "faults", {"timeout_after_commit_rate": 1.0, "hang_seconds": 2})
    fast = FicClient(sandbox.url, TOKEN, 1, limits=RELAXED_LIMITS, backoff=FAST_BACKOFF,
                     timeouts=Timeouts(connect=2, read=0.5), on_request=records.append)
    with pytest.raises(errors.OutcomeUnknown) as caught:
        fast.create_document(INVOICE)
    assert caught.value.method == "POST" and caught.value.status is None
    side(sandbox, "DELETE", "faults")
    assert len(live_documents(sandbox)) == 1  # FiC did create it: exactly once
    assert [r.outcome for r in records] == ["fic_outcome_unknown"]


def test_reset_connection_on_a_create_is_outcome_unknown(sandbox, client):
    side(sandbox, "POST", "faults", {"reset_rate": 1.0})
    with pytest.raises(errors.OutcomeUnknown):
        client.create_document(INVOICE)
    assert side(sandbox, "GET", "stats")["dropped"] >= 1


@pytest.mark.parametrize("kind", ["html", "empty", "invalid_json"])
def test_garbage_on_reads_becomes_bad_response_after_retries(sandbox, client, kind):
    side(sandbox, "POST", "faults", {"garbage_rate": 1.0, "garbage_kind": kind})
    expected = errors.FicUnavailable if kind == "html" else errors.BadResponse  # html comes as a 502
    with pytest.raises(expected):
        client.vat_types()
    assert client.request_count == FAST_BACKOFF.attempts


def test_pagination_over_three_pages(sandbox, client):
    ids = [client.create_document(INVOICE)["id"] for _ in range(5)]
    before = client.request_count
    listed = [d["id"] for d in client.list_documents("invoice", per_page=2, sort="id")]
    assert listed == ids and client.request_count - before == 3


def test_lookups_cost_one_request_per_ttl(sandbox, client):
    for lookup in (client.vat_types, client.payment_methods, client.payment_accounts):
        lookup()
    client.document_info("invoice")
    served = side(sandbox, "GET", "stats")["requests"]
    assert [v["id"] for v in client.vat_types()][:1] == [0]
    client.payment_methods()
    client.payment_accounts()
    client.document_info("invoice")
    assert side(sandbox, "GET", "stats")["requests"] == served  # FiC saw no second look-up


def test_quota_headers_are_read_and_trusted_over_the_pacer(sandbox):
    side(sandbox, "POST", "limits", {"hourly": 3, "hour_seconds": 60})
    limits = RateLimits(hourly=1000, hour_seconds=60, short_term=1000, short_seconds=60, max_wait=0.5)
    client = FicClient(sandbox.url, TOKEN, 1, limits=limits, backoff=FAST_BACKOFF)
    for _ in range(3):
        client.user_companies()
    assert client.quota.hourly_limit == 3 and client.quota.hourly_remaining == 0
    with pytest.raises(errors.RateLimited) as caught:
        client.user_companies()
    assert caught.value.status is None  # held back before sending
    assert side(sandbox, "GET", "stats")["forbidden_403"] == 0


def test_proxy_settings_are_read_once_from_the_environment_and_obeyed(sandbox, monkeypatch):
    """requests would walk os.environ on every call; the client reads it when it is made."""
    for name in ("NO_PROXY", "no_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # the discard port: nothing answers there

    def make() -> FicClient:
        return FicClient(sandbox.url, TOKEN, sandbox.company_id, limits=RELAXED_LIMITS, backoff=FAST_BACKOFF,
                         timeouts=Timeouts(connect=2, read=5))

    through_proxy = make()
    with pytest.raises(errors.FicUnavailable):
        list(through_proxy.list_documents("invoice"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    direct = make()
    assert list(direct.list_documents("invoice")) == []
    monkeypatch.delenv("NO_PROXY")
    assert list(direct.list_documents("invoice")) == [], "a client already made keeps what it read"
    assert direct.transport.session.trust_env is False


def test_fics_retry_after_holds_back_the_next_call_of_this_process_too(sandbox):
    """A 429's Retry-After is for every caller: the next call is held back by the pacer (raised
    here, beyond max_wait), not sent to be refused again."""
    side(sandbox, "POST", "limits", {"hourly": 10**6, "short_term": 2, "short_seconds": 30})
    limits = RateLimits(hourly=1000, hour_seconds=60, short_term=1000, short_seconds=60, max_wait=0.5)
    client = FicClient(sandbox.url, TOKEN, 1, limits=limits, backoff=FAST_BACKOFF)
    client.user_companies(), client.user_companies()
    with pytest.raises(errors.RateLimited):
        client.user_companies()  # FiC's 429
    refused = side(sandbox, "GET", "stats")["rate_limited_429"]
    with pytest.raises(errors.RateLimited) as held:
        client.user_companies()
    assert "holds back" in held.value.message
    assert side(sandbox, "GET", "stats")["rate_limited_429"] == refused
    side(sandbox, "DELETE", "limits")
