"""The panel's actions, the send screen and the settings screen against the local FiC sandbox.

Real HTTP all the way: werkzeug's client posts to the plugin's WSGI app, which goes through
``Documents``/``Sending`` and the FiC client to the sandbox on 127.0.0.1.
"""

from __future__ import annotations

import re

import pytest
from markupsafe import escape
from werkzeug.test import Client

from fic_plugin.settings import update_settings
from fic_plugin.web.app import make_wsgi_app
from fic_plugin.web.panel import render_panel
from shoptest import sandbox_call
from test_web import AdminGate, as_admin, make_order, panel_token

REFERER = {"Referer": "http://localhost/admin/orders/3"}


@pytest.fixture
def web(fic, pm, shop):
    pm.register(AdminGate())
    update_settings(fic.store, {"language": "it", "sms_senders": "Bottega"})
    shop.add(make_order("3"))
    return Client(as_admin(make_wsgi_app(fic)))


def token(context, shop) -> str:
    return panel_token(render_panel(context, shop.orders["3"]))


def flashed(context, shop) -> str:
    return re.search(r'class="fic-flash[^"]*"[^>]*>([^<]*)<', render_panel(context, shop.orders["3"])).group(1)


def create(web, fic, shop, document_type: str):
    response = web.post("/orders/3/documents", data={"csrf_token": token(fic, shop), "type": document_type},
                        headers=REFERER)
    assert response.status_code == 303 and response.headers["Location"] == "/admin/orders/3"
    return response


def test_create_convert_view_delete_from_the_panel(web, fic, shop, sandbox):
    create(web, fic, shop, "proforma")
    assert flashed(fic, shop) == "Proforma n. 1 creata."
    (proforma,) = fic.store.documents("3")
    assert proforma.type == "proforma" and proforma.fic_id

    response = web.get(f"/documents/{proforma.id}/view")
    assert response.status_code == 302 and response.headers["Location"].startswith("http")
    assert fic.store.document(proforma.id).fic_id == proforma.fic_id  # nothing about the link is stored

    response = web.post(f"/documents/{proforma.id}/convert",
                        data={"csrf_token": token(fic, shop), "to_type": "invoice"}, headers=REFERER)
    assert response.status_code == 303
    invoice = fic.store.document_for("3", "invoice")
    assert invoice is not None and invoice.converted_from_label
    assert flashed(fic, shop) == f"Proforma n. 1 convertita in Fattura n. {invoice.full_number}."
    panel = render_panel(fic, shop.orders["3"])
    assert "Convertita da Proforma n. 1" in panel
    # A second click on a page left open says what already happened, in the right genders.
    web.post(f"/documents/{proforma.id}/convert", data={"csrf_token": token(fic, shop), "to_type": "invoice"},
             headers=REFERER)
    assert flashed(fic, shop) == f"La proforma è già stata convertita nella Fattura n. {invoice.full_number}."
    assert len(fic.store.documents("3")) == 2

    response = web.post(f"/documents/{invoice.id}/delete", data={"csrf_token": token(fic, shop)},
                        headers=REFERER)
    assert response.status_code == 303
    assert flashed(fic, shop) == f"Fattura n. {invoice.full_number} eliminata."
    assert fic.store.document(invoice.id) is None
    in_fic = {d["id"]: d for d in sandbox_call(sandbox, "GET", "/__sandbox__/documents")["data"]}
    assert in_fic[invoice.fic_id]["deleted"]


def test_delete_refused_with_the_reason_when_fic_locks_the_document(web, fic, shop, sandbox):
    create(web, fic, shop, "invoice")
    invoice = fic.store.document_for("3", "invoice")
    sandbox_call(sandbox, "POST", f"/__sandbox__/documents/{invoice.fic_id}/lock",
                 json={"locked": True, "ei_status": "sent"})
    web.post(f"/documents/{invoice.id}/delete", data={"csrf_token": token(fic, shop)}, headers=REFERER)
    message = flashed(fic, shop)
    assert "nota di credito" in message and "la Fattura n. 1: è bloccata" in message, message
    assert fic.store.document(invoice.id) is not None


