"""The panel on Oscar's dashboard order page in a real browser (Debian chromium via Playwright)."""

from __future__ import annotations

import shutil

import pytest
from django.test import Client

from conftest import place_order
from shoptest import fic_documents

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = shutil.which("chromium")
if CHROMIUM is None:
    pytest.skip("Debian chromium is not on PATH (make test installs it; never download a browser)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")


def test_issue_an_invoice_from_the_oscar_dashboard_order_page(fic_site, staff, live_server, sandbox,
                                                               tmp_path, monkeypatch):
    order = place_order(("Olio extravergine 1 L", "10.00", 2), fiscal={"tax_code": "RSSMRA85M01H501Q"})
    client = Client()
    client.force_login(staff)
    session = client.cookies["sessionid"].value
    # Playwright's sync API runs an event loop in this thread; the ORM calls below stay synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
        context = browser.new_context(locale="it-IT", viewport={"width": 1280, "height": 1000})
        context.add_cookies([{"name": "sessionid", "value": session, "url": live_server.url}])
        page = context.new_page()
        page.set_default_timeout(20_000)
        try:
            page.goto(f"{live_server.url}/dashboard/orders/{order.number}/")
            panel = page.locator("#fic-panel")
            sync_api.expect(panel).to_contain_text("Ancora nessun documento fiscale")
            panel.locator("select[name=type]").select_option(value="invoice")
            panel.get_by_role("button", name="Genera documento").click()
            page.wait_for_url(f"**/dashboard/orders/{order.number}/")
            sync_api.expect(page.get_by_text("Fattura n. 1 creata.")).to_be_visible()
            sync_api.expect(panel.locator("table.fic-docs")).to_contain_text("Fattura")
            sync_api.expect(page.locator("a", has_text="Fatture in Cloud").first).to_be_attached()
        finally:
            page.screenshot(path=str(tmp_path / "oscar-dashboard-panel.png"), full_page=True)
            context.close()
            browser.close()
    assert [d["type"] for d in fic_documents(sandbox)] == ["invoice"]
