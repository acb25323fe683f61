"""A panel action FiC does not finish within the budget becomes a job: the request never waits on FiC."""

from __future__ import annotations

import re

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
