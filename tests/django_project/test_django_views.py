"""The plugin's screens and panel actions as Django views, through Django's test client."""

from __future__ import annotations

import pytest
from django.core import checks
from django.test import Client
from django.urls import reverse

from conftest import pay, place_order
from shoptest import fic_documents

pytestmark = pytest.mark.django_db(transaction=True)


def test_anonymous_users_go_to_the_login_page(fic_site):
    response = Client().get(reverse("fic:settings"))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/fic/settings")


def test_a_user_without_the_permission_gets_403(fic_site, client, django_user_model):
    user = django_user_model.objects.create_user(username="cliente", email="c@example.it", password="pw")
    client.force_login(user)
    assert client.get(reverse("fic:settings")).status_code == 403
    order = place_order(("Olio extravergine 1 L", "10.00", 1))
    response = client.post(reverse("fic:create", args=[order.number]), {"type": "invoice"})
    assert response.status_code == 403
    assert fic_documents_count(fic_site) == 0


def fic_documents_count(context) -> int:
    return len(context.store.documents())


def test_settings_screen_inside_the_oscar_dashboard_layout(fic_site, staff_client):
    response = staff_client.get(reverse("fic:settings"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "fic-screen" in html and 'name="csrfmiddlewaretoken"' in html
    assert "Fatture in Cloud" in html and "dashboard" in html  # Oscar's dashboard navigation around it


def test_panel_on_the_dashboard_order_page_and_create_through_the_test_client(fic_site, staff_client, sandbox):
    order = place_order(("Olio extravergine 1 L", "10.00", 1), fiscal={"tax_code": "RSSMRA85M01H501Q"})
    pay(order)
    page = staff_client.get(reverse("dashboard:order-detail", kwargs={"number": order.number}))
    html = page.content.decode()
    assert page.status_code == 200
    assert 'id="fic-panel"' in html
    assert f'action="/fic/orders/{order.number}/documents"' in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert "Documenti fiscali" in html  # Django's active language (LANGUAGE_CODE it)

    response = staff_client.post(reverse("fic:create", args=[order.number]), {"type": "invoice"},
                                 HTTP_REFERER=f"http://testserver/dashboard/orders/{order.number}/")
    assert response.status_code == 303
    assert response["Location"] == f"/dashboard/orders/{order.number}/"
    [invoice] = fic_documents(sandbox)
    assert invoice["type"] == "invoice"
    after = staff_client.get(response["Location"]).content.decode()
    assert "Fattura n. 1 creata." in after  # the flash, through Django's messages


def test_django_csrf_protects_the_panel_actions(fic_site, staff):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)
    order = place_order(("Olio extravergine 1 L", "10.00", 1))
    response = client.post(reverse("fic:create", args=[order.number]), {"type": "invoice"})
    assert response.status_code == 403
    assert fic_documents_count(fic_site) == 0


def test_english_from_djangos_language(fic_site, staff_client):
    order = place_order(("Olio extravergine 1 L", "10.00", 1))
    page = staff_client.get(reverse("fic:order_page", args=[order.number]), HTTP_ACCEPT_LANGUAGE="en")
    assert "Fiscal documents" in page.content.decode()


def test_foreign_currency_order_shows_a_clear_error_and_writes_nothing(fic_site, staff_client, sandbox):
    order = place_order(("Olio extravergine 1 L", "10.00", 1), currency="USD")
    response = staff_client.post(reverse("fic:create", args=[order.number]), {"type": "invoice"})
    assert response.status_code == 303
    page = staff_client.get(response["Location"]).content.decode()
    assert "USD" in page and "euro" in page
    assert fic_documents(sandbox) == [] and fic_documents_count(fic_site) == 0


def test_system_checks_name_the_bad_key(fic_site, settings):
    settings.FIC = {**settings.FIC, "ORDER_ADAPTR": "x", "COMPANY_ID": "uno"}
    messages = checks.run_checks(tags=["fic_plugin"])
    assert {m.id for m in messages} == {"fic_plugin.E001"}
    text = " ".join(m.msg for m in messages)
    assert "ORDER_ADAPTR" in text and "did you mean ORDER_ADAPTER" in text
    assert "COMPANY_ID" in text and "int" in text


def test_system_check_for_an_adapter_that_does_not_import(fic_site, settings):
    settings.FIC = {**settings.FIC, "ORDER_ADAPTER": "myshop.nowhere.Orders"}
    [message] = checks.run_checks(tags=["fic_plugin"])
    assert message.id == "fic_plugin.E002" and "myshop.nowhere.Orders" in message.msg


def test_system_check_warns_without_vat_mapping_and_connection(fic_site, settings, monkeypatch):
    settings.FIC = {k: v for k, v in settings.FIC.items()
                    if k not in ("VAT_MAPPING", "ACCESS_TOKEN", "COMPANY_ID", "SETTINGS", "PAYMENT_MAPPING")}
    settings.FIC["DATABASE"] = "sqlite:///" + str(fic_site.store.path) + ".new"
    assert {m.id for m in checks.run_checks(tags=["fic_plugin"])} == {"fic_plugin.W001", "fic_plugin.W002"}


def test_an_order_without_lines_is_refused_in_words(fic_site, staff_client, sandbox):
    order = place_order(("Olio extravergine 1 L", "10.00", 1))
    order.lines.all().delete()
    response = staff_client.post(reverse("fic:create", args=[order.number]), {"type": "invoice"})
    page = staff_client.get(response["Location"]).content.decode()
    assert f"L&#x27;ordine {order.number} non ha righe" in page or f"L'ordine {order.number} non ha righe" in page
    assert fic_documents(sandbox) == [] and fic_documents_count(fic_site) == 0


def test_the_configured_token_never_shows_in_the_contexts_repr(fic_site):
    from shoptest import TEST_TOKEN

    assert TEST_TOKEN not in repr(fic_site)


def test_an_action_fic_does_not_finish_within_the_budget_is_in_progress(fic_site, staff_client, settings, sandbox):
    from fic_plugin.jobs import run_round
    from shoptest import sandbox_call

    settings.FIC = {**settings.FIC, "ACTION_BUDGET": 0.3}
    order = place_order(("Olio extravergine 1 L", "10.00", 1), fiscal={"tax_code": "RSSMRA85M01H501Q"})
    sandbox_call(sandbox, "POST", "/__sandbox__/faults", json={"latency_ms": 2000})
    response = staff_client.post(reverse("fic:create", args=[order.number]), {"type": "invoice"})
    assert response.status_code == 303
    page = staff_client.get(response["Location"]).content.decode()
    assert "in corso" in page and "location.reload()" in page
    assert [(job.kind, job.state) for job in fic_site.store.jobs.list()] == [("create", "pending")]

    sandbox_call(sandbox, "DELETE", "/__sandbox__/faults")
    run_round(fic_site, wait_for_retries=True)
    assert [d["type"] for d in fic_documents(sandbox)] == ["invoice"]
