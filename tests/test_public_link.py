"""The customer's signed, expiring link to a document's PDF ({document_url})."""

from __future__ import annotations

import pytest
from werkzeug.test import Client

from fic_plugin import messages
from fic_plugin.documents import Documents
from fic_plugin.settings import update_settings
from fic_plugin.signing import read, token
from fic_plugin.web.app import PUBLIC_ENDPOINTS, make_wsgi_app
from shoptest import make_order


@pytest.fixture
def invoice(fic, shop):
    shop.add(make_order("1"))
    update_settings(fic.store, {"public_url": "https://www.negozio.it/fic"})
    return Documents(fic).create("1", "invoice")


def test_a_token_is_bound_to_its_document_and_expires(fic):
    value = token(fic.store, 7, now=1000.0, days=1)
    assert read(fic.store, value, now=1000.0) == 7
    assert read(fic.store, value, now=1000.0 + 86400 + 1) is None  # expired
    document_id, expires, mac = value.split(".")
    assert read(fic.store, f"8.{expires}.{mac}", now=1000.0) is None  # another document
    assert read(fic.store, f"7.{int(expires) + 999}.{mac}", now=1000.0) is None  # a longer life
    assert read(fic.store, "garbage", now=1000.0) is None


def test_the_shortcode_gives_the_customer_a_link_that_opens_the_pdf(fic, shop, invoice):
    text = messages.render("PDF: {document_url}", shop.orders["1"], invoice, html=False, context=fic)
    url = text.removeprefix("PDF: ")
    assert url.startswith("https://www.negozio.it/fic/public/documents/")
    # No administrator needed (the customer is not one): the link redirects to a fresh FiC url.
    client = Client(make_wsgi_app(fic))
    response = client.get(url.removeprefix("https://www.negozio.it/fic"))
    assert response.status_code == 302 and "/__sandbox__/print/" in response.headers["Location"]
    assert PUBLIC_ENDPOINTS == {"public_document"}  # every other page still asks for an administrator
    path = url.removeprefix("https://www.negozio.it/fic")
    tampered = path[:-1] + ("1" if path.endswith("0") else "0")  # one character of the signature changed
    assert client.get(tampered).status_code == 404


def test_without_a_public_address_the_shortcode_is_empty(fic, shop, invoice):
    update_settings(fic.store, {"public_url": ""})
    assert messages.render("{document_url}", shop.orders["1"], invoice, html=False, context=fic) == ""
