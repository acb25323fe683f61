"""Shortcodes, safe rendering of owner-written texts, HTML sanitising and SMS length."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fic_plugin import hookimpl
from fic_plugin.errors import InvalidInput
from fic_plugin.i18n import language
from fic_plugin.manager import get_plugin_manager
from fic_plugin.messages import (
    ALLEGATI,
    BUILTIN_SHORTCODES,
    check_template,
    format_money,
    html_to_text,
    known_shortcodes,
    preview,
    render,
    sanitize_html,
    shortcode_values,
    sms_parts,
    sms_warning,
)
from fic_plugin.model import Customer, Document, Line, Order
from fic_plugin.plugin import CORE_NAME
from fic_plugin.settings import DEFAULT_EMAIL_BODY, DEFAULT_EMAIL_SUBJECT, update_settings

#: The test shop's token (any token opens the local sandbox).
TEST_TOKEN = "a/test-access-token-5f1c9e"


def make_order(order_id: str = "7", *, customer: Customer | None = None, paid: bool = False) -> Order:
    """A realistic Italian B2C order (2 products at 22% and 10%, shipping), number ``10<id>``.

    Built here rather than imported from conftest: two conftest modules share that name.
    """
    customer = customer or Customer(
        name="Mario Rossi", type="person", first_name="Mario", last_name="Rossi",
        tax_code="RSSMRA85M01H501Q", email="mario.rossi@example.it", phone="+393331234567",
        address_street="Via Roma 1", address_postal_code="00100", address_city="Roma",
        address_province="RM", country_iso="IT")
    lines = (
        Line(name="Olio extravergine di oliva 1 L", qty="2", unit_price="12.50", vat_rate="22"),
        Line(name="Pasta di Gragnano 500 g", qty="3", unit_price="2.10", vat_rate="10", discount="10"),
        Line(name="Spedizione", qty="1", unit_price="6.90", vat_rate="22", kind="shipping"),
    )
    return Order(id=order_id, number=f"10{order_id}", customer=customer, lines=lines,
                 created_at=datetime(2026, 11, 20, 10, 30), paid_at=datetime.now() if paid else None,
                 status="paid" if paid else "pending")


@pytest.fixture(autouse=True)
def english():
    """Messages are asserted in their English source; shop owners read them in Italian."""
    with language("en"):
        yield


@pytest.fixture
def order() -> Order:
    return make_order("7")


@pytest.fixture
def invoice() -> Document:
    return Document(id=3, order_id="7", type="invoice", fic_id=99, number=12, numeration="/A",
                    date=date(2026, 11, 28), amount_due=Decimal("1234.56"))


class Loyalty:
    """A developer's plugin adding {loyalty_points} and trying to replace {customer_name}."""

    @hookimpl
    def fic_shortcodes(self, order, document):
        return {"loyalty_points": f"{len(order.lines) * 10}", "customer_name": "HIJACKED"}


def test_default_template_renders_every_value_in_italian(context, order, invoice):
    update_settings(context.store, {"shop_name": "Bottega Rossi"})
    subject = render(DEFAULT_EMAIL_SUBJECT, order, invoice, html=False, context=context)
    assert subject == "Fattura n. 12/A del 28/11/2026 - Bottega Rossi"
    body = render(DEFAULT_EMAIL_BODY, order, invoice, html=True, context=context)
    assert "Gentile Mario Rossi," in body
    assert "per un totale di 1.234,56 €" in body
    assert "<p>{{allegati}}</p>" in body  # FiC's placeholder reaches FiC verbatim


def test_order_shortcodes(context, order):
    values = shortcode_values(context, order, None)
    assert values["products"] == "2 x Olio extravergine di oliva 1 L, 3 x Pasta di Gragnano 500 g"
    assert values["order_url"] == "https://negozio.example.it/ordini/7"
    assert values["order_date"] == "20/11/2026"
    assert values["order_number"] == "107"
    assert values["customer_email"] == "mario.rossi@example.it"
    # 2×12.50 + 6.90 at 22% = 31.90 + 7.02; 3×2.10 −10% = 5.67 at 10% = 5.67 + 0.57
    assert values["order_total"] == "45,16 €"
    assert values["document_number"] == ""  # no document yet: empty, not "None"


