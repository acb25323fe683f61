"""The screens without a browser: werkzeug's test client against the plugin's WSGI app.

Documents are inserted directly in the store, so these tests need no FiC: they check what the
owner sees (Italian words, formats, states), who may act (admins, CSRF) and that nothing a
customer typed can become markup.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from werkzeug.test import Client

from fic_plugin import hookimpl
from fic_plugin.model import Customer, Document, Line, Order, Payment
from fic_plugin.settings import update_settings
from fic_plugin.web import csrf
from fic_plugin.web.app import make_wsgi_app
from fic_plugin.web.base import safe_local_target
from fic_plugin.web.panel import flash, render_panel

XSS = "<script>alert(1)</script>"


def make_order(order_id: str, *, customer: Customer | None = None, paid: bool = False) -> Order:
    """An Italian B2C order (own helper: ``from conftest import`` breaks beside nested conftests)."""
    customer = customer or Customer(
        name="Mario Rossi", first_name="Mario", last_name="Rossi", tax_code="RSSMRA85M01H501Q",
        email="mario.rossi@example.it", phone="+393331234567", address_street="Via Roma 1",
        address_postal_code="00100", address_city="Roma", address_province="RM")
    lines = (Line(name="Olio extravergine di oliva 1 L", qty="2", unit_price="12.50", vat_rate="22"),
             Line(name="Spedizione", qty="1", unit_price="6.90", vat_rate="22", kind="shipping"))
    extra = {"payments": (Payment(amount="38.92"),), "paid_at": datetime.now(), "status": "paid"} if paid else {}
    return Order(id=order_id, number=f"10{order_id}", customer=customer, lines=lines,
                 created_at=datetime(2026, 11, 20, 10, 30), **extra)


class AdminGate:
    """The host's idea of an admin: here, a request carrying ``X-Admin: yes``."""

    @hookimpl(tryfirst=True)
    def shop_is_admin(self, environ):
        return environ.get("HTTP_X_ADMIN") == "yes"


@pytest.fixture
def web(pm, context, shop):
    pm.register(AdminGate())
    update_settings(context.store, {"language": "it"})
    shop.add(make_order("7", customer=Customer(name=XSS, email="cliente@example.it", tax_code="RSSMRA85M01H501Q")))
    return Client(as_admin(make_wsgi_app(context)))


def as_admin(app):
    """Requests count as an admin's unless they say ``X-Admin: no``."""
    def wrapped(environ, start_response):
        environ.setdefault("HTTP_X_ADMIN", "yes")
        return app(environ, start_response)

    return wrapped


def add_document(context, **values) -> Document:
    defaults = dict(id=None, order_id="7", type="proforma", fic_id=501, number=12, numeration="/A",
                    date=date(2026, 11, 28), amount_due="1234.56", status="not_paid")
    return context.store.insert_document(Document(**{**defaults, **values}))