def test_a_wrong_type_is_explained_not_crashed(web, fic, shop):
    web.post("/orders/3/documents", data={"csrf_token": token(fic, shop), "type": "rubbish"}, headers=REFERER)
    assert flashed(fic, shop) == "Scegli la tipologia di documento da generare."
    assert fic.store.documents("3") == []


def test_send_with_custom_text_and_an_extra_recipient(web, fic, shop, sandbox):
    create(web, fic, shop, "invoice")
    invoice = fic.store.document_for("3", "invoice")
    page = web.get(f"/documents/{invoice.id}/send", headers=REFERER)
    assert page.status_code == 200
    assert 'value="mario.rossi@example.it"' in page.text and "{customer_name}" in page.text
    csrf_token = panel_token(page.text)
    send_key = re.search(r'name="send_key" value="([^"]+)"', page.text).group(1)
    form = {"csrf_token": csrf_token, "send_key": send_key, "next": "/admin/orders/3", "action": "send",
            "emails": ["mario.rossi@example.it", "amministrazione@example.it"],
            "subject": "Fattura per {customer_name}", "body": "<p>Grazie {customer_name}!</p>",
            "sms_text": ""}
    response = web.post(f"/documents/{invoice.id}/send", data=form)
    assert response.status_code == 303, response.text
    assert response.headers["Location"] == "/admin/orders/3"
    emails = sandbox_call(sandbox, "GET", "/__sandbox__/emails")["data"]
    assert len(emails) == 1
    assert "amministrazione@example.it" in str(emails[0]) and "Fattura per Mario Rossi" in str(emails[0])
    # A double click (same form key) sends nothing more.
    web.post(f"/documents/{invoice.id}/send", data=form)
    assert len(sandbox_call(sandbox, "GET", "/__sandbox__/emails")["data"]) == 1
    assert "Inviata il" in render_panel(fic, shop.orders["3"])


def test_send_errors_stay_next_to_their_field_with_what_was_typed(web, fic, shop, sandbox):
    create(web, fic, shop, "invoice")
    invoice = fic.store.document_for("3", "invoice")
    csrf_token = panel_token(web.get(f"/documents/{invoice.id}/send").text)
    response = web.post(f"/documents/{invoice.id}/send", data={
        "csrf_token": csrf_token, "action": "send", "emails": ["mario.rossi@example.it"],
        "subject": "Ciao {nome_cliente}", "body": "<p>x</p>"})
    assert response.status_code == 400
    assert 'id="error-subject"' in response.text and "{nome_cliente}" in response.text
    assert 'value="Ciao {nome_cliente}"' in response.text
    assert sandbox_call(sandbox, "GET", "/__sandbox__/emails")["data"] == []


def test_preview_renders_the_texts_for_this_order(web, fic, shop):
    create(web, fic, shop, "invoice")
    invoice = fic.store.document_for("3", "invoice")
    csrf_token = panel_token(web.get(f"/documents/{invoice.id}/send").text)
    response = web.post(f"/documents/{invoice.id}/preview", data={
        "csrf_token": csrf_token, "subject": "Per {customer_name}", "body": "<p>Ordine {order_number}</p>"
        "<script>x</script>", "sms_text": "Ciao {customer_name}"})
    assert response.status_code == 200
    assert "Per Mario Rossi" in response.text and "Ordine 103" in response.text
    assert "<script>" not in response.text
    assert 'data-parts="1"' in response.text