def test_order_total_is_what_the_shop_charges_with_its_settings(context):
    """{order_total} is read by the same totals function as the invoice: a professional's rivalsa
    INPS charged on top of the price is in it (100 + 4% rivalsa, 22% VAT on both)."""
    fee = Order(id="8", number="108", customer=Customer(name="Studio Bianchi", type="company"),
                lines=(Line(name="Consulenza", qty="1", unit_price="100", vat_rate="22", kind="service"),))
    assert shortcode_values(context, fee, None)["order_total"] == "122,00 €"
    update_settings(context.store, {"rivalsa_inps": True, "rivalsa_included_in_price": False})
    assert shortcode_values(context, fee, None)["order_total"] == "126,88 €"


@pytest.mark.parametrize(("amount", "text"), [
    ("1234.56", "1.234,56 €"), ("0.5", "0,50 €"), ("1000000", "1.000.000,00 €"),
    ("-12.345", "-12,35 €"), ("999.995", "1.000,00 €"),
])
def test_money_is_italian(amount, text):
    assert format_money(Decimal(amount)) == text


def test_values_are_escaped_in_html_but_not_in_text(context, invoice):
    order = make_order("8", customer=Customer(name="Rossi <script>alert(1)</script> & Figli",
                                              type="company", email="a@b.it"))
    body = render("<p>{customer_name}</p>", order, invoice, html=True, context=context)
    assert body == "<p>Rossi &lt;script&gt;alert(1)&lt;/script&gt; &amp; Figli</p>"
    subject = render("{customer_name}", order, invoice, html=False, context=context)
    assert subject == "Rossi <script>alert(1)</script> & Figli"


def test_hook_fic_shortcodes(shop, order, invoice):
    pm = get_plugin_manager([shop, Loyalty()], load_entrypoints=False)
    context = pm.get_plugin(CORE_NAME).context
    text = render("{customer_name}: {loyalty_points} punti", order, invoice, html=False, context=context)
    assert text == "Mario Rossi: 30 punti"
    assert "loyalty_points" in known_shortcodes(pm)
    check_template("{loyalty_points}", "email_subject", extra=known_shortcodes(pm))
    with pytest.raises(InvalidInput):
        check_template("{loyalty_points}", "email_subject")  # unknown without the plugin


def test_unknown_shortcode_is_refused_with_the_known_ones():
    with pytest.raises(InvalidInput) as error:
        check_template("Ciao {custmer_name}", "email_subject")
    message = str(error.value)
    assert message.startswith("Unknown shortcode {custmer_name} in email_subject: known ones are")
    assert "{customer_name}" in message and "Did you mean {customer_name}?" in message
    assert error.value.field == "email_subject"


@pytest.mark.parametrize("text", [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{% for x in range(10) %}x{% endfor %}",
    "{{ allegati }}",
    "{# comment #}",
    "{{customer_name}}",
])
def test_template_syntax_is_refused_at_save(context, text):
    with pytest.raises(InvalidInput) as error:
        update_settings(context.store, {"email_body": f"<p>{text}</p>"})
    assert "not allowed in email_body" in str(error.value)
    assert context.settings.email_body == DEFAULT_EMAIL_BODY


def test_settings_refuse_unknown_shortcodes(context):
    with pytest.raises(InvalidInput) as error:
        update_settings(context.store, {"sms_text": "Ciao {nome}"})
    assert error.value.field == "sms_text"


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("{}%#_ab .'()[]<>=|\"")), max_size=40))
def test_owner_text_is_never_evaluated(text):
    """Whatever the owner types, rendering either refuses it or prints it: nothing runs."""
    order = Order(id="1", number="1", customer=Customer(name="X"), lines=())
    try:
        check_template(text, "sms_text")
    except InvalidInput:
        return
    assert render(text, order, None, html=False) == text


