"""A shop owner's walk through the demo, in Italian, in a real browser.

Create a quote, convert it into an invoice, send it by email and SMS (the demo's test SMS
provider, logged by the sandbox), schedule a send for another order and cancel it, record a
payment in two parts (automatic invoices on), delete the invoice. Every message and every panel
along the way is read: no wrong gender, no English word, no internal id, one full stop; and the
sandbox's logs hold exactly one email and one SMS for the one send.
"""

from __future__ import annotations

import re
import time

import pytest
import requests

pytestmark = pytest.mark.browser


sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

#: What must never be read on the panel: the other gender's article or ending next to a type,
#: English words, internal ids, a doubled full stop.
WRONG = [
    r"\bla (Preventivo|Documento di trasporto)\b", r"\bil (Fattura|Proforma|Nota di credito)\b",
    r"\b(Fattura|Proforma|Nota di credito) n\. \S+ (creato|convertito|eliminato|inviato)\b",
    r"\b(Preventivo|Documento di trasporto) n\. \S+ (creata|convertita|eliminata|inviata)\b",
    r"\b(Inviato|Non inviato|Convertito) .*\n?.*Fattura", r"\ba [aeiou]\w*@",
    r"\b(to|sent|created|deleted|converted|Invoice|Quote|Document|None|null|job)\b",
    r"\bid \d", r"#\d", r"\(id ", r"[^.]\.\.(\s|$)",
]


@pytest.fixture
def page(open_page):
    return open_page()


def new_order(demo, name: str) -> dict:
    return demo.place_order({
        "customer": {"name": name, "type": "person", "tax_code": "RSSMRA85M01H501Q",
                     "email": "amministrazione@example.it", "phone": "+393331234567",
                     "address_street": "Via Roma 1", "address_postal_code": "00100",
                     "address_city": "Roma", "address_province": "RM"},
        "lines": [{"name": "Olio extravergine 1 L", "qty": "2", "unit_price": "12.50", "vat_rate": "22"}],
        "payment_method": "bank_transfer"})


class Reader:
    """Everything the owner read on the panel and in its messages."""

    def __init__(self, page):
        self.page = page
        self.seen: list[str] = []

    def panel(self) -> str:
        text = self.page.locator(".fic-panel").inner_text()
        self.seen.append(text)
        return text

    def flash(self) -> str:
        text = self.page.locator(".fic-panel .fic-flash").inner_text()
        self.seen.append(text)
        return text


def sandbox(demo, what: str) -> list[dict]:
    return requests.get(f"{demo.sandbox_url}/__sandbox__/{what}", timeout=10).json()["data"]


