"""The three screens on a phone, with the keyboard, and through an accessibility checker.

Debian's chromium through Playwright against the demo shop: at 390 px every action button of the
panel, the send screen and the settings is inside the viewport and no dropdown is cut; shortcodes
go in at the caret with the keyboard; the primary button shows its focus ring; axe-core (installed
by ``make test`` into tests/browser/node_modules) finds no serious or critical violation.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.browser

AXE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
PHONE = {"width": 390, "height": 844}

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")


@pytest.fixture
def phone(open_page):
    return open_page(PHONE)


@pytest.fixture
def desktop(open_page):
    return open_page()


def order_with_documents(demo) -> dict:
    """An order with a sent invoice, a quote and a proforma: every kind of row and action."""
    response = requests.post(demo.url + "/api/orders", timeout=10, json={
        "customer": {"name": "Rossi Forniture S.r.l.", "type": "company", "vat_number": "01234567897",
                     "email": "amministrazione@example.it", "phone": "+393331234567",
                     "address_street": "Via Roma 1", "address_postal_code": "00100",
                     "address_city": "Roma", "address_province": "RM", "sdi_code": "ABC1234"},
        "lines": [{"name": "Olio extravergine 1 L", "qty": "2", "unit_price": "12.50", "vat_rate": "22"}],
        "payment_method": "bank_transfer"})
    response.raise_for_status()
    order_id = response.json()["id"]
    from fic_plugin.documents import Documents
    from fic_plugin.sending import Sending

    documents = Documents(demo.context)
    invoice = documents.create(order_id, "invoice")
    documents.create(order_id, "quote")
    documents.create(order_id, "proforma")
    Sending(demo.context).send_now(invoice.id)
    return {"id": order_id, "invoice": invoice}


def outside_viewport(page, selector: str) -> list[str]:
    """The visible elements matching ``selector`` that stick out of the viewport, by their text."""
    return page.evaluate("""(selector) => {
        const width = document.documentElement.clientWidth;
        return [...document.querySelectorAll(selector)]
          .filter(el => el.offsetParent !== null)
          .filter(el => { const r = el.getBoundingClientRect(); return r.left < 0 || r.right > width + 0.5; })
          .map(el => (el.innerText || el.value || el.name || el.outerHTML.slice(0, 60)).trim());
    }""", selector)


ACTIONS = ".fic-panel button, .fic-panel a.fic-button, .fic-panel select, .fic-panel input, .fic-panel textarea"


def test_the_panel_on_a_phone_keeps_every_action_on_screen(phone, demo):
    order = order_with_documents(demo)
    phone.goto(f"{demo.url}/orders/{order['id']}")
    sync_api.expect(phone.locator(".fic-panel tr.fic-doc")).to_have_count(3)
    assert outside_viewport(phone, ACTIONS) == []
    panel_width = phone.locator(".fic-panel").bounding_box()["width"]
    assert panel_width <= PHONE["width"]
    # The cards still say what each value is.
    number_cell = phone.locator(".fic-panel tr.fic-doc td.fic-doc-number").first
    assert number_cell.evaluate("td => getComputedStyle(td, '::before').content") == '"Numero"'



def test_the_send_screen_on_a_phone_keeps_every_action_on_screen(phone, demo):
    order = order_with_documents(demo)
    phone.goto(f"{demo.url}/fic/documents/{order['invoice'].id}/send")
    sync_api.expect(phone.locator(".fic-editor")).to_be_visible()
    assert outside_viewport(phone, ACTIONS + ", .fic-panel .fic-editor") == []
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_the_settings_on_a_phone_keep_dropdowns_whole(phone, demo):
    phone.goto(f"{demo.url}/fic/settings")
    sync_api.expect(phone.locator('select[name="vat_mapping.22"]')).to_be_visible()
    assert outside_viewport(phone, ACTIONS) == []
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    # A mapping dropdown is as wide as the card, not cut to "Ba".
    for name in ("vat_mapping.22", "payment_mapping.bank_transfer.payment_method_id"):
        box = phone.locator(f'select[name="{name}"]').bounding_box()
        assert box["width"] >= 250, (name, box)


def test_shortcodes_go_in_at_the_caret_with_the_keyboard(desktop, demo):
    order = order_with_documents(demo)
    page = desktop
    page.goto(f"{demo.url}/fic/documents/{order['invoice'].id}/send")
    sync_api.expect(page.locator(".fic-editor")).to_be_visible()
    # Subject: the caret after "per ", then Tab to the field's "Inserisci shortcode…" list.
    subject = page.locator("#f-subject")
    subject.fill("Fattura per , grazie")
    subject.press("Home")
    for _ in range(len("Fattura per ")):
        subject.press("ArrowRight")
    page.keyboard.press("Tab")
    menu = page.locator('select.fic-insert[data-target="f-subject"]')
    assert menu.evaluate("el => el === document.activeElement")
    menu.select_option("{customer_name}")  # what Enter on an option does
    assert subject.input_value() == "Fattura per {customer_name}, grazie"
    # SMS: the caret in the middle, then a shortcode button reached by Tab and pressed with Enter.
    sms = page.locator("#f-sms_text")
    sms.fill("Ordine  spedito")
    sms.press("End")
    for _ in range(len(" spedito")):
        sms.press("ArrowLeft")
    button = page.locator(".fic-shortcode", has_text="{order_number}")
    button.focus()
    page.keyboard.press("Enter")
    assert sms.input_value() == "Ordine {order_number} spedito"
    # Body (the rich editor): the caret after "Grazie ", then the body's list.
    editor = page.locator(".fic-editor")
    editor.fill("Grazie mille")
    editor.press("Home")
    for _ in range(len("Grazie ")):
        editor.press("ArrowRight")
    page.locator('select.fic-insert[data-target="f-body"]').focus()
    page.locator('select.fic-insert[data-target="f-body"]').select_option("{customer_name}")
    assert editor.inner_text() == "Grazie {customer_name}mille"
    sync_api.expect(page.locator(".fic-preview-subject")).to_have_text("Fattura per Rossi Forniture S.r.l., grazie")


def test_the_primary_button_shows_its_focus_ring(desktop, demo):
    order = order_with_documents(demo)
    page = desktop
    page.goto(f"{demo.url}/orders/{order['id']}")
    page.keyboard.press("Tab")  # the keyboard is in use: focus is shown
    primary = page.locator(".fic-panel .fic-primary").first
    primary.focus()
    style = primary.evaluate("el => { const s = getComputedStyle(el); "
                             "return [s.outlineStyle, parseFloat(s.outlineWidth)]; }")
    assert style[0] != "none" and style[1] >= 2, style


def axe_violations(page, context: str = "document") -> list[dict]:
    if not AXE.exists():
        pytest.skip("axe-core is not installed: run make axe (npm install into tests/browser/node_modules)")
    page.add_script_tag(path=str(AXE))
    results = page.evaluate(f"""async () => {{
        const r = await axe.run({context}, {{resultTypes: ['violations']}});
        return r.violations.map(v => ({{id: v.id, impact: v.impact,
                                         nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}}));
    }}""")
    return [v for v in results if v["impact"] in ("serious", "critical")]


@pytest.mark.parametrize("viewport", [PHONE, {"width": 1280, "height": 900}], ids=["phone", "desktop"])
def test_axe_finds_nothing_serious_on_the_screens(open_page, demo, viewport):
    order = order_with_documents(demo)
    page = open_page(viewport)
    page.goto(f"{demo.url}/orders/{order['id']}")
    assert axe_violations(page, "document.querySelector('.fic-panel')") == []
    page.goto(f"{demo.url}/fic/documents/{order['invoice'].id}/send")
    sync_api.expect(page.locator(".fic-editor")).to_be_visible()
    assert axe_violations(page) == []
    page.goto(f"{demo.url}/fic/settings")
    assert axe_violations(page) == []
    page.goto(f"{demo.url}/fic/documents")  # the overview of every order's documents
    sync_api.expect(page.locator(".fic-all-docs")).to_be_visible()
    assert axe_violations(page) == []
    assert outside_viewport(page, ACTIONS) == []