def test_preview_says_where_fic_puts_the_attachments(web, fic, shop):
    create(web, fic, shop, "invoice")
    invoice = fic.store.document_for("3", "invoice")
    csrf_token = panel_token(web.get(f"/documents/{invoice.id}/send").text)
    body = {"csrf_token": csrf_token, "subject": "Fattura", "body": "<p>Ecco</p><p>{{allegati}}</p>", "sms_text": ""}
    shown = web.post(f"/documents/{invoice.id}/preview", data=body).text
    assert "{{allegati}}" not in shown
    assert '<span class="fic-allegati">[il PDF del documento e i pulsanti, aggiunti da Fatture in Cloud]</span>' in shown
    # A document not (yet) in FiC goes by the shop's mailer, which drops the placeholder.
    fic.store.db.execute("UPDATE fic_documents SET fic_id = NULL WHERE id = ?", [invoice.id])
    shown = web.post(f"/documents/{invoice.id}/preview", data=body).text
    assert "{{allegati}}" not in shown and "fic-allegati" not in shown and "Ecco" in shown


def test_schedule_on_payment_before_any_invoice(web, fic, shop):
    page = web.get("/orders/3/schedule")
    assert page.status_code == 200 and "Programma l'invio alla ricezione del pagamento" in page.text
    response = web.post("/orders/3/schedule", data={
        "csrf_token": panel_token(page.text), "next": "/admin/orders/3",
        "emails": ["mario.rossi@example.it"], "subject": "Fattura {order_number}", "body": "<p>Ciao</p>"})
    assert response.status_code == 303, response.text
    assert "Quando l&#39;ordine 103 sarà pagato" in render_panel(fic, shop.orders["3"])
    row = fic.store.db.execute("SELECT on_paid, config FROM fic_send_configs WHERE order_id = '3'").fetchone()
    assert row[0] == 1 and "Fattura {order_number}" in row[1]


def test_settings_screen_shows_a_vat_type_added_in_fic_since_the_lookups_were_kept(web, fic):
    """The owner who just added a VAT type in FiC finds it in the settings at once, not within the
    hour the kept lookups last."""
    from fic_plugin.fic.lookups import LookupCache

    kept = LookupCache()
    fresh = fic.client.vat_types()
    kept.get(("scope", "vat_types", ""), lambda: [t for t in fresh if t["id"] != 3])  # read before 10% existed
    fic.client.share_lookups(kept, "scope")
    assert re.search(r'<option value="3"[^>]*>10%</option>', web.get("/settings").text)


def test_settings_screen_maps_vat_with_fic_types_and_keeps_secrets_hidden(web, fic):
    page = web.get("/settings")
    assert page.status_code == 200
    text = page.text
    assert fic.store.get_secret("fic_access_token") not in text and "impostato" in text
    for label in ("Applica Rivalsa INPS 4%", "Configurazione imposte", "Configurazione pagamenti",
                  "Seleziona imposta", "Seleziona pagamento", "Suffisso numerazione", "Verifica connessione"):
        assert label in text, label
    # The shop's payment method codes are shown in words, the code beside them.
    assert re.search(r'data-method="bank_transfer">\s*<td[^>]*>Bonifico bancario \(bank_transfer\)', text)
    # The VAT types come from FiC, with value and description.
    assert re.search(r'<option value="0"[^>]*>22%</option>', text)  # no dangling dash without a description
    csrf_token = panel_token(text)

    bad = web.post("/settings", data={"csrf_token": csrf_token, "numeration": "A B", "shop_name": "Bottega",
                                      "vat_mapping.22": "0", "vat_mapping.10": "3"})
    assert bad.status_code == 400
    assert 'id="error-numeration"' in bad.text and 'value="A B"' in bad.text
    assert fic.settings.numeration == ""

    good = web.post("/settings", data={"csrf_token": csrf_token, "numeration": "/WEB", "rivalsa_inps": ["0", "1"],
                                       "vat_mapping.22": "0", "vat_mapping.10": "3", "vat_mapping.4": "",
                                       "vat_new_rate": "5", "vat_new_id": "54"})
    assert good.status_code == 303
    settings = fic.settings
    assert settings.numeration == "/WEB" and settings.rivalsa_inps is True
    assert settings.vat_mapping == {"22": 0, "10": 3, "5": 54}
    after = web.get("/settings").text
    assert "Impostazioni salvate." in after
    assert re.search(r'data-rate="4">\s*<td[^>]*>4%\s*<span class="fic-unmapped">non configurata', after)


