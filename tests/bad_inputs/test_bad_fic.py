"""When FiC is the one saying no, or saying nonsense: an expired token, garbage answers, ids that
do not exist, conversions and deletions FiC forbids. The owner gets a reason to act on; the
shop keeps nothing half-made, and what may have happened in FiC is looked up, never redone.
"""

from __future__ import annotations

import pytest
from badinput import assert_nothing_written

from fic_plugin import jobs as jobs_module
from fic_plugin.documents import Documents
from fic_plugin.errors import Conflict, InvalidInput, NotFound, Queued
from fic_plugin.fic.errors import AuthenticationRequired, BadResponse, FicUnavailable
from fic_plugin.fic.transport import Backoff
from fic_plugin.jobs import run_round
from fic_plugin.outbox import jobs
from fic_plugin.sending import Sending
from fic_plugin.settings import update_settings
from fic_sandbox.server import SandboxServer
from shoptest import fic_documents, make_order, sandbox_call

pytestmark = pytest.mark.usefixtures("english")

VALID_TOKEN = "a/the-only-token-fic-accepts-91c2"


@pytest.fixture(scope="module")
def guarded():
    """A sandbox that accepts one token only: the shop's (TEST_TOKEN) is expired or revoked."""
    with SandboxServer(port=0, token=VALID_TOKEN) as server:
        yield server


@pytest.fixture
def revoked(fic, guarded):
    # Moving the API URL forgets the token unless the same change gives it again (issue 13).
    update_settings(fic.store, {"fic_api_url": guarded.url, "fic_access_token": fic.store.get_secret("fic_access_token")})
    fic.reset_client()
    return fic


def test_an_expired_token_stops_a_create_with_what_to_do_and_leaves_nothing(revoked, shop, guarded):
    shop.add(make_order("1"))
    with pytest.raises(AuthenticationRequired) as caught:
        Documents(revoked).create("1", "invoice")
    assert "Run `fic connect`" in str(caught.value) and caught.value.status == 401
    assert_nothing_written(revoked)
    assert fic_documents(guarded, include_deleted=True) == []


def test_an_expired_token_fails_the_automatic_job_once_instead_of_retrying_forever(revoked, shop, guarded):
    update_settings(revoked.store, {"auto_invoice": True})
    order = shop.add(make_order("1", paid=True))
    revoked.pm.hook.order_paid(order=order)
    report = run_round(revoked, wait_for_retries=True)
    [job] = jobs(revoked)
    assert (report.failed, job.state) == (1, "failed") and "fic connect" in job.last_error
    assert revoked.store.documents() == [] and fic_documents(guarded, include_deleted=True) == []


@pytest.mark.parametrize("kind", ["html", "empty", "invalid_json"])
def test_garbage_from_fic_on_a_create_is_looked_up_later_never_created_twice(fic, shop, sandbox, kind,
                                                                            monkeypatch):
    monkeypatch.setattr(jobs_module, "RETRY_BASE_SECONDS", 0.05)  # the policy, without its 2 s wait
    shop.add(make_order("1"))
    fic.client.vat_types(), fic.client.payment_methods(), fic.client.payment_accounts()  # cached: the garbage meets the create itself
    sandbox_call(sandbox, "POST", "/__sandbox__/faults", json={"garbage_rate": 1.0, "garbage_kind": kind})
    with pytest.raises(Queued) as caught:
        Documents(fic).create("1", "invoice")
    assert "completed automatically" in str(caught.value)
    assert fic_documents(sandbox, include_deleted=True) == []  # garbage came before FiC did anything
    [job] = jobs(fic)
    assert (job.kind, job.state) == ("create", "pending")
    sandbox_call(sandbox, "DELETE", "/__sandbox__/faults")
    run_round(fic, wait_for_retries=True)
    [remote] = fic_documents(sandbox)
    assert fic.store.document_for("1", "invoice").fic_id == remote["id"]


@pytest.mark.parametrize(("kind", "error"), [("html", FicUnavailable), ("empty", BadResponse),
                                             ("invalid_json", BadResponse)])
def test_garbage_from_fic_on_a_read_is_an_error_that_changes_nothing(fic, shop, sandbox, kind, error):
    """An nginx 502 page is FiC being down; a 200 that is not JSON is a bad answer."""
    shop.add(make_order("1"))
    document = Documents(fic).create("1", "invoice")
    fic.client.transport.backoff = Backoff(initial=0.01, max=0.05)  # the same retries, sooner
    sandbox_call(sandbox, "POST", "/__sandbox__/faults", json={"garbage_rate": 1.0, "garbage_kind": kind})
    with pytest.raises(error) as caught:
        Documents(fic).view_url(document.id)
    assert type(caught.value) is error and "try again" in str(caught.value)
    assert fic.store.document(document.id) == document


@pytest.mark.parametrize("action", [
    lambda fic: Documents(fic).view_url(424242),
    lambda fic: Documents(fic).delete(424242),
    lambda fic: Documents(fic).convert(424242, "invoice"),
    lambda fic: Sending(fic).send_now(424242),
], ids=["view", "delete", "convert", "send"])
def test_an_unknown_document_id_is_not_found(fic, sandbox, action):
    with pytest.raises(NotFound) as caught:
        action(fic)
    assert "424242" in str(caught.value)
    assert_nothing_written(fic, sandbox)


@pytest.mark.parametrize(("first", "to_type"), [("invoice", "quote"), ("invoice", "proforma"),
                                                 ("delivery_note", "proforma"), ("quote", "credit_note"),
                                                 ("proforma", "fattura")])
def test_a_conversion_fic_forbids_is_refused_before_calling_fic(fic, shop, sandbox, first, to_type):
    shop.add(make_order("1"))
    original = Documents(fic).create("1", first)
    before = sandbox_call(sandbox, "GET", "/__sandbox__/stats")["requests"]
    with pytest.raises(InvalidInput) as caught:
        Documents(fic).convert(original.id, to_type)
    assert caught.value.field == "to" and "cannot be converted" in str(caught.value)
    assert [d.id for d in fic.store.documents("1")] == [original.id]
    assert sandbox_call(sandbox, "GET", "/__sandbox__/stats")["requests"] == before  # FiC never asked


@pytest.mark.parametrize("lock", [{"locked": True}, {"ei_status": "sent"}, {"ei_status": "accepted"}])
def test_deleting_a_document_fic_locked_is_refused_and_it_stays(fic, shop, sandbox, lock):
    shop.add(make_order("1"))
    document = Documents(fic).create("1", "invoice")
    sandbox_call(sandbox, "POST", f"/__sandbox__/documents/{document.fic_id}/lock", json=lock)
    with pytest.raises(Conflict) as caught:
        Documents(fic).delete(document.id)
    assert "credit note" in str(caught.value)
    assert fic.store.document(document.id) is not None
    assert [d["id"] for d in fic_documents(sandbox)] == [document.fic_id]