def test_sanitising_keeps_formatting_and_drops_active_content():
    dirty = ('<h2 onclick="steal()">Titolo</h2><p style="x:expression(alert(1))"><b>grassetto</b> '
             '<a href="javascript:alert(1)">no</a> <a href="{order_url}">ordine</a></p>'
             '<script>alert(1)</script><iframe src="x"></iframe><ul><li>uno</li></ul>' + ALLEGATI)
    clean = sanitize_html(dirty)
    assert clean == ('<h2>Titolo</h2><p><b>grassetto</b> <a>no</a> <a href="{order_url}">ordine</a></p>'
                     '<ul><li>uno</li></ul>{{allegati}}')


def test_html_body_is_sanitised_even_when_stored_dirty(context, order, invoice):
    body = render('<p onmouseover="x()">{order_url}</p><script>x()</script>', order, invoice, html=True,
                  context=context)
    assert body == "<p>https://negozio.example.it/ordini/7</p>"


def test_plain_text_twin():
    assert html_to_text("<p>Gentile <b>Mario</b>,</p><p>riga&nbsp;due<br>tre</p>") == \
        "Gentile Mario,\nriga\xa0due\ntre"


@pytest.mark.parametrize(("text", "expected"), [
    ("", ("GSM-7", 0, 0)),
    ("a" * 160, ("GSM-7", 160, 1)),
    ("a" * 161, ("GSM-7", 161, 2)),
    ("a" * 306, ("GSM-7", 306, 2)),
    ("a" * 307, ("GSM-7", 307, 3)),
    ("€" * 80, ("GSM-7", 160, 1)),  # the euro sign takes two septets
    ("è" * 160, ("GSM-7", 160, 1)),
    ("ł" * 70, ("UCS-2", 70, 1)),
    ("ł" * 71, ("UCS-2", 71, 2)),
    ("😀" * 35, ("UCS-2", 70, 1)),  # outside the BMP: two UTF-16 units each
    ("a" * 134 + "ł", ("UCS-2", 135, 3)),
])
def test_sms_parts(text, expected):
    assert sms_parts(text) == expected


def test_sms_warning_only_past_one_part():
    assert sms_warning("a" * 160) is None
    assert "2 SMS" in sms_warning("a" * 161)


def test_preview_shows_what_the_customer_reads(context, order, invoice):
    update_settings(context.store, {"shop_name": "Bottega"})
    shown = preview(context, order, invoice, subject="Ordine {order_number}", sms_text="{products}")
    assert shown["subject"] == "Ordine 107"
    assert "Gentile Mario Rossi" in shown["body"]
    assert shown["sms_text"].startswith("2 x Olio")
    # The product list keeps an SMS in GSM-7 (160 characters a part), accents included.
    text = shown["sms_text"]
    assert shown["sms"] == {"encoding": "GSM-7", "length": len(text), "parts": 1, "warning": None}
    assert set(BUILTIN_SHORTCODES) <= set(shortcode_values(context, order, invoice))


def test_quantities_are_written_as_people_do(context):
    order = Order(id="2", number="2", customer=Customer(name="X"),
                  lines=(Line("Farina", "0.500", "1", "4"), Line("Uova", "6.000", "0.3", "10")))
    assert shortcode_values(context, order, None)["products"] == "0,5 x Farina, 6 x Uova"


def test_settings_accept_plugin_shortcodes_when_told_about_them(shop):
    pm = get_plugin_manager([shop, Loyalty()], load_entrypoints=False)
    context = pm.get_plugin(CORE_NAME).context
    with pytest.raises(InvalidInput):
        update_settings(context.store, {"sms_text": "Hai {loyalty_points} punti"})
    update_settings(context.store, {"sms_text": "Hai {loyalty_points} punti"}, shortcodes=known_shortcodes(pm))
    assert context.settings.sms_text == "Hai {loyalty_points} punti"
