"""Bad input through the screens: panel POSTs, the send screen and the settings screen.

A panel action answers 303 back to the order with the reason flashed in the panel; a screen
answers 400 with the reason next to the field and the owner's typing kept. Either way nothing
is written: no document, no job, no send, no email in FiC, settings as they were.
"""

from __future__ import annotations

import re

import pytest
from badinput import assert_nothing_written, csrf_from
from markupsafe import escape
from werkzeug.test import Client

from fic_plugin.documents import Documents
from fic_plugin.model import Line
from fic_plugin.settings import update_settings
from fic_plugin.web.app import make_wsgi_app
from fic_plugin.web.panel import render_panel
from shoptest import fic_documents, make_order, sandbox_call, sandbox_emails

pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture
def web(fic, shop):
    update_settings(fic.store, {"language": "en"})
    shop.add(make_order("1"))
    shop.add(make_order("2", lines=(Line(name="Libro", qty="1", unit_price="10.00", vat_rate="7"),)))
    return Client(make_wsgi_app(fic))


def panel_post(web, fic, shop, path: str, order_id: str = "1", **form):
    token = csrf_from(render_panel(fic, shop.orders[order_id]))
    return web.post(path, data={"csrf_token": token, **form})


def flashed(fic, shop, order_id: str = "1") -> str:
    match = re.search(r'class="fic-flash fic-error"[^>]*>([^<]*)<', render_panel(fic, shop.orders[order_id]))
    return match.group(1) if match else ""


# --- the panel ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("order_id", "form", "expected"), [
    ("1", {"type": "scontrino"}, "Choose the type of document to create."),
    ("1", {"type": ""}, "Choose the type of document to create."),
    ("2", {"type": "invoice"}, "Configurazione imposte"),
], ids=["unknown type", "no type", "unmapped VAT rate"])
def test_panel_create_refusals_are_flashed_and_write_nothing(web, fic, shop, sandbox, order_id, form, expected):
    response = panel_post(web, fic, shop, f"/orders/{order_id}/documents", order_id, **form)
    assert response.status_code == 303 and response.headers["Location"] == f"/orders/{order_id}"
    assert expected in flashed(fic, shop, order_id)
    assert_nothing_written(fic, sandbox)


def test_a_post_without_csrf_token_is_refused_and_writes_nothing(web, fic, sandbox):
    response = web.post("/orders/1/documents", data={"type": "invoice"})
    assert response.status_code == 403 and b"did not come from your shop" in response.data
    assert_nothing_written(fic, sandbox)


def test_a_token_for_another_order_does_not_work_here(web, fic, shop, sandbox):
    token = csrf_from(render_panel(fic, shop.orders["2"]))
    response = web.post("/orders/1/documents", data={"csrf_token": token, "type": "invoice"})
    assert response.status_code == 403
    assert_nothing_written(fic, sandbox)


@pytest.mark.parametrize("path", ["/documents/99999/view", "/documents/99999/delete", "/documents/99999/send"])
def test_unknown_document_ids_are_404_pages(web, fic, sandbox, path):
    response = web.get(path)
    # The id is the address the owner followed; the page speaks of "this document", never of ids.
    assert response.status_code == 404 and b"does not exist" in response.data and b"99999" not in response.data
    assert_nothing_written(fic, sandbox)


@pytest.mark.parametrize(("to_type", "expected"), [("quote", "cannot be converted"), ("invoice", "cannot be converted"),
                                                   ("fattura", "cannot be converted")])
def test_converting_into_a_type_fic_forbids_is_refused(web, fic, shop, sandbox, to_type, expected):
    invoice = Documents(fic).create("1", "invoice")
    before = fic_documents(sandbox)
    response = panel_post(web, fic, shop, f"/documents/{invoice.id}/convert", to_type=to_type)
    assert response.status_code == 303 and expected in flashed(fic, shop)
    assert [d.id for d in fic.store.documents("1")] == [invoice.id] and fic_documents(sandbox) == before


def test_deleting_a_locked_document_is_refused_and_it_stays_everywhere(web, fic, shop, sandbox):
    invoice = Documents(fic).create("1", "invoice")
    sandbox_call(sandbox, "POST", f"/__sandbox__/documents/{invoice.fic_id}/lock", json={"ei_status": "sent"})
    response = panel_post(web, fic, shop, f"/documents/{invoice.id}/delete")
    assert response.status_code == 303 and "Issue a credit note" in flashed(fic, shop)
    assert fic.store.document(invoice.id) is not None
    assert [d["id"] for d in fic_documents(sandbox)] == [invoice.fic_id]


