"""A panel action FiC does not finish within the budget becomes a job: the request never waits on FiC."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from werkzeug.test import Client

from fic_plugin.jobs import run_round
from fic_plugin.web.app import make_wsgi_app
from fic_plugin.web.budget import StillRunning, run_within_budget
from fic_plugin.web.panel import render_panel
from shoptest import fic_documents, sandbox_call
from test_web import AdminGate, as_admin, make_order, panel_token

REFERER = {"Referer": "http://localhost/admin/orders/3"}


@pytest.fixture
def slow_web(fic, pm, shop):
    pm.register(AdminGate())
    shop.add(make_order("3"))
    app = make_wsgi_app(fic)
    app.action_budget = 0.3  # FiC below answers after 2 s: well past it
    return Client(as_admin(app))


def test_create_that_fic_does_not_finish_in_time_is_in_progress_and_done_once_by_the_worker(
        slow_web, fic, shop, sandbox):
    sandbox_call(sandbox, "POST", "/__sandbox__/faults", json={"latency_ms": 2000})
    response = slow_web.post("/orders/3/documents", headers=REFERER,
                             data={"csrf_token": panel_token(render_panel(fic, shop.orders["3"])), "type": "invoice"})
    assert response.status_code == 303 and response.headers["Location"] == "/admin/orders/3"
    panel = render_panel(fic, shop.orders["3"])
    assert "in corso" in re.search(r'class="fic-flash[^"]*"[^>]*>([^<]*)<', panel).group(1)
    assert "location.reload()" in panel  # the panel refreshes until the job is done
    assert fic.store.db.execute("SELECT kind, state FROM fic_jobs").fetchall() == [("create", "pending")]

    sandbox_call(sandbox, "DELETE", "/__sandbox__/faults")
    run_round(fic, wait_for_retries=True)

    assert [d["type"] for d in fic_documents(sandbox)] == ["invoice"]
    assert fic.store.db.execute("SELECT state FROM fic_jobs WHERE kind != 'sdi_send'").fetchall() == [("done",)]
    assert "location.reload()" not in render_panel(fic, shop.orders["3"])


def test_an_action_within_the_budget_answers_as_usual():
    assert run_within_budget(lambda: "fatto", 5.0) == "fatto"
    with pytest.raises(ValueError, match="rifiutato"):
        run_within_budget(lambda: (_ for _ in ()).throw(ValueError("rifiutato")), 5.0)


def test_an_action_past_the_budget_queues_its_job_and_goes_on():
    import threading

    release, queued = threading.Event(), []
    with pytest.raises(StillRunning):
        run_within_budget(lambda: release.wait(10) and "fatto", 0.05, lambda: queued.append("job"))
    release.set()
    assert queued == ["job"]


def test_a_send_past_the_budget_shows_in_corso_and_the_panel_reloads_until_it_left(slow_web, fic, shop, sandbox):
    from fic_plugin.documents import Documents

    invoice = Documents(fic).create("3", "invoice")
    run_round(fic, wait_for_retries=True)  # its SdI send: no job left to keep the panel reloading
    page = slow_web.get(f"/documents/{invoice.id}/send", headers=REFERER).text
    # Well past the panel's 0.3 s budget, and within the tests' 1.5 s read timeout even on a busy
    # machine (at 1,500 ms the send's own requests timed out whenever the machine was loaded).
    sandbox_call(sandbox, "POST", "/__sandbox__/faults", json={"latency_ms": 1000})
    response = slow_web.post(f"/documents/{invoice.id}/send", data={
        "csrf_token": panel_token(page), "send_key": re.search(r'name="send_key" value="([^"]+)"', page).group(1),
        "next": "/admin/orders/3", "action": "send", "emails": ["mario.rossi@example.it"],
        "subject": "Fattura {document_number}", "body": "<p>Grazie</p>", "sms_text": ""})
    assert response.status_code == 303
    panel = render_panel(fic, shop.orders["3"], flash=False)
    # The send is still waiting for FiC: the owner reads so, and the page comes back by itself.
    assert "invio dell&#39;email in corso a mario.rossi@example.it" in panel, panel
    assert "location.reload()" in panel and "Inviata il" not in panel

    deadline = time.monotonic() + 15
    while "Inviata il" not in render_panel(fic, shop.orders["3"], flash=False) and time.monotonic() < deadline:
        time.sleep(0.2)
    panel = render_panel(fic, shop.orders["3"], flash=False)
    assert "Inviata il" in panel and "in corso" not in panel and "location.reload()" not in panel
    assert len(sandbox_call(sandbox, "GET", "/__sandbox__/emails")["data"]) == 1


def test_a_send_never_answered_is_not_in_corso_forever(fic, shop, sandbox):
    """A process that stopped mid-send leaves its row written but unanswered: after
    :data:`fic_plugin.delivery.IN_FLIGHT` the panel says it may or may not have left, and stops
    reloading."""
    from fic_plugin.delivery import IN_FLIGHT
    from fic_plugin.documents import Documents
    from fic_plugin.store import clock

    shop.add(make_order("3"))
    invoice = Documents(fic).create("3", "invoice")
    run_round(fic, wait_for_retries=True)
    row, _fresh = fic.store.sends.claim("web:lost", order_id="3", document_id=invoice.id, channel="fic_email",
                                         recipients=("mario.rossi@example.it",), subject="Fattura")
    assert "in corso a mario.rossi" in render_panel(fic, shop.orders["3"], flash=False)
    started = (clock.utc_now() - IN_FLIGHT - timedelta(seconds=1)).isoformat()
    fic.store.execute("UPDATE fic_sends SET created_at = ? WHERE id = ?", [started, row["id"]])
    panel = render_panel(fic, shop.orders["3"], flash=False)
    assert "in corso" not in panel and "location.reload()" not in panel
    assert "potrebbe essere partita oppure no" in panel