def wait_for(page, url: str, condition, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        page.goto(url)
        if condition():
            return
        time.sleep(0.3)


def test_walkthrough_in_italian(page, demo):
    from fic_plugin.settings import update_settings

    update_settings(demo.context.store, {"auto_invoice": True})
    order = new_order(demo, "Bianchi Anna")
    url = f"{demo.url}/orders/{order['id']}"
    read = Reader(page)
    panel = page.locator(".fic-panel")
    page.goto(url)
    read.panel()

    # Create a quote, convert it into an invoice.
    panel.locator("select[name=type]").select_option(label="Preventivo")
    panel.get_by_role("button", name="Genera documento").click()
    assert re.fullmatch(r"Preventivo n\. \S+ creato\.", read.flash())
    panel.locator("tr.fic-doc", has_text="Preventivo").get_by_role("button", name="Converti in Fattura").click()
    assert re.fullmatch(r"Preventivo n\. \S+ convertito in Fattura n\. \S+\.", read.flash())
    invoice = demo.context.store.document_for(order["id"], "invoice")
    assert "Convertita da Preventivo" in read.panel()

    # Send it by email and SMS: each channel says what happened.
    panel.locator("tr.fic-doc", has_text="Convertita da").get_by_role("link", name="Invia…").click()
    page.locator("#f-sms").check()
    sync_api.expect(page.locator(".fic-preview-sms")).to_contain_text("le abbiamo inviato per email la fattura")
    counter = page.locator("#fic-sms-counter").inner_text()
    assert counter == page.locator(".fic-preview-sms-count").inner_text(), "counter and preview disagree"
    page.get_by_role("button", name="Invia", exact=True).click()
    message = read.flash()
    assert message == (f"Fattura n. {invoice.full_number}: email inviata tramite Fatture in Cloud "
                       "ad amministrazione@example.it; SMS inviato a +393331234567."), message
    assert "Inviata il" in read.panel()
    emails = [e for e in sandbox(demo, "emails") if e["document_id"] == invoice.fic_id]
    texts = [s for s in sandbox(demo, "sms") if str(s["order_id"]) == str(order["id"])]
    assert len(emails) == 1 and len(texts) == 1
    assert texts[0]["text"] == (f"Bottega Demo: le abbiamo inviato per email la fattura n. {invoice.full_number} "
                                f"dell'ordine {order['number']}.")

    # The customer's page ({order_url}) links to the invoice's PDF through the plugin's signed link.
    customer_url = demo.shop.shop_order_url(demo.shop.shop_get_order(str(order["id"])))
    page.goto(customer_url)
    assert f"Il tuo ordine n. {order['number']}" in page.locator("h1").inner_text()
    page.get_by_role("listitem").filter(has_text="Fattura").get_by_role("link", name="Scarica il PDF").click()
    assert page.url.startswith(demo.sandbox_url + "/__sandbox__/print/"), page.url
    assert f"Fattura n. {invoice.full_number}" in page.locator("h1").inner_text()

    # Schedule a send for another order, see it after a reload, cancel it.
    other = new_order(demo, "Verdi Carla")
    other_url = f"{demo.url}/orders/{other['id']}"
    page.goto(other_url)
    panel.get_by_role("link", name="Programma l'invio alla ricezione del pagamento").click()
    sync_api.expect(page.locator(".fic-preview-subject")).to_contain_text("Fattura n. [numero assegnato da")
    page.get_by_role("button", name="Programma l'invio alla ricezione del pagamento").click()
    assert read.flash().startswith(f"Quando l'ordine {other['number']} sarà pagato, la fattura sarà inviata")
    page.reload()
    assert "Invio programmato:" in read.panel()
    panel.get_by_role("button", name="Annulla l'invio programmato").click()
    assert read.flash() == (f"Invio programmato annullato: la fattura dell'ordine {other['number']} non sarà "
                            "inviata al pagamento.")
    assert "Invio programmato:" not in read.panel()

    # Pay the first order in two parts: the invoice follows, and is not emailed again.
    page.goto(url)
    half = "12,20"
    page.locator("#payment-form input[name=amount]").fill(half)
    page.locator("#payment-form").get_by_role("button", name="Registra pagamento").click()
    wait_for(page, url, lambda: "Parzialmente pagato" in page.locator(".fic-panel").inner_text())
    assert "Parzialmente pagato: 12,20" in read.panel()
    rest = requests.get(f"{demo.url}/api/orders/{order['id']}", timeout=10).json()["totals"]["due"]
    page.locator("#payment-form input[name=amount]").fill(str(rest).replace(".", ","))
    page.locator("#payment-form").get_by_role("button", name="Registra pagamento").click()
    wait_for(page, url, lambda: "Pagato" in page.locator(".fic-panel tr.fic-doc", has_text="Fattura").inner_text()
             and not page.locator(".fic-panel .fic-jobs").count())
    read.panel()
    time.sleep(1)  # a worker round or two after the payment: still one email
    assert len([e for e in sandbox(demo, "emails") if e["document_id"] == invoice.fic_id]) == 1

    # The invoice is an e-invoice the worker sent to the SdI: it cannot be deleted any more; the
    # panel says so and offers the credit note instead.
    row = panel.locator("tr.fic-doc", has_text="Convertita da")
    wait_for(page, url, lambda: "non si può eliminare" in row.inner_text())
    assert "Fattura elettronica: " in row.inner_text()
    assert row.get_by_role("link", name="Elimina").count() == 0
    assert row.get_by_role("button", name="Converti in Nota di credito").count() == 1
    read.panel()

    problems = [(pattern, text) for text in read.seen for pattern in WRONG if re.search(pattern, text)]
    assert problems == [], problems
