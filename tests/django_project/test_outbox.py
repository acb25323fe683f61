"""PostgreSQL: the event's job is written inside the shop's transaction (a real outbox).

These run when the project itself runs on PostgreSQL (test_postgres.py starts that run).
"""

from __future__ import annotations

import pytest
from django.db import transaction

from conftest import pay, place_order
from fic_plugin.contrib.django import events
from fic_plugin.jobs import run_round
from shoptest import fic_documents

# Collected only in the PostgreSQL run (conftest's collect_ignore; test_postgres.py starts it): the
# outbox needs the plugin's tables in the shop's own PostgreSQL database.
pytestmark = [pytest.mark.django_db(transaction=True)]


def job_keys(context) -> list[str]:
    return sorted(job.key for job in context.store.jobs.list())


def test_a_crash_between_the_shops_commit_and_the_hook_loses_nothing(fic_site, sandbox, monkeypatch):
    order = place_order(("Olio extravergine 1 L", "10.00", 1), fiscal={"tax_code": "RSSMRA85M01H501Q"})
    # The process dies right after COMMIT: no after-commit callback ever runs.
    monkeypatch.setattr(events.transaction, "on_commit", lambda *args, **kwargs: None)
    with transaction.atomic():
        pay(order)
        assert job_keys(fic_site) == []  # written, but not committed: the plugin's connection sees nothing
    assert job_keys(fic_site) == sorted([f"auto:{order.number}", f"payments:{order.number}:{order.total_incl_tax}"])

    run_round(fic_site, wait_for_retries=True)
    assert [d["type"] for d in fic_documents(sandbox)] == ["invoice"]


def test_a_rolled_back_checkout_takes_its_job_with_it(fic_site, sandbox):
    order = place_order(("Olio extravergine 1 L", "10.00", 1))
    with pytest.raises(RuntimeError), transaction.atomic():
        pay(order)
        raise RuntimeError("payment gateway said no")
    assert job_keys(fic_site) == []
    run_round(fic_site)
    assert fic_documents(sandbox) == []
