"""The screens in a real browser: Debian's chromium, driven by Playwright, against the demo shop.

One demo (shop + FiC sandbox + worker on free ports) and one browser serve the whole module; each
test makes its own orders. Every test leaves a screenshot in its pytest tmp dir.
"""

from __future__ import annotations

import re
import time

import pytest
import requests

pytestmark = pytest.mark.browser

XSS = "<script>alert(1)</script>"

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")


@pytest.fixture
def page(open_page):
    page = open_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.dialogs = dialogs
    return page


def new_order(demo, name: str = "Mario Rossi") -> dict:
    return demo.place_order({
        "customer": {"name": name, "type": "person", "tax_code": "RSSMRA85M01H501Q",
                     "email": "mario.rossi@example.it", "phone": "+393331234567",
                     "address_street": "Via Roma 1", "address_postal_code": "00100",
                     "address_city": "Roma", "address_province": "RM"},
        "lines": [{"name": "Olio extravergine 1 L", "qty": "2", "unit_price": "12.50", "vat_rate": "22"},
                  {"name": "Pasta di Gragnano 500 g", "qty": "3", "unit_price": "2.10", "vat_rate": "10"}],
        "payment_method": "bank_transfer", "shipping": "6.90"})


def panel(page):
    return page.locator(".fic-panel")


def create(page, label: str) -> None:
    panel(page).locator("select[name=type]").select_option(label=label)
    panel(page).get_by_role("button", name="Genera documento").click()
    sync_api.expect(panel(page).locator(".fic-flash")).to_have_text(re.compile(
        rf"^{re.escape(label)} n\. \S+ (creata|creato)\.$"))


def row(page, label: str):
    return panel(page).locator("tr.fic-doc", has=page.locator("td.fic-doc-type", has_text=label))


def test_create_every_type_and_view_it(page, demo, tmp_path):
    order = new_order(demo)
    page.goto(f"{demo.url}/orders/{order['id']}")
    assert "Ancora nessun documento fiscale" in panel(page).inner_text()
    for label in ("Fattura", "Preventivo", "Proforma", "Documento di trasporto"):
        create(page, label)
        sync_api.expect(row(page, label)).to_have_count(1)
    assert panel(page).locator("select[name=type]").count() == 0, "every type exists: nothing left to create"
    invoice = row(page, "Fattura")
    text = invoice.inner_text()
    assert re.search(r"\d+,\d\d\s€", text), text
    assert re.search(r"\d\d/\d\d/\d{4}", text) and "Non pagato" in text and "Non inviata" in text
    panel(page).screenshot(path=str(tmp_path / "panel.png"))
    with page.expect_popup() as popup:
        invoice.get_by_role("link", name="Visualizza").click()
    assert popup.value.url.startswith(demo.sandbox_url), popup.value.url
    assert [d.type for d in demo.context.store.documents(order["id"])] == \
        ["invoice", "quote", "proforma", "delivery_note"]


def test_convert_a_proforma_into_an_invoice(page, demo):
    order = new_order(demo)
    page.goto(f"{demo.url}/orders/{order['id']}")
    create(page, "Proforma")
    row(page, "Proforma").get_by_role("button", name="Converti in Fattura").click()
    sync_api.expect(panel(page).locator(".fic-flash")).to_have_text(re.compile(
        r"^Proforma n\. \S+ convertita in Fattura n\. \S+\.$"))
    sync_api.expect(row(page, "Fattura")).to_contain_text("Convertita da Proforma")
    invoice = demo.context.store.document_for(order["id"], "invoice")
    assert invoice is not None and invoice.converted_from is not None


def test_delete_after_confirmation(page, demo):
    order = new_order(demo)
    page.goto(f"{demo.url}/orders/{order['id']}")
    create(page, "Preventivo")
    row(page, "Preventivo").get_by_role("link", name="Elimina").click()
    sync_api.expect(page.get_by_role("heading")).to_contain_text("Eliminare il Preventivo n.")
    page.get_by_role("link", name="Annulla").click()
    sync_api.expect(row(page, "Preventivo")).to_have_count(1)
    row(page, "Preventivo").get_by_role("link", name="Elimina").click()
    page.get_by_role("button", name="Elimina").click()
    assert page.url.endswith(f"/orders/{order['id']}")
    sync_api.expect(panel(page).locator(".fic-flash")).to_have_text(re.compile(r"^Preventivo n\. \S+ eliminato\.$"))
    sync_api.expect(row(page, "Preventivo")).to_have_count(0)
    assert demo.context.store.documents(order["id"]) == []


