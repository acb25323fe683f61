"""Issue 14, webhooks: FiC's verification challenge, events only queued and read back from FiC
(out of order, for documents changed or deleted by hand), subscriptions through the CLI against
the sandbox, which verifies the sink and signs what it delivers."""

from __future__ import annotations

import json
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from werkzeug.test import Client

from fic_plugin.documents import Documents
from fic_plugin.jobs import run_round
from fic_plugin.outbox import jobs
from fic_plugin.settings import update_settings
from fic_plugin.web.app import make_wsgi_app
from fic_plugin.webhooks import PREFIX, STATUS_UPDATE
from shoptest import make_order, sandbox_call


@pytest.fixture(autouse=True)
def sdi_waits(sandbox):
    """The sandbox's SdI walk stays put: the test sets each state itself."""
    sandbox_call(sandbox, "POST", "/__sandbox__/sdi", json={"processing_ms": 3_600_000, "after_ms": 3_600_000})
    yield
    sandbox_call(sandbox, "DELETE", "/__sandbox__/sdi")


@pytest.fixture
def private_key(fic):
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    update_settings(fic.store, {"fic_webhook_public_key": pem})
    return key


def post(fic, key, event_type, ids, *, structured=False):
    event_id = str(uuid.uuid4())
    token = jwt.encode({"jti": event_id, "exp": int(time.time()) + 60}, key, algorithm="ES256")
    client = Client(make_wsgi_app(fic))
    headers = {"Authorization": f"Bearer {token}"}
    if structured:
        body = {"specversion": "1.0", "id": event_id, "type": event_type, "source": "fic",
                "data": {"ids": ids}}
        return client.post("/webhooks", data=json.dumps(body), headers=headers,
                           content_type="application/cloudevents+json")
    headers.update({"ce-id": event_id, "ce-type": event_type, "ce-specversion": "1.0"})
    return client.post("/webhooks", data=json.dumps({"data": {"ids": ids}}), headers=headers,
                       content_type="application/json")


@pytest.mark.parametrize("where", ["header", "query"])
def test_the_verification_challenge_is_answered_without_an_administrator(fic, where):
    client = Client(make_wsgi_app(fic))
    if where == "header":
        answer = client.get("/webhooks", headers={"x-fic-verification-challenge": "abc123"})
    else:
        answer = client.get("/webhooks?x-fic-verification-challenge=abc123")
    assert answer.status_code == 200 and answer.json == {"verification": "abc123"}


def test_events_out_of_order_end_in_fics_state(fic, shop, sandbox, private_key):
    shop.add(make_order("1"))
    invoice = Documents(fic).create("1", "invoice")
    run_round(fic)
    sandbox_call(sandbox, "POST", f"/__sandbox__/documents/{invoice.fic_id}/lock", json={"ei_status": "accepted"})
    # "accepted" arrives first, the older "processing" after: both only say "read it again".
    assert post(fic, private_key, STATUS_UPDATE, [invoice.fic_id], structured=True).status_code == 200
    assert post(fic, private_key, STATUS_UPDATE, [invoice.fic_id]).status_code == 200
    assert [j.state for j in jobs(fic) if j.kind == "ei_refresh"] == ["pending", "pending"]
    run_round(fic)
    assert fic.store.document(invoice.id).ei_status == "accepted"


def test_an_invoice_deleted_in_fic_by_hand_is_forgotten(fic, shop, sandbox, private_key):
    update_settings(fic.store, {"e_invoice": False})  # a plain invoice FiC lets delete
    shop.add(make_order("1"))
    invoice = Documents(fic).create("1", "invoice")
    sandbox_call(sandbox, "DELETE", f"/c/1/issued_documents/{invoice.fic_id}")
    assert post(fic, private_key, PREFIX + "invoices.delete", [invoice.fic_id]).json["queued"] is True
    run_round(fic)
    assert fic.store.document(invoice.id) is None


def test_an_event_type_the_plugin_does_not_follow_is_acknowledged_and_ignored(fic, private_key):
    answer = post(fic, private_key, "it.fattureincloud.webhooks.subscriptions.welcome", [])
    assert answer.status_code == 200 and answer.json["queued"] is False and list(jobs(fic)) == []


def test_a_missing_public_key_refuses_events(fic):
    client = Client(make_wsgi_app(fic))
    answer = client.post("/webhooks", data="{}", headers={"ce-id": "1", "ce-type": STATUS_UPDATE,
                                                          "Authorization": "Bearer x"})
    assert answer.status_code == 503 and "fic_webhook_public_key" in answer.json["error"]


def test_cli_subscribes_lists_and_deletes_against_the_sandbox(fic, monkeypatch, capsys):
    from fic_plugin import cli_shop as shop_cli
    from fic_plugin.cli import main

    monkeypatch.setattr(shop_cli, "cli_context", lambda path: fic)
    monkeypatch.setenv("FIC_LANGUAGE", "en")
    db = str(fic.store.path)
    # Nothing listens there: the sandbox keeps the subscription unverified, as FiC would.
    assert main(["--db", db, "--json", "webhooks", "subscribe", "http://127.0.0.1:9/fic/webhooks"]) == 0
    created = json.loads(capsys.readouterr().out)
    assert created["id"] and STATUS_UPDATE in created["types"]
    assert main(["--db", db, "webhooks", "list"]) == 0
    assert created["id"] in capsys.readouterr().out
    assert main(["--db", db, "webhooks", "delete", created["id"]]) == 0
    assert main(["--db", db, "webhooks", "list"]) == 0
    assert "No webhook subscription." in capsys.readouterr().out
    assert main(["--db", db, "webhooks", "subscribe", "ftp://shop.example/fic/webhooks"]) == 1
    assert "not an http(s) URL" in capsys.readouterr().err
