"""Settings that would save what cannot work say so, in words, on save.

A 22% rate left without its FiC VAT type, a rate typed in the new row without one (it used to
vanish), a numbering suffix change (FiC restarts numbering at 1 for a new suffix).
"""

from __future__ import annotations

import html
import re

import pytest
from werkzeug.test import Client

from fic_plugin.settings import update_settings
from fic_plugin.web.app import make_wsgi_app
from test_web import AdminGate, as_admin, panel_token


@pytest.fixture
def web(fic, pm):
    pm.register(AdminGate())
    update_settings(fic.store, {"language": "it", "vat_mapping": {"22": 0, "10": 3}})
    return Client(as_admin(make_wsgi_app(fic)))


def save(web, **form):
    token = panel_token(web.get("/settings").text)
    return web.post("/settings", data={"csrf_token": token, **form})


def flash(web) -> tuple[str, str]:
    kind, text = re.search(r'class="fic-flash fic-(\w+)"[^>]*>([^<]*)<', web.get("/settings").text).groups()
    return kind, html.unescape(text)


def test_a_22_percent_rate_left_unmapped_is_named_on_save(web, fic):
    response = save(web, **{"vat_mapping.10": "3"})
    assert response.status_code == 303
    kind, text = flash(web)
    assert kind == "warn"
    assert text.startswith("Impostazioni salvate. L'aliquota 22% non è collegata a un'imposta di Fatture in Cloud")
    save(web, **{"vat_mapping.22": "0", "vat_mapping.10": "3"})
    assert flash(web) == ("ok", "Impostazioni salvate.")


def test_a_new_rate_without_its_vat_type_is_refused_not_dropped(web, fic):
    response = save(web, **{"vat_mapping.22": "0", "vat_mapping.10": "3", "vat_new_rate": "5"})
    assert response.status_code == 400
    assert "La nuova aliquota 5% non ha un&#39;imposta di Fatture in Cloud" in response.text
    assert 'name="vat_new_rate" size="5" value="5"' in response.text  # what was typed is kept
    assert "5" not in fic.settings.vat_mapping


def test_a_numbering_suffix_change_says_numbering_restarts(web, fic):
    save(web, **{"vat_mapping.22": "0", "vat_mapping.10": "3", "numeration": "/WEB"})
    kind, text = flash(web)
    assert kind == "warn" and fic.settings.numeration == "/WEB"
    assert "Il suffisso di numerazione è cambiato da (nessuno) a /WEB" in text
    assert "riparte da 1 (1/WEB)" in text


def test_help_in_the_owners_words_and_one_oauth_redirect_uri(web, fic, sandbox):
    from urllib.parse import parse_qs, urlsplit

    from fic_sandbox.server import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

    page = web.get("/settings").text
    words = html.unescape(re.sub(r"<[^>]+>", " ", page.split("<body", 1)[1]))
    assert "22=0" not in words and "payment_method_id" not in words and "FIC_API_URL" not in words
    assert "Per ogni aliquota IVA dei tuoi ordini scegli l'imposta corrispondente" in words
    save(web, **{"vat_mapping.22": "0", "vat_mapping.10": "3", "fic_client_id": DEFAULT_CLIENT_ID,
                 "fic_client_secret": DEFAULT_CLIENT_SECRET})
    start = web.get("/oauth/start")
    used = parse_qs(urlsplit(start.headers["Location"]).query)["redirect_uri"][0]
    assert used == "http://localhost/oauth/callback"  # this shop's callback, not fic connect's listener
    assert used in web.get("/settings").text  # the one the screen tells the owner to register
