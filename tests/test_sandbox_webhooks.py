"""Webhooks as FiC documents them: subscriptions verified by a challenge, CloudEvents signed with
an ES256 JWT that the published public key verifies, at-least-once delivery with retries, and
the side channel's faults (duplicates, reordering) a receiver must survive."""

from __future__ import annotations

import base64
import json

import jwt
import pytest
import requests

from einvoicetest import Fic, Receiver, e_invoice, wait_for
from fic_sandbox.server import SandboxServer
from shoptest import reset_sandbox

PREFIX = "it.fattureincloud.webhooks."
STATUS_UPDATE = PREFIX + "issued_documents.e_invoices.status_update"
INVOICE_UPDATE = PREFIX + "issued_documents.invoices.update"


#: A sandbox of this module's own (tests/conftest.py): its knobs stay here.
OWN_SANDBOX: dict = {}


@pytest.fixture
def fic(sandbox):
    reset_sandbox(sandbox, "sdi", "webhooks")
    return Fic(sandbox)


@pytest.fixture
def receiver():
    with Receiver() as target:
        yield target


def subscribe(fic, sink, types, **extra):
    answer = fic("POST", "/subscriptions", json={"data": {"sink": sink, "types": types, **extra}})
    assert answer.status_code == 200, answer.text
    return answer.json()


def public_key(fic) -> str:
    published = fic.side("GET", "/webhooks/public_key")
    assert published["algorithm"] == "ES256"
    assert base64.b64decode(published["base64"]).decode() == published["pem"]
    return published["pem"]


def test_a_subscription_is_verified_by_the_challenge_in_a_header(fic, receiver):
    created = subscribe(fic, receiver.url, [PREFIX + "issued_documents.all.update", STATUS_UPDATE])
    subscription = created["data"]
    assert subscription["id"].startswith("SUB") and subscription["verified"] is True
    assert INVOICE_UPDATE in subscription["types"] and PREFIX + "issued_documents.all.update" not in subscription["types"]
    assert subscription["config"] == {"mapping": "binary"}
    challenge = receiver.requests[0]
    assert challenge["method"] == "GET" and len(challenge["headers"]["X-Fic-Verification-Challenge"]) == 64
    token = challenge["headers"]["Authorization"].removeprefix("Bearer ")
    jwt.decode(token, public_key(fic), algorithms=["ES256"], audience=receiver.url)
    assert fic("GET", "/subscriptions").json()["data"] == [subscription]
    assert fic("GET", f"/subscriptions/{subscription['id']}").json()["data"] == subscription
    welcome = wait_for(lambda: receiver.events(PREFIX + "subscriptions.welcome"), "the welcome event")
    assert json.loads(welcome[0]["body"]) == {"data": {"ids": []}}


def test_query_verification_a_wrong_answer_and_a_retry(fic, receiver):
    receiver.answer_challenge = False
    subscription = subscribe(fic, receiver.url, [STATUS_UPDATE], verification_method="query")["data"]
    assert subscription["verified"] is False
    assert "x-fic-verification-challenge" in receiver.requests[0]["args"]
    receiver.answer_challenge = True
    assert fic("POST", f"/subscriptions/{subscription['id']}/verify", json={"data": {}}).status_code == 200
    assert fic("GET", f"/subscriptions/{subscription['id']}").json()["data"]["verified"] is True


def test_subscriptions_are_refused_like_fic_refuses_them(fic, receiver):
    refused = fic("POST", "/subscriptions", json={"data": {"sink": "http://shop.example.it/hook",
                                                           "types": [STATUS_UPDATE]}})
    assert refused.status_code == 422 and "HTTPS" in refused.json()["error"]["message"]
    assert fic("POST", "/subscriptions", json={"data": {"sink": receiver.url, "types": []}}).status_code == 422
    first = subscribe(fic, receiver.url, [STATUS_UPDATE])
    second = subscribe(fic, receiver.url, [STATUS_UPDATE, INVOICE_UPDATE, PREFIX + "nonsense.create"])
    assert second["data"]["types"] == [INVOICE_UPDATE]
    assert any("already registered" in w for w in second["warnings"])
    assert any("does not exist" in w for w in second["warnings"])
    moved = fic("PUT", f"/subscriptions/{first['data']['id']}", json={"data": {"types": [PREFIX + "issued_documents.quotes.create"]}})
    assert moved.json()["data"]["types"] == [PREFIX + "issued_documents.quotes.create"]
    assert fic("DELETE", f"/subscriptions/{first['data']['id']}").status_code == 200
    assert fic("GET", f"/subscriptions/{first['data']['id']}").status_code == 404


def test_an_e_invoice_status_change_arrives_as_a_signed_cloudevent(fic, receiver):
    subscribe(fic, receiver.url, [STATUS_UPDATE])
    fic.side("POST", "/sdi", json={"processing_ms": 60_000, "after_ms": 120_000})
    document = fic.create(e_invoice())
    fic.send(document["id"])
    fic.side("POST", "/sdi/clock", json={"advance_ms": 120_000})
    events = wait_for(lambda: len(receiver.events(STATUS_UPDATE)) >= 2 and receiver.events(STATUS_UPDATE),
                      "the sent and accepted events")
    key = public_key(fic)
    for event in events:
        headers = event["headers"]
        assert json.loads(event["body"]) == {"data": {"ids": [document["id"]]}}
        assert headers["Ce-Specversion"] == "1.0" and headers["Ce-Subject"] == "company:1"
        assert headers["Ce-Source"] == "https://api-v2.fattureincloud.it" and headers["Ce-Time"]
        claims = jwt.decode(headers["Authorization"].removeprefix("Bearer "), key, algorithms=["ES256"],
                            audience=receiver.url, issuer="https://api-v2.fattureincloud.it")
        assert claims["jti"] == headers["Ce-Id"] and claims["sub"] == "company:1"
        assert claims["exp"] - claims["iat"] == 3 * 3600
    assert len({event["headers"]["Ce-Id"] for event in events}) == 2
    log = fic.side("GET", "/webhooks")["deliveries"]
    assert {entry["status"] for entry in log if entry["kind"] == "event"} == {200}