def test_settings_screen_maps_zero_rate_per_customer_area(web, fic):
    text = web.get("/settings").text
    for row, label in (("0:EU-business:goods", "0% — beni a imprese UE"),
                       ("0:EU-business:services", "0% — servizi a imprese UE"),
                       ("0:extra-EU:goods", "0% — beni esportati fuori dall'UE"),
                       ("0:extra-EU:services", "0% — servizi a clienti fuori dall'UE")):
        assert re.search(rf'data-rate="{row}">\s*<td[^>]*>{re.escape(escape(label))}<br><small', text), row
        assert f'name="vat_mapping.{row}"' in text
    assert '<option value="28">0% — N3.2 Non imponibile - cessioni intracomunitarie (natura N3.2)</option>' in text
    saved = web.post("/settings", data={"csrf_token": panel_token(text), "vat_mapping.22": "0", "vat_mapping.0": "6",
                                        "vat_mapping.0:EU-business:goods": "28", "vat_mapping.0:extra-EU:goods": ""})
    assert saved.status_code == 303
    assert fic.settings.vat_mapping == {"22": 0, "0": 6, "0:EU-business:goods": 28}
    after = web.get("/settings").text
    assert re.search(r'name="vat_mapping.0:EU-business:goods"[^>]*>.*?<option value="28" selected>', after, re.S)
    # A refused save shows what the owner typed, however the key was written ("0:eu").
    refused = web.post("/settings", data={"csrf_token": panel_token(after), "numeration": "A B",
                                          "vat_mapping.22": "0", "vat_new_rate": "0:eu", "vat_new_id": "6"})
    assert refused.status_code == 400
    assert re.search(r'name="vat_mapping.0:EU"[^>]*>.*?<option value="6" selected>', refused.text, re.S)
    # An area's row left empty is no error: the 0% row answers for it.
    assert not re.search(r'data-rate="0:extra-EU:goods">\s*<td[^>]*>[^<]*<br><small[^>]*>[^<]*</small>\s*<span class="fic-unmapped"',
                         after)


def test_each_secret_sits_next_to_its_account(web):
    names = re.findall(r'<(?:input|select|textarea)[^>]*\bname="([a-z_]+)"', web.get("/settings").text)
    for account, secret in (("fic_client_id", "fic_client_secret"), ("twilio_account_sid", "twilio_auth_token"),
                            ("skebby_username", "skebby_password"), ("smtp_username", "smtp_password")):
        assert names[names.index(account) + 1] == secret, (account, names)
    assert names.index("fic_access_token") < names.index("fic_api_url"), "the manual token opens its group"


def test_check_connection_names_the_company(web, fic):
    csrf_token = panel_token(web.get("/settings").text)
    assert web.post("/settings/verify", data={"csrf_token": csrf_token}).status_code == 303
    assert "Connesso a Fatture in Cloud: azienda" in web.get("/settings").text


def test_oauth_connect_from_the_settings_screen(web, fic, sandbox):
    import requests

    from fic_sandbox.server import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

    fic.store.set_secret("fic_access_token", None)
    csrf_token = panel_token(web.get("/settings").text)
    web.post("/settings", data={"csrf_token": csrf_token, "fic_client_id": DEFAULT_CLIENT_ID,
                                "fic_client_secret": DEFAULT_CLIENT_SECRET,
                                "fic_redirect_uri": "http://localhost/oauth/callback"})
    page = web.get("/settings").text
    assert DEFAULT_CLIENT_SECRET not in page and "/oauth/start" in page

    start = web.get("/oauth/start")
    assert start.status_code == 302 and start.headers["Location"].startswith(sandbox.url + "/oauth/authorize")
    back = requests.get(start.headers["Location"], allow_redirects=False, timeout=10).headers["Location"]
    assert back.startswith("http://localhost/oauth/callback?")
    forged = web.get("/oauth/callback?" + re.sub(r"state=[^&]+", "state=forged", back.split("?", 1)[1]))
    assert forged.status_code == 303 and fic.store.get_secret("fic_access_token") is None
    assert "scaduto o non proviene da questo negozio" in web.get("/settings").text

    back = requests.get(web.get("/oauth/start").headers["Location"], allow_redirects=False,
                        timeout=10).headers["Location"]
    assert web.get(back.replace("http://localhost", "")).status_code == 303
    assert (fic.store.get_secret("fic_access_token") or "").startswith("a/")
    after = web.get("/settings").text
    assert "Connesso a Fatture in Cloud" in after
    assert fic.store.get_secret("fic_access_token") not in after
    assert fic.store.get_secret("fic_refresh_token") not in after


