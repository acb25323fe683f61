"""Issue 13: texts the owner writes, filled with what customers type, stay harmless and bounded."""

from __future__ import annotations

import pytest
from werkzeug.test import Client

from fic_plugin import messages
from fic_plugin.errors import InvalidInput
from fic_plugin.model import Customer, Line
from fic_plugin.web.app import make_wsgi_app
from shoptest import make_order

EVIL = Customer(name="javascript:alert(document.domain)//", type="company", email="x@example.it")


@pytest.mark.parametrize("body", ['<a href="{customer_name}">scarica</a>',
                                  '<a href="&#123;customer_name&#125;">scarica</a>',
                                  '<a href="&#x7b;customer_name&#x7d;">scarica</a>'])
def test_a_customer_named_javascript_never_becomes_a_link_scheme(body):
    order = make_order("1", customer=EVIL)
    rendered = messages.render(body, order, None, html=True, values={"customer_name": EVIL.name})
    assert "javascript:" not in rendered.lower() and "scarica" in rendered


def test_the_preview_takes_its_texts_by_post_with_csrf_not_from_a_link(fic, shop):
    shop.add(make_order("1", customer=EVIL))
    web = Client(make_wsgi_app(fic))
    link = web.get("/orders/1/preview?body=%3Ca%20href%3D%22javascript%3Aalert(1)%22%3Ex%3C/a%3E")
    assert link.status_code == 405 and "alert(1)" not in link.get_data(as_text=True)
    assert web.post("/orders/1/preview", data={"body": "<p>x</p>"}).status_code == 403  # no CSRF token


def test_a_shortcode_that_would_fill_megabytes_is_refused_before_rendering_naming_field_and_order():
    lines = tuple(Line(name=f"Prodotto numero {n}", qty="1", unit_price="1.00", vat_rate="22")
                  for n in range(500))
    order = make_order("7", lines=lines)
    values = messages.builtin_values(order, None)
    with pytest.raises(InvalidInput) as caught:
        messages.render("{products}" * 200, order, None, html=True, values=values, field="email_body")
    assert caught.value.field == "email_body" and "107" in str(caught.value) and "{products}" in str(caught.value)
    with pytest.raises(InvalidInput) as caught:
        messages.render("Ordine {products}", order, None, html=False, values=values, field="email_subject")
    assert caught.value.field == "email_subject"


def test_an_sms_of_more_than_ten_parts_is_refused_with_the_count():
    order = make_order("8")
    with pytest.raises(InvalidInput) as caught:
        messages.render("😀" * 800, order, None, html=False, values={}, field="sms_text")
    assert caught.value.field == "sms_text" and "24 SMS" in str(caught.value)
