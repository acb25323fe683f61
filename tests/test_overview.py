"""Every order's documents and failed jobs on one page (/fic/documents), and the order list's cell."""

from __future__ import annotations

import html
import re

import pytest
from werkzeug.test import Client

from fic_plugin.documents import Documents
from fic_plugin.jobs import execute_job
from fic_plugin.outbox import enqueue, jobs
from fic_plugin.web.app import make_wsgi_app
from shoptest import make_order, sandbox_emails
from test_web import AdminGate, as_admin, panel_token


@pytest.fixture
def web(fic, pm, shop):
    pm.register(AdminGate())
    shop.add(make_order("1"))
    shop.add(make_order("2", paid=True))
    shop.add(make_order("3", paid=True))
    return Client(as_admin(make_wsgi_app(fic)))


def text_of(response) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.text)))


def flash(web) -> str:
    return html.unescape(re.search(r'class="fic-flash[^"]*"[^>]*>([^<]*)<', web.get("/documents").text).group(1))


def test_hook_order_list_cell(fic, pm, shop, web):
    assert pm.hook.order_list_cell(order=shop.orders["1"]) == '<span class="fic-cell fic-cell-empty">—</span>'
    Documents(fic).create("1", "invoice")
    Documents(fic).create("1", "quote")
    cell = pm.hook.order_list_cell(order=shop.orders["1"])
    assert "Fattura 1 · Non pagato · Non inviata" in cell and "Preventivo 1 · Non inviato" in cell


def test_the_overview_lists_documents_by_order_number_with_filters(fic, shop, web):
    Documents(fic).create("1", "invoice")
    Documents(fic).create("2", "quote")
    page = web.get("/documents")
    assert page.status_code == 200
    text = text_of(page)
    assert "Fattura n. 1" in text and "Preventivo n. 1" in text and "101" in text and "102" in text
    only_quotes = text_of(web.get("/documents?type=quote"))
    assert "Preventivo n. 1" in only_quotes and "Fattura n. 1" not in only_quotes
    # Paid orders without an invoice are offered for a bulk "Genera le fatture".
    assert "Ordine 102" in text and "Ordine 103" in text


def test_bulk_create_invoices_then_send_them_once(fic, sandbox, web):
    token = panel_token(web.get("/documents").text)
    web.post("/documents/bulk", data={"csrf_token": token, "action": "create_invoices", "order_ids": ["2", "3"]})
    assert flash(web) == "2 fatture generate."
    ids = [str(fic.store.document_for(o, "invoice").id) for o in ("2", "3")]
    web.post("/documents/bulk", data={"csrf_token": token, "action": "send", "document_ids": ids})
    assert flash(web) == "2 documenti inviati."
    web.post("/documents/bulk", data={"csrf_token": token, "action": "send", "document_ids": ids})
    assert flash(web) == "0 documenti inviati."  # already with the customers: not sent twice
    assert len(sandbox_emails(sandbox)) == 2


def test_failed_jobs_are_listed_and_retried(fic, web):
    enqueue(fic, "send", "send:missing", order_id="1", document_id=999)
    [job] = jobs(fic)
    assert execute_job(fic, job.id) == "failed"
    text = text_of(web.get("/documents"))
    assert "Operazioni non riuscite" in text and "101" in text and "non esiste più" in text
    token = panel_token(web.get("/documents").text)
    web.post("/documents/bulk", data={"csrf_token": token, "action": "retry", "job_ids": [str(job.id)]})
    assert flash(web) == "1 operazione rimessa in coda."
