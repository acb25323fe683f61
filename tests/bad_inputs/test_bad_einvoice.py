"""Issue 14's bad inputs: what the SdI would discard is refused before FiC, naming the field and
the order, with nothing half-written; a webhook that is not FiC's, is stale, replayed, malformed
or about a document the shop does not know is a logged, harmless no-op; never a second send."""

from __future__ import annotations

import json
import logging
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from werkzeug.test import Client

from fic_plugin.documents import Documents
from fic_plugin.errors import InvalidInput, SettingsError
from fic_plugin.i18n import language
from fic_plugin.jobs import run_round
from fic_plugin.outbox import jobs
from fic_plugin.settings import update_settings
from fic_plugin.web.app import make_wsgi_app
from fic_plugin.webhooks import STATUS_UPDATE
from shoptest import SANDBOX_PAYMENT_MAPPING, fic_documents, make_order, sandbox_call, sdi_sends

ITALIAN = dict(name="Rossi Forniture S.r.l.", type="company", vat_number="01234567897", sdi_code="M5UXCR1",
               address_street="Via Torino 12", address_postal_code="20123", address_city="Milano",
               address_province="MI", country_iso="IT")


@pytest.fixture(autouse=True)
def english():
    with language("en"):
        yield


def customer(**changes):
    from fic_plugin.model import Customer

    return Customer(**{**ITALIAN, **changes})


CUSTOMER_CASES = [
    ("missing CAP", {"address_postal_code": None}, "customer.address_postal_code", "CAP"),
    ("missing province", {"address_province": None}, "customer.address_province", "province"),
    ("missing address", {"address_street": None}, "customer.address_street", "street"),
    ("CAP of 4 digits", {"address_postal_code": "2012"}, "customer.address_postal_code", "5 digits"),
    ("Partita IVA with a wrong check digit", {"vat_number": "01234567898"}, "customer.vat_number", "check digit"),
    ("codice fiscale of the wrong shape", {"vat_number": None, "tax_code": "RSSMRA85M01"}, "customer.tax_code",
     "16 letters"),
    ("PA without office code", {"type": "pa", "sdi_code": None, "tax_code": "00170360341"}, "customer.sdi_code",
     "office code"),
    ("SDI code of 6 characters for a business", {"sdi_code": "M5UXCR"}, "customer.sdi_code", "7"),
]


@pytest.mark.parametrize(("changes", "field", "words"), [c[1:] for c in CUSTOMER_CASES],
                         ids=[c[0] for c in CUSTOMER_CASES])
def test_a_customer_the_sdi_would_discard_is_refused_before_fic(fic, shop, sandbox, nothing_written, changes,
                                                                field, words):
    shop.add(make_order("1", customer=customer(**changes)))
    with pytest.raises(InvalidInput) as error:
        Documents(fic).create("1", "invoice")
    assert error.value.field == field and words in str(error.value) and "Order 101" in str(error.value)
    nothing_written(fic, sandbox)


def test_a_zero_rate_line_without_natura_is_refused():
    """FiC accepts a 0% VAT type without natura on a document; the SdI discards it (00400)."""
    from datetime import date

    from fic_plugin.model import Line, Order
    from fic_plugin.payload import build_document
    from fic_plugin.settings import Settings

    settings = Settings.from_mapping({"vat_mapping": {"0": 40}, "payment_mapping": SANDBOX_PAYMENT_MAPPING})
    order = Order(id="7", number="107", customer=customer(), lines=(Line("Libro", "1", "12", "0"),))
    with pytest.raises(SettingsError) as error:
        build_document(order, "invoice", settings, today=date(2026, 11, 30),
                       vat_types={40: {"id": 40, "value": "0", "ei_type": ""}},
                       fic_payment_methods={1: {"id": 1, "ei_payment_method": "MP05", "bank_iban": "IT60X054"}},
                       payment_accounts={})
    assert "Order 107" in str(error.value) and "'Libro'" in str(error.value) and "natura" in str(error.value)
    assert error.value.field == "vat_mapping"


def test_an_unmapped_modalita_pagamento_is_refused_on_save_and_at_issue(fic, shop, sandbox, nothing_written):
    from fic_plugin.sdi import check_mappings

    # FiC has no payment method 99: nothing gives the e-invoice its ModalitaPagamento.
    bad = {**SANDBOX_PAYMENT_MAPPING, "bank_transfer": {"payment_method_id": 99, "payment_account_id": 1}}
    with pytest.raises(SettingsError, match="'bank_transfer'.*ModalitaPagamento"):
        check_mappings(fic, {"payment_mapping": bad})
    assert fic.settings.payment_mapping == SANDBOX_PAYMENT_MAPPING
    # Written behind the check's back (an older version, by hand): refused when issuing.
    update_settings(fic.store, {"payment_mapping": bad})
    shop.add(make_order("1"))
    with pytest.raises(SettingsError, match="ModalitaPagamento"):
        Documents(fic).create("1", "invoice")
    nothing_written(fic, sandbox)