def test_what_follows_a_click_speaks_the_panels_language(fic, pm, shop, sandbox):
    """The panel has no request to read a language from: without the setting it is Italian, and
    its forms and links say so, so an English browser does not get an English message in it."""
    pm.register(AdminGate())
    shop.add(make_order("3"))
    client = Client(as_admin(make_wsgi_app(fic)))
    english = {**REFERER, "Accept-Language": "en-US,en;q=0.9"}
    html = render_panel(fic, shop.orders["3"])
    assert html.count('name="lang" value="it"') == html.count('name="csrf_token"') > 0
    form = dict(re.findall(r'name="(csrf_token|lang)" value="([^"]*)"', html))
    response = client.post("/orders/3/documents", data={**form, "type": "quote"}, headers=english)
    assert response.status_code == 303
    assert flashed(fic, shop) == "Preventivo n. 1 creato."

    (quote,) = fic.store.documents("3")
    link = re.search(rf'href="(/fic/documents/{quote.id}/delete\?lang=it)"', render_panel(fic, shop.orders["3"]))
    confirm = client.get(link.group(1).removeprefix("/fic"), headers=english).get_data(as_text=True)
    assert "Eliminare il Preventivo" in confirm and '<html lang="it">' in confirm and 'name="lang" value="it"' in confirm
    # Reached without the panel (no lang asked), a page follows the browser.
    direct = client.get(f"/documents/{quote.id}/delete", headers=english).get_data(as_text=True)
    assert "Delete the Quote n. 1?" in direct and '<html lang="en">' in direct


def test_anteprima_totali_asks_fic_and_creates_nothing(web, fic, shop, sandbox):
    page = render_panel(fic, shop.orders["3"])
    assert "Anteprima totali" in page and 'formaction="/fic/orders/3/totals"' in page
    response = web.post("/orders/3/totals", data={"csrf_token": token(fic, shop), "type": "invoice"},
                        headers=REFERER)
    assert response.status_code == 303
    text = flashed(fic, shop)
    assert text.startswith("Anteprima Fattura: Totale FiC ") and "da pagare" in text
    assert fic.store.documents("3") == [] and sandbox_call(sandbox, "GET", "/__sandbox__/documents")["data"] == []


def test_a_stray_oauth_callback_neither_completes_nor_cancels_the_connection_in_progress(web, fic, sandbox):
    """Issue 13: one shop-wide state, cleared by any GET /fic/oauth/callback?state=x."""
    import requests
    from werkzeug.test import Client

    from fic_sandbox.server import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

    fic.store.set_secret("fic_access_token", None)
    web.post("/settings", data={"csrf_token": panel_token(web.get("/settings").text),
                                "fic_client_id": DEFAULT_CLIENT_ID, "fic_client_secret": DEFAULT_CLIENT_SECRET,
                                "fic_redirect_uri": "http://localhost/oauth/callback"})
    back = requests.get(web.get("/oauth/start").headers["Location"], allow_redirects=False,
                        timeout=10).headers["Location"].replace("http://localhost", "")
    assert web.get("/oauth/callback?state=x&code=stray").status_code == 303  # an attacker's <img>, same browser
    other_browser = Client(as_admin(make_wsgi_app(fic)))
    assert other_browser.get(back).status_code == 303  # the right link, but not this browser's flow
    assert fic.store.get_secret("fic_access_token") is None
    assert web.get(back).status_code == 303
    assert (fic.store.get_secret("fic_access_token") or "").startswith("a/")