def test_a_token_signed_by_another_key_does_not_verify(fic, receiver):
    subscribe(fic, receiver.url, [STATUS_UPDATE])
    with SandboxServer() as other:
        other_key = requests.get(f"{other.url}/__sandbox__/webhooks/public_key", timeout=5).json()["pem"]
    token = receiver.requests[0]["headers"]["Authorization"].removeprefix("Bearer ")
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, other_key, algorithms=["ES256"], audience=receiver.url)


def test_documents_changed_in_fic_are_announced_and_structured_mode_carries_it_all(fic, receiver):
    subscribe(fic, receiver.url, [PREFIX + "issued_documents.all.update", PREFIX + "issued_documents.all.delete",
                                  PREFIX + "issued_documents.all.email_sent"], config={"mapping": "structured"})
    document = fic.create(e_invoice())
    fic("PUT", f"/issued_documents/{document['id']}", json={"data": {"subject": "corretto a mano"}})
    fic("POST", f"/issued_documents/{document['id']}/email", json={"data": {
        "sender_id": 0, "recipient_email": "a@example.com", "subject": "Fattura", "body": "Ecco"}})
    fic("DELETE", f"/issued_documents/{document['id']}")
    posts = wait_for(lambda: len(receiver.events()) >= 4 and receiver.events(), "update, email and delete events")
    bodies = [json.loads(p["body"]) for p in posts]
    kinds = [b["type"] for b in bodies if b["type"] != PREFIX + "subscriptions.welcome"]
    assert kinds == [INVOICE_UPDATE, PREFIX + "issued_documents.invoices.email_sent",
                     PREFIX + "issued_documents.invoices.delete"]
    assert all(b["data"] == {"ids": [document["id"]]} for b in bodies if b["type"] in kinds)
    assert all(p["headers"]["Content-Type"] == "application/cloudevents+json" for p in posts)


def test_the_duplicate_knob_delivers_an_event_twice_with_the_same_id(fic, receiver):
    subscribe(fic, receiver.url, [INVOICE_UPDATE])
    fic.side("POST", "/webhooks", json={"duplicate_rate": 1})
    document = fic.create(e_invoice())
    fic("PUT", f"/issued_documents/{document['id']}", json={"data": {"subject": "x"}})
    events = wait_for(lambda: len(receiver.events(INVOICE_UPDATE)) >= 2 and receiver.events(INVOICE_UPDATE),
                      "the event and its twin")
    assert events[0]["headers"]["Ce-Id"] == events[1]["headers"]["Ce-Id"]
    assert [e["duplicate"] for e in fic.side("GET", "/webhooks")["deliveries"] if e.get("type") == INVOICE_UPDATE] \
        == [False, True]


def test_the_reorder_knob_delivers_newer_events_first(fic, receiver):
    subscribe(fic, receiver.url, [INVOICE_UPDATE])
    first, second = fic.create(e_invoice()), fic.create(e_invoice())
    fic.side("POST", "/webhooks", json={"reorder": True, "paused": True})
    fic("PUT", f"/issued_documents/{first['id']}", json={"data": {"subject": "prima"}})
    fic("PUT", f"/issued_documents/{second['id']}", json={"data": {"subject": "dopo"}})
    assert fic.side("GET", "/webhooks")["pending"] == 2
    fic.side("POST", "/webhooks", json={"reorder": True})  # unpaused: both are due together
    events = wait_for(lambda: len(receiver.events(INVOICE_UPDATE)) >= 2 and receiver.events(INVOICE_UPDATE),
                      "both updates")
    assert [json.loads(e["body"])["data"]["ids"] for e in events] == [[second["id"]], [first["id"]]]


def test_a_failing_receiver_gets_four_attempts_and_410_ends_the_subscription(fic):
    with Receiver(status=503) as failing:
        subscription = subscribe(fic, failing.url, [INVOICE_UPDATE])["data"]
        fic.side("POST", "/webhooks", json={"retry_ms": 10})
        document = fic.create(e_invoice())
        fic("PUT", f"/issued_documents/{document['id']}", json={"data": {"subject": "x"}})
        attempts = wait_for(lambda: len(failing.events(INVOICE_UPDATE)) >= 4 and failing.events(INVOICE_UPDATE),
                            "four attempts")
        assert len({a["headers"]["Ce-Id"] for a in attempts}) == 1
        failing.status = 410
        fic("PUT", f"/issued_documents/{document['id']}", json={"data": {"subject": "y"}})
        wait_for(lambda: fic("GET", f"/subscriptions/{subscription['id']}").status_code == 404,
                 "the subscription deleted after 410")
    assert len(failing.events(INVOICE_UPDATE)) == 5
    assert [e["attempt"] for e in fic.side("GET", "/webhooks")["deliveries"] if e.get("type") == INVOICE_UPDATE] \
        == [1, 2, 3, 4, 1]


def test_a_status_set_by_hand_on_the_side_channel_is_announced(fic, receiver):
    subscribe(fic, receiver.url, [STATUS_UPDATE])
    document = fic.create(e_invoice())
    fic.side("POST", f"/documents/{document['id']}/lock", json={"ei_status": "rejected"})
    events = wait_for(lambda: receiver.events(STATUS_UPDATE), "the status update")
    assert json.loads(events[0]["body"]) == {"data": {"ids": [document["id"]]}}