def test_cli_refuses_a_mapping_that_leaves_an_e_invoice_without_modalita_pagamento(fic, monkeypatch, capsys):
    from fic_plugin import cli_shop as shop_cli
    from fic_plugin.cli import main

    monkeypatch.setattr(shop_cli, "cli_context", lambda path: fic)
    monkeypatch.setenv("FIC_LANGUAGE", "en")
    assert main(["--db", str(fic.store.path), "settings", "set", "payment_mapping.bank_transfer", "99:1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("fic: ") and "'bank_transfer'" in err and "ModalitaPagamento" in err
    assert main(["--db", str(fic.store.path), "settings", "set", "payment_mapping",
                 '{"card": {"payment_method_id": 2, "ei_payment_method": "MP99"}}']) == 1
    assert "MP99" in capsys.readouterr().err
    assert fic.settings.payment_mapping == SANDBOX_PAYMENT_MAPPING


# --- webhooks ------------------------------------------------------------------------------------


@pytest.fixture
def keys(fic):
    private = ec.generate_private_key(ec.SECP256R1())
    public = private.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    update_settings(fic.store, {"fic_webhook_public_key": public})
    return private


@pytest.fixture
def sent_invoice(fic, shop, sandbox):
    # The sandbox's SdI walk stays put: the state is the one set here.
    sandbox_call(sandbox, "POST", "/__sandbox__/sdi", json={"processing_ms": 3_600_000, "after_ms": 3_600_000})
    yield _sent_invoice(fic, shop, sandbox)
    sandbox_call(sandbox, "DELETE", "/__sandbox__/sdi")


def _sent_invoice(fic, shop, sandbox):
    shop.add(make_order("1"))
    invoice = Documents(fic).create("1", "invoice")
    run_round(fic)
    sandbox_call(sandbox, "POST", f"/__sandbox__/documents/{invoice.fic_id}/lock", json={"ei_status": "accepted"})
    return fic.store.document(invoice.id)


def token(private, **claims) -> str:
    return jwt.encode({"iss": "fic", "exp": int(time.time()) + 300, **claims}, private, algorithm="ES256")


def post_event(fic, private, ids, *, ce_id=None, authorization=None, body=None, headers=None):
    client = Client(make_wsgi_app(fic))
    auth = authorization if authorization is not None else f"Bearer {token(private)}"
    event_headers = {"Authorization": auth, "ce-id": ce_id or str(uuid.uuid4()), "ce-type": STATUS_UPDATE,
                     "ce-specversion": "1.0", "ce-source": "fic", **(headers or {})}
    data = body if body is not None else json.dumps({"data": {"ids": ids}})
    return client.post("/webhooks", data=data, headers=event_headers, content_type="application/json")


def refresh_jobs(fic) -> list:
    return [j for j in jobs(fic) if j.kind == "ei_refresh"]


@pytest.mark.parametrize("case", ["bad signature", "expired JWT", "no token", "not a JWT", "token of another event"])
def test_a_webhook_that_is_not_fics_is_refused_and_queues_nothing(fic, keys, sent_invoice, caplog, case):
    other = ec.generate_private_key(ec.SECP256R1())
    authorization = {"bad signature": f"Bearer {token(other)}",
                     "expired JWT": f"Bearer {token(keys, exp=int(time.time()) - 3600)}",
                     "no token": "", "not a JWT": "Bearer abc.def.ghi",
                     "token of another event": f"Bearer {token(keys, jti='evt-other')}"}[case]
    with caplog.at_level(logging.WARNING, logger="fic_plugin.webhooks"):
        response = post_event(fic, keys, [sent_invoice.fic_id], authorization=authorization)
    assert response.status_code == 401
    assert refresh_jobs(fic) == [] and "webhook refused" in caplog.text
    assert fic.store.document(sent_invoice.id).ei_status == "sent"


def test_a_replayed_ce_id_is_queued_once(fic, keys, sent_invoice, caplog):
    with caplog.at_level(logging.INFO, logger="fic_plugin.webhooks"):
        first = post_event(fic, keys, [sent_invoice.fic_id], ce_id="evt-1")
        again = post_event(fic, keys, [sent_invoice.fic_id], ce_id="evt-1")
    assert (first.status_code, again.status_code) == (200, 200)
    assert (first.json["queued"], again.json["queued"]) == (True, False)
    assert len(refresh_jobs(fic)) == 1 and "delivered again" in caplog.text


@pytest.mark.parametrize(("body", "headers", "reason"), [
    ("not json", {}, "not JSON"),
    (json.dumps({"data": {}}), {}, "data.ids"),
    (json.dumps({"data": {"ids": "7"}}), {}, "data.ids"),
    (json.dumps({"data": {"ids": [7]}}), {"ce-id": ""}, "ce-id"),
    (json.dumps({"data": {"ids": [7]}}), {"ce-type": ""}, "ce-type"),
])
def test_a_malformed_cloudevent_is_refused_with_its_reason(fic, keys, sent_invoice, body, headers, reason):
    response = post_event(fic, keys, [], body=body, headers=headers)
    assert response.status_code == 400 and reason in response.json["error"]
    assert refresh_jobs(fic) == []


def test_an_event_for_an_unknown_document_is_a_logged_no_op(fic, keys, sent_invoice, sandbox, caplog):
    assert post_event(fic, keys, [987654, "x"]).status_code == 200
    with caplog.at_level(logging.INFO, logger="fic_plugin.sdi"):
        run_round(fic)
    assert [j.state for j in refresh_jobs(fic)] == ["done"]
    assert "987654 is not one of this shop's" in caplog.text
    assert fic.store.document(sent_invoice.id).ei_status == "sent"  # untouched
    assert len(fic_documents(sandbox)) == 1


def test_no_webhook_ever_causes_a_second_send(fic, keys, sent_invoice):
    for _ in range(3):
        post_event(fic, keys, [sent_invoice.fic_id])
    run_round(fic)
    assert fic.store.document(sent_invoice.id).ei_status == "accepted"
    assert list(sdi_sends(fic.store).values()) == [1]