# --- the send screen ---------------------------------------------------------------------------------


@pytest.fixture
def invoice(fic, web):
    return Documents(fic).create("1", "invoice")


def send_form(web, document_id: int, **fields):
    page = web.get(f"/documents/{document_id}/send")
    form = {"csrf_token": csrf_from(page.get_data(as_text=True)), "emails": "mario.rossi@example.it",
            "subject": "Fattura {document_number}", "body": "<p>Gentile {customer_name}</p>", **fields}
    return web.post(f"/documents/{document_id}/send", data=form, headers={"Cookie": page.headers.get("Set-Cookie", "")})


@pytest.mark.parametrize(("fields", "field", "expected"), [
    ({"emails": "mario.rossi@"}, "emails", "is not valid"),
    ({"emails": "a@b.it, <script>@x.it"}, "emails", "is not valid"),
    ({"emails": ""}, "emails", "Add at least one recipient."),
    ({"subject": "{{ ''.__class__.__mro__ }}"}, "subject", "Template syntax {{ is not allowed"),
    ({"body": "{% for x in range(10**9) %}x{% endfor %}"}, "body", "Template syntax {% is not allowed"),
    ({"body": "{cliente}"}, "body", "Unknown shortcode {cliente}"),
    ({"body": "<p>" + "x" * 52_000 + "</p>"}, "body", "at most 50 KiB"),
    ({"sms": "1", "phones": "333-CALL-ME"}, "phones", "is not valid"),
], ids=["email without domain", "email with markup", "no recipient", "jinja in subject", "jinja loop in body",
        "unknown shortcode", "body over 50 KiB", "malformed phone"])
def test_send_screen_refusals_name_the_field_and_send_nothing(web, fic, sandbox, invoice, fields, field, expected):
    response = send_form(web, invoice.id, **fields)
    page = response.get_data(as_text=True)
    assert response.status_code == 400, page[:500]
    assert expected in page
    assert fic.store.db.execute("SELECT COUNT(*) FROM fic_sends").fetchone()[0] == 0
    assert sandbox_emails(sandbox) == []
    assert "<script>@x.it" not in page  # what the owner typed comes back escaped


# --- the settings screen -----------------------------------------------------------------------------


def settings_form(web):
    page = web.get("/settings")
    return csrf_from(page.get_data(as_text=True)), {"Cookie": page.headers.get("Set-Cookie", "")}


def stored(fic) -> tuple:
    return fic.store.raw_settings(), fic.store.db.execute("SELECT * FROM fic_secrets ORDER BY 1").fetchall()


@pytest.mark.parametrize(("fields", "expected"), [
    ({"vat_mapping.22": "abc"}, "is not a whole number"),
    ({"vat_new_rate": "150", "vat_new_id": "0"}, "between 0 and 100"),
    ({"payment_mapping.card.payment_method_id": "-2"}, "must be a positive number"),
    ({"numeration": "/A B"}, "use letters and digits after a slash"),
    ({"email_subject": "{{ self.__init__.__globals__ }}"}, "Template syntax {{ is not allowed"),
    ({"email_body": "{% include '/etc/passwd' %}"}, "Template syntax {% is not allowed"),
    ({"sms_text": "{nome}"}, "Unknown shortcode {nome}"),
    ({"default_notes": "n" * 5001}, "at most 5000 characters"),
    ({"language": "de"}, "'de' is not one of: it, en"),
    ({"fic_api_url": "javascript:alert(1)"}, "is not an http(s) URL"),
], ids=["VAT id not a number", "VAT rate over 100", "negative payment method id", "bad numbering suffix",
        "jinja in subject", "jinja include in body", "unknown shortcode in SMS", "notes over 5,000",
        "unknown language", "javascript URL"])
def test_settings_screen_refusals_keep_every_setting_as_it_was(web, fic, fields, expected):
    token, cookie = settings_form(web)
    before = stored(fic)
    response = web.post("/settings", data={"csrf_token": token, "fic_access_token": "a/other-token-1234", **fields},
                        headers=cookie)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert str(escape(expected)) in page
    assert stored(fic) == before  # all or nothing: not even the new token was saved