def test_send_with_custom_text_and_an_extra_recipient(page, demo, tmp_path):
    order = new_order(demo)
    page.goto(f"{demo.url}/orders/{order['id']}")
    create(page, "Fattura")
    row(page, "Fattura").get_by_role("link", name="Invia…").click()
    sync_api.expect(page.locator(".fic-editor")).to_be_visible()
    subject = page.locator("#f-subject")
    subject.fill("Fattura per ")
    subject.press("End")
    page.locator(".fic-shortcode", has_text="{customer_name}").click()
    assert subject.input_value() == "Fattura per {customer_name}"
    page.locator(".fic-editor").fill("Grazie per l'acquisto!")
    page.get_by_role("button", name="Aggiungi destinatario").click()
    page.locator("input[name=emails]").last.fill("amministrazione@example.it")
    sync_api.expect(page.locator(".fic-preview-subject")).to_have_text("Fattura per Mario Rossi")
    sync_api.expect(page.locator(".fic-preview-body")).to_contain_text("Grazie per l'acquisto!")
    page.screenshot(path=str(tmp_path / "send.png"), full_page=True)
    page.get_by_role("button", name="Invia", exact=True).click()
    assert page.url.endswith(f"/orders/{order['id']}")
    sync_api.expect(panel(page).locator(".fic-flash")).not_to_have_class(re.compile("fic-error"))
    # On a busy machine FiC may answer after the request's budget: the row then says "invio
    # dell'email in corso" and the panel reloads itself (every 5 s) until it says "Inviata il".
    sync_api.expect(row(page, "Fattura")).to_contain_text("Inviata il", timeout=20_000)
    emails = requests.get(demo.sandbox_url + "/__sandbox__/emails", timeout=10).json()["data"]
    mine = [e for e in emails if "amministrazione@example.it" in str(e)]
    assert mine and "Fattura per Mario Rossi" in str(mine[-1])


def test_schedule_on_payment_then_record_the_payment(page, demo):
    order = new_order(demo)
    page.goto(f"{demo.url}/orders/{order['id']}")
    panel(page).get_by_role("link", name="Programma l'invio alla ricezione del pagamento").click()
    page.locator("#f-subject").fill("La sua fattura {document_number}")
    page.get_by_role("button", name="Programma l'invio alla ricezione del pagamento").click()
    sync_api.expect(panel(page).locator(".fic-flash")).to_contain_text("la fattura sarà inviata a mario.rossi")
    # After a reload the plan is still on the panel, with "Modifica" and "Annulla".
    page.reload()
    sync_api.expect(panel(page).locator(".fic-plan")).to_contain_text("la fattura sarà inviata")
    sync_api.expect(panel(page).locator(".fic-plan").get_by_role("link", name="Modifica")).to_be_visible()
    page.locator("#payment-form input[name=amount]").fill(order["totals"]["due"].replace(".", ","))
    page.locator("#payment-form").get_by_role("button", name="Registra pagamento").click()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        page.goto(f"{demo.url}/orders/{order['id']}")
        invoice = row(page, "Fattura")
        if invoice.count() and "Inviata il" in invoice.inner_text():
            break
        time.sleep(0.5)
    sync_api.expect(row(page, "Fattura")).to_contain_text("Inviata il")
    sync_api.expect(row(page, "Fattura")).to_contain_text("Pagato")


def test_settings_with_the_vat_mapping(page, demo):
    page.goto(f"{demo.url}/fic/settings")
    assert "Configurazione imposte" in page.content()
    vat_4 = page.locator('select[name="vat_mapping.4"]')
    options = vat_4.locator("option").all_inner_texts()
    assert options[0] == "Seleziona imposta" and "4%" in options, options
    vat_4.select_option(label="4%")
    # 0% for goods to EU businesses: an intra-community supply, FiC's N3.2 type.
    page.locator('select[name="vat_mapping.0:EU-business:goods"]').select_option(
        label="0% — N3.2 Non imponibile - cessioni intracomunitarie (natura N3.2)")
    page.locator("#f-numeration").fill("/WEB")
    page.locator("#f-rivalsa_inps").check()
    page.get_by_role("button", name="Salva impostazioni").click()
    # Saved, with the warning that the new suffix restarts the numbering.
    sync_api.expect(page.locator(".fic-flash")).to_contain_text("Impostazioni salvate. Il suffisso di numerazione")
    assert page.locator("#f-numeration").input_value() == "/WEB"
    assert page.locator("#f-rivalsa_inps").is_checked()
    settings = demo.context.settings
    assert settings.numeration == "/WEB" and settings.rivalsa_inps
    assert settings.vat_mapping["4"] == 4 and settings.vat_mapping["0:EU-business:goods"] == 28
    page.locator("#f-numeration").fill("A B")
    page.get_by_role("button", name="Salva impostazioni").click()
    sync_api.expect(page.locator("#error-numeration")).to_be_visible()
    assert page.locator("#f-numeration").input_value() == "A B"
    assert demo.context.settings.numeration == "/WEB"
    page.locator("#f-numeration").fill("")
    page.locator("#f-rivalsa_inps").uncheck()
    page.get_by_role("button", name="Salva impostazioni").click()
    sync_api.expect(page.locator(".fic-flash")).to_contain_text("Impostazioni salvate.")


def test_a_customer_named_like_a_script_is_text(page, demo):
    order = new_order(demo, name=XSS)
    page.goto(f"{demo.url}/orders/{order['id']}")
    create(page, "Proforma")
    row(page, "Proforma").get_by_role("link", name="Invia…").click()
    assert XSS in page.locator("main").inner_text()
    page.goto(f"{demo.url}/fic/orders/{order['id']}")
    assert XSS in page.locator("h1").inner_text()
    assert page.dialogs == [], "a script from the customer's name ran"