def panel_token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def page_token(client: Client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, response.text
    return panel_token(response.text)


# --- what the panel shows ----------------------------------------------------------------------------


def test_panel_shows_documents_in_italian_with_states_and_formats(context, shop, web):
    add_document(context, status="partly_paid", amount_paid="100", sent_at=datetime(2026, 11, 28, 9, 42, tzinfo=UTC),  # 10:42 in Rome
                 sent_to="mario@example.it", ei_status="accepted")
    add_document(context, type="invoice", fic_id=502, number=13, status="paid", amount_paid="1234.56",
                 converted_from=1, converted_from_label="Proforma 12/A", last_error="FiC ha rifiutato il cliente")
    add_document(context, type="quote", fic_id=None, number=None, date=None)
    html = render_panel(context, shop.orders["7"])
    text = re.sub(r"[ \t\n]+", " ", html)
    assert "Documenti fiscali" in text
    assert "12/A" in text and "28/11/2026" in text and "1.234,56\xa0€" in text
    assert "Parzialmente pagato: 100,00\xa0€" in text
    assert "Inviata il 28/11/2026 alle 10:42 a mario@example.it" in text
    # FiC's "accepted" is, for a business or consumer, the SdI's receipt of delivery.
    assert "Fattura elettronica: Consegnata" in text
    assert "Pagato" in text and "Non inviato" in text
    assert "Convertita da Proforma 12/A" in text
    assert "FiC ha rifiutato il cliente" in text and "/fic/documents/2/retry" in text
    assert "In creazione…" in text
    # A proforma converts into the types FiC allows, minus the invoice this order already has.
    assert "Converti in Documento di trasporto" in text and "Converti in Fattura" not in text
    # Only the missing types can still be created.
    assert '<option value="delivery_note">Documento di trasporto</option>' in html
    assert 'value="invoice">Fattura</option>' not in html
    # The invoice exists already: "send when paid" has nothing left to plan, "Invia…" is the way.
    assert "Programma l'invio alla ricezione del pagamento" not in html


def test_quotes_and_delivery_notes_show_no_payment_state(context, shop, web):
    add_document(context, type="quote", fic_id=601)
    add_document(context, type="delivery_note", fic_id=602, numeration="")
    text = re.sub(r"[ \t\n]+", " ", render_panel(context, shop.orders["7"]))
    assert "Non pagato" not in text and text.count("—") >= 2


def test_schedule_is_offered_while_the_order_is_unpaid_and_without_invoice(context, shop, web):
    assert "Programma l'invio alla ricezione del pagamento" in render_panel(context, shop.orders["7"])
    paid = shop.add(make_order("8", paid=True))
    assert "Programma l'invio alla ricezione del pagamento" not in render_panel(context, paid)


def test_panel_lists_queued_and_failed_jobs_and_the_audit_log(context, shop, web):
    now = datetime.now().isoformat()
    db = context.store.db
    for key, state, error in (("k1", "pending", None), ("k2", "failed", "Fatture in Cloud non risponde"),
                              ("k3", "done", None)):
        db.execute("INSERT INTO fic_jobs (kind, key, order_id, state, run_after, last_error, created_at,"
                   " updated_at) VALUES ('issue_document', ?, '7', ?, ?, ?, ?, ?)",
                   [key, state, now, error, now, now])
    context.store.audit("create_document", "FiC 201 in 120 ms", order_id="7")
    html = render_panel(context, shop.orders["7"])
    assert "In coda" in html and "Non riuscito" in html and "Fatture in Cloud non risponde" in html
    assert html.count('class="fic-job ') == 2, "done jobs are not news"
    assert "/fic/jobs/2/retry" in html and "/fic/jobs/1/retry" not in html
    assert "<details" in html and "create_document" in html and "FiC 201 in 120 ms" in html


def test_activity_log_and_jobs_read_in_the_owners_words(context, shop, web):
    now = datetime.now().isoformat()
    context.store.db.execute(
        "INSERT INTO fic_jobs (kind, key, order_id, state, run_after, created_at, updated_at)"
        " VALUES ('auto_document', 'k', '7', 'pending', ?, ?, ?)", [now, now, now])
    context.store.audit("fic_request", "ok", order_id="7", method="POST", path="/c/1/issued_documents",
                        status=200, duration_ms=84)
    context.store.audit("fic_request", "fic_unavailable", order_id="7", method="GET",
                        path="/c/1/issued_documents/5", status=None, duration_ms=30000)
    text = re.sub(r"[ \t\n]+", " ", render_panel(context, shop.orders["7"]))
    assert "Documento automatico" in text and "auto_document" not in text
    assert "Richiesta a Fatture in Cloud" in text and "fic_request" not in text
    assert "POST /c/1/issued_documents: 200, 84 ms" in text
    assert "GET /c/1/issued_documents/5: nessuna risposta (fic_unavailable), 30000 ms" in text


def test_customer_typed_markup_is_text(context, shop, web):
    add_document(context, last_error=f"Cliente {XSS} rifiutato")
    html = render_panel(context, shop.orders["7"])
    page = web.get("/orders/7").text
    for out in (html, page):
        assert "<script>alert" not in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_panel_never_shows_a_traceback(context, shop, web, monkeypatch, caplog):
    def broken(order_id=None):
        raise RuntimeError("database is on fire")

    monkeypatch.setattr(context.store, "documents", broken)
    html = render_panel(context, shop.orders["7"])
    assert "Errore imprevisto: riprova o controlla il registro" in html
    assert "database is on fire" not in html and "Traceback" not in html
    assert "database is on fire" in caplog.text


def test_flash_after_an_action_is_shown_once(context, shop, web):
    flash(context, "7", "Documento aggiornato correttamente.")
    assert "Documento aggiornato correttamente." in render_panel(context, shop.orders["7"])
    assert "Documento aggiornato correttamente." not in render_panel(context, shop.orders["7"])


def test_english_when_the_setting_says_so_and_browser_language_when_unset(context, shop, web):
    update_settings(context.store, {"language": "en"})
    assert "Fiscal documents" in render_panel(context, shop.orders["7"])
    assert "Fiscal documents" in web.get("/orders/7", headers={"Accept-Language": "it"}).text
    context.store.db.execute("DELETE FROM fic_settings WHERE key = 'language'")
    assert "Fiscal documents" in web.get("/orders/7", headers={"Accept-Language": "en-GB,en;q=0.9"}).text
    assert "Documenti fiscali" in web.get("/orders/7", headers={"Accept-Language": "it-IT"}).text
    assert "Documenti fiscali" in render_panel(context, shop.orders["7"])


# --- who may act ---------------------------------------------------------------------------------------


def test_non_admins_are_refused_everywhere(context, web):
    document = add_document(context)
    token = csrf.issue(context.store, order_id="7")
    for method, path in (("GET", "/orders/7"), ("GET", "/settings"), ("GET", f"/documents/{document.id}/view"),
                         ("POST", f"/documents/{document.id}/delete")):
        response = web.open(path, method=method, data={"csrf_token": token}, headers={"X-Admin": "no"})
        assert response.status_code == 403, path
        assert "amministratori" in response.text
    assert context.store.document(document.id) is not None


def test_posts_without_or_with_a_wrong_csrf_token_are_refused(context, web):
    document = add_document(context)
    other_order_token = csrf.issue(context.store, order_id="8")
    expired = csrf.issue(context.store, order_id="7", now=(datetime.now() - timedelta(days=1)).timestamp())
    forged = f"o.{int(datetime.now().timestamp())}.{'0' * 64}"
    for data in ({}, {"csrf_token": "nonsense"}, {"csrf_token": other_order_token}, {"csrf_token": expired},
                 {"csrf_token": forged}):
        response = web.post(f"/documents/{document.id}/delete", data=data)
        assert response.status_code == 403, data
        assert "ricarica la pagina" in response.text
    assert web.post("/settings", data={"shop_name": "Hacked"}).status_code == 403
    assert context.settings.shop_name == ""
    assert context.store.document(document.id) is not None


def test_screen_tokens_are_bound_to_the_browser_cookie(context, web):
    token = page_token(web, "/settings")
    stranger = Client(as_admin(make_wsgi_app(context)))
    assert stranger.post("/settings", data={"csrf_token": token, "shop_name": "X"}).status_code == 403
    response = web.post("/settings", data={"csrf_token": token, "shop_name": "Bottega Rossi"})
    assert response.status_code == 303
    assert context.settings.shop_name == "Bottega Rossi"


def test_cross_site_origin_is_refused_even_with_a_token(context, web):
    token = page_token(web, "/settings")
    response = web.post("/settings", data={"csrf_token": token, "shop_name": "X"},
                        headers={"Origin": "https://evil.example"})
    assert response.status_code == 403


def test_a_panel_token_works_for_its_order(context, shop, web):
    document = add_document(context)
    token = panel_token(render_panel(context, shop.orders["7"]))
    response = web.post(f"/documents/{document.id}/retry", data={"csrf_token": token},
                        headers={"Referer": "http://localhost/admin/orders/7"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/orders/7"
    assert "Non c&#39;è nulla da riprovare" in render_panel(context, shop.orders["7"])


@pytest.mark.parametrize("target, expected", [
    ("/admin/orders/7?tab=fic", "/admin/orders/7?tab=fic"),
    ("http://localhost/admin", "/admin"),
    ("//evil.example/x", None),
    ("https://evil.example/admin", None),
    ("javascript:alert(1)", None),
    ("/\\evil.example", None),
])
def test_redirects_stay_on_the_shop(target, expected):
    assert safe_local_target(target, "localhost") == expected


# --- delete confirmation, errors as pages ------------------------------------------------------------


def test_delete_asks_for_confirmation_on_its_own_page(context, web):
    document = add_document(context)
    response = web.get(f"/documents/{document.id}/delete", headers={"Referer": "http://localhost/admin/orders/7"})
    assert response.status_code == 200
    assert "Eliminare la Proforma n. 12/A?" in response.text
    assert 'name="next" value="/admin/orders/7"' in response.text
    assert 'method="post"' in response.text and "csrf_token" in response.text
    assert context.store.document(document.id) is not None


def test_unknown_things_give_a_plain_message(context, web):
    assert web.get("/documents/999/delete").status_code == 404
    response = web.get("/orders/nope")
    assert response.status_code == 404 and "nope" in response.text
    assert web.get("/no/such/page").status_code == 404
    assert web.get("/static/panel.css").status_code == 200
    assert web.get("/static/../app.py").status_code == 404


# --- the hooks this area answers and asks ---------------------------------------------------------------


def test_hook_order_panel_render(pm, context, shop, web):
    add_document(context)
    html = pm.hook.order_panel_render(order=shop.orders["7"])
    assert html.startswith('<div class="fic-panel"') and "12/A" in html and "<style>" in html

    class OwnPanel:
        @hookimpl(tryfirst=True)
        def order_panel_render(self, order):
            return None if order.id == "7" else "<p>mine</p>"

    pm.register(OwnPanel())
    assert "12/A" in pm.hook.order_panel_render(order=shop.orders["7"]), "None lets the plugin draw it"
    assert pm.hook.order_panel_render(order=make_order("9")) == "<p>mine</p>"


def test_hook_shop_is_admin(pm, context, shop, web):
    assert web.get("/settings").status_code == 200
    assert web.get("/settings", headers={"X-Admin": "no"}).status_code == 403

    class NoOpinion:
        @hookimpl(tryfirst=True)
        def shop_is_admin(self, environ):
            return None

    pm.unregister(next(p for p in pm.get_plugins() if isinstance(p, AdminGate)))
    pm.register(NoOpinion())
    assert web.get("/settings").status_code == 200, "None asks the next plugin (the shop says yes)"
    pm.unregister(shop)
    assert web.get("/settings").status_code == 403, "nobody answering means no"


def test_hook_shop_order_url(context, web):
    """The send screen's preview fills {order_url} with the link the shop gives."""
    document = add_document(context)
    token = page_token(web, f"/documents/{document.id}/send")
    response = web.post(f"/documents/{document.id}/preview", data={
        "csrf_token": token, "subject": "Ordine {order_number}", "body": "<p>Vedi {order_url}</p>",
        "sms_text": "x"})
    assert "Vedi https://negozio.example.it/ordini/7" in response.text
