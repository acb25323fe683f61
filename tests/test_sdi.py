"""Issue 14 against the sandbox: verify, send exactly once, follow the SdI's answer, re-send.

The SdI's answers are set through the sandbox's side channel (``/__sandbox__/documents/{id}/lock``
sets a document's ``ei_status``, as FiC's would change when the SdI answers).
"""

from __future__ import annotations

import re

import pytest

from fic_plugin.cli import main
from fic_plugin.documents import Documents
from fic_plugin.errors import Conflict, InvalidInput
from fic_plugin.fic.errors import OutcomeUnknown
from fic_plugin.jobs import run_round
from fic_plugin.outbox import jobs
from fic_plugin.sdi import Sdi, queue_send
from fic_plugin.settings import update_settings
from fic_plugin.web.panel import render_panel
from shoptest import fic_documents, make_order, sandbox_call, sandbox_emails, sdi_sends


@pytest.fixture(autouse=True)
def sdi_waits(sandbox):
    """The sandbox's SdI answers only when a test says so (its clock would move on in 1 s)."""
    sandbox_call(sandbox, "POST", "/__sandbox__/sdi", json={"processing_ms": 3_600_000, "after_ms": 3_600_000})
    yield
    sandbox_call(sandbox, "DELETE", "/__sandbox__/sdi")


def fic_sends(sandbox) -> dict[str, int]:
    """Sends the sandbox's SdI received, by FiC document id (its own count, not the plugin's)."""
    return sandbox_call(sandbox, "GET", "/__sandbox__/sdi")["by_document"]


def remote(sandbox, fic_id: int) -> dict:
    return next(d for d in fic_documents(sandbox) if d["id"] == fic_id)


def sdi_answers(sandbox, document, ei_status: str) -> None:
    sandbox_call(sandbox, "POST", f"/__sandbox__/documents/{document.fic_id}/lock", json={"ei_status": ei_status})


def panel_text(context, order) -> str:
    return re.sub(r"\s+", " ", render_panel(context, order))


@pytest.fixture
def auto(fic):
    update_settings(fic.store, {"auto_invoice": True})
    return fic


def test_a_paid_order_gets_an_e_invoice_verified_sent_once_then_emailed(auto, shop, sandbox):
    order = shop.add(make_order("1", paid=True))
    auto.pm.hook.order_paid(order=order)
    run_round(auto)
    [invoice] = auto.store.documents("1")
    assert invoice.e_invoice and invoice.ei_status == "sent" and invoice.ei_status_at
    assert remote(sandbox, invoice.fic_id)["e_invoice"] is True
    assert remote(sandbox, invoice.fic_id)["ei_status"] == "sent"
    assert list(sdi_sends(auto.store).values()) == [1] and fic_sends(sandbox) == {str(invoice.fic_id): 1}
    # The courtesy email went after the send: the customer is told of an invoice the SdI has.
    [email] = sandbox_emails(sandbox)
    requests = [(r["path"], r["id"]) for r in auto.store.audit_log(limit=100) if r["action"] == "fic_request"]
    send_at = next(i for p, i in requests if p.endswith("/e_invoice/send"))
    email_at = next(i for p, i in requests if p.endswith("/email") and "GET" not in p)
    assert send_at < email_at and email["document_id"] == invoice.fic_id
    assert {(j.kind, j.state) for j in jobs(auto)} == {("auto_document", "done"), ("sdi_send", "done")}
    # The send job was the fallback: settled without running (no second job for every invoice).
    assert [j.attempts for j in jobs(auto) if j.kind == "sdi_send"] == [0]


def test_an_automatic_job_that_dies_before_the_send_leaves_its_fallback_to_send_once(auto, shop, sandbox):
    """The automatic job creates the e-invoice, then its worker dies before verifying and sending
    it: the send job written with the document is not due at once (the job itself normally
    sends), but after ``FALLBACK_SECONDS`` it sends the invoice, once."""
    from datetime import UTC, datetime, timedelta

    from fic_plugin.sdi import FALLBACK_SECONDS
    from fic_plugin.store import clock

    order = shop.add(make_order("1", paid=True))
    invoice = Documents(auto, sends_e_invoice_now=True).ensure(order, "invoice")  # ...and the worker dies
    [fallback] = [j for j in jobs(auto) if j.kind == "sdi_send"]
    waits = (clock.parse(fallback.run_after) - datetime.now(UTC)).total_seconds()
    assert fallback.state == "pending" and FALLBACK_SECONDS - 5 < waits <= FALLBACK_SECONDS
    auto.store.execute("UPDATE fic_jobs SET state = 'done' WHERE kind = 'auto_document'")  # only the fallback left
    run_round(auto)
    assert fic_sends(sandbox) == {} and auto.store.document(invoice.id).ei_status == "not_sent"
    auto.store.execute("UPDATE fic_jobs SET run_after = ? WHERE id = ?",
                       [clock.iso(datetime.now(UTC) - timedelta(seconds=1)), fallback.id])
    run_round(auto)
    assert auto.store.document(invoice.id).ei_status == "sent"
    assert fic_sends(sandbox) == {str(invoice.fic_id): 1}


def test_an_invoice_made_by_hand_is_sent_by_the_worker(fic, shop, sandbox):
    shop.add(make_order("1"))
    invoice = Documents(fic).create("1", "invoice")
    assert invoice.e_invoice and invoice.ei_status == "not_sent"
    [job] = jobs(fic)
    assert (job.kind, job.state) == ("sdi_send", "pending")
    run_round(fic)
    assert fic.store.document(invoice.id).ei_status == "sent"
    assert sandbox_emails(sandbox) == []  # by hand: no courtesy email unless asked


def test_quotes_are_never_sent_and_a_conversion_to_invoice_is(fic, shop, sandbox):
    shop.add(make_order("1"))
    quote = Documents(fic).create("1", "quote")
    assert not quote.e_invoice and all(j.kind != "sdi_send" for j in jobs(fic))
    invoice = Documents(fic).convert(quote.id, "invoice")
    assert invoice.e_invoice and remote(sandbox, invoice.fic_id)["e_invoice"] is True
    run_round(fic)
    assert fic.store.document(invoice.id).ei_status == "sent"
    with pytest.raises(Conflict, match="non è una fattura elettronica"):
        Sdi(fic).send(quote.id)


# --- exactly once --------------------------------------------------------------------------------


def test_a_send_whose_answer_is_lost_is_settled_by_reading_ei_status_not_sent_again(fic, shop, sandbox):
    shop.add(make_order("1"))
    invoice = Documents(fic).create("1", "invoice")
    sandbox_call(sandbox, "POST", "/__sandbox__/faults",
                 json={"timeout_after_commit_rate": 1.0, "hang_seconds": 3, "path_contains": "/e_invoice/send"})
    with pytest.raises(OutcomeUnknown):
        Sdi(fic).send(invoice.id)
    left = fic.store.document(invoice.id)
    assert left.sdi_attempted_at and left.ei_status == "not_sent"  # FiC sent it; we do not know yet
    assert remote(sandbox, invoice.fic_id)["ei_status"] == "sent"
    sandbox_call(sandbox, "DELETE", "/__sandbox__/faults")
    run_round(fic)  # the queued sdi_send job, and a second explicit try, both only look
    Sdi(fic).send(invoice.id)
    settled = fic.store.document(invoice.id)
    assert settled.ei_status == "sent" and settled.sdi_attempted_at is None
    assert list(sdi_sends(fic.store).values()) == [1] and fic_sends(sandbox) == {str(invoice.fic_id): 1}


def test_a_worker_killed_before_the_post_left_sends_once_on_restart(fic, shop, sandbox):
    """The crash lands between committing ``sdi_attempted_at`` and the POST: FiC still says
    not_sent, so the restart sends (once)."""
    shop.add(make_order("1"))
    invoice = Documents(fic).create("1", "invoice")
    with fic.store.transaction():
        invoice.sdi_attempted_at = "2026-11-30T00:00:00"
        fic.store.update_document(invoice)
    run_round(fic)
    assert fic.store.document(invoice.id).ei_status == "sent"
    assert fic_sends(sandbox) == {str(invoice.fic_id): 1}


def test_verify_refusal_is_shown_and_nothing_is_sent(fic, shop, sandbox):
    shop.add(make_order("1"))
    invoice = Documents(fic).create("1", "invoice")
    sandbox_call(sandbox, "PUT", f"/c/1/issued_documents/{invoice.fic_id}", json={"data": {"ei_data": {}}})
    with pytest.raises(InvalidInput) as error:
        Sdi(fic).send(invoice.id)
    assert "payment_method" in str(error.value)
    assert fic.store.document(invoice.id).ei_error and sdi_sends(fic.store) == {}


# --- what the SdI answers ------------------------------------------------------------------------


def test_states_are_read_from_fic_and_shown_in_italian_with_when(fic, shop, sandbox):
    order = shop.add(make_order("1"))
    invoice = Documents(fic).create("1", "invoice")
    assert "Fattura elettronica: Non inviata allo SdI" in panel_text(fic, order)
    assert "Invia allo SdI" in panel_text(fic, order)
    run_round(fic)
    text = panel_text(fic, order)
    assert re.search(r"Fattura elettronica: Inviata allo SdI \(dal \d\d/\d\d/\d{4} alle \d\d:\d\d\)", text)
    assert "non si può eliminare" in text and "Converti in Nota di credito" in text
    assert f"/fic/documents/{invoice.id}/delete" not in text
    # FiC has no "delivered": a business's or consumer's receipt of delivery is "accepted".
    for status, words in (("processing", "In elaborazione"), ("accepted", "Consegnata"),
                          ("not_delivered", "Non consegnata")):
        sdi_answers(sandbox, invoice, status)
        assert Sdi(fic).refresh(invoice.id).ei_status == status
        assert f"Fattura elettronica: {words}" in panel_text(fic, order)


def test_a_sent_e_invoice_cannot_be_deleted(fic, shop, sandbox):
    shop.add(make_order("1"))
    invoice = Documents(fic).create("1", "invoice")
    run_round(fic)
    with pytest.raises(Conflict, match="(?i)nota di credito"):
        Documents(fic).delete(invoice.id)
    assert remote(sandbox, invoice.fic_id) and fic.store.document(invoice.id)


def test_a_discard_shows_its_reason_and_a_corrected_invoice_is_sent_once_more(fic, shop, sandbox):
    order = shop.add(make_order("1"))
    sandbox_call(sandbox, "POST", "/__sandbox__/sdi", json={
        "outcome": "discarded", "reason": "Partita IVA del cessionario non valida", "code": "00305",
        "solution": "Correggi la partita IVA del cliente", "processing_ms": 0, "after_ms": 0, "sends": 1})
    invoice = Documents(fic).create("1", "invoice")
    run_round(fic)
    sandbox_call(sandbox, "POST", "/__sandbox__/sdi/clock", json={"advance_ms": 1000})
    assert Sdi(fic).refresh(invoice.id).ei_status == "discarded"
    text = panel_text(fic, order)
    assert "Scartata dallo SdI" in text and "Motivo indicato dallo SdI:" in text
    assert "[00305] Partita IVA del cessionario non valida — Correggi la partita IVA del cliente" in text
    assert "Correggi e reinvia" in text
    with pytest.raises(Conflict):
        Sdi(fic).send(invoice.id)  # a plain send does not re-send a discarded invoice
    queue_send(fic, invoice.id, resend=True)
    queue_send(fic, invoice.id, resend=True)  # a double click queues nothing more
    run_round(fic)
    again = fic.store.document(invoice.id)
    assert again.ei_status == "sent" and again.ei_error is None
    assert fic_sends(sandbox) == {str(invoice.fic_id): 2}  # the first send and the corrected one
    assert "Correggi e reinvia" not in panel_text(fic, order)


# --- CLI -----------------------------------------------------------------------------------------


def test_cli_send_sdi_and_sdi_status(fic, shop, sandbox, capsys, monkeypatch):
    shop.add(make_order("1"))
    invoice = Documents(fic).create("1", "invoice")
    db = str(fic.store.path)
    monkeypatch.setenv("FIC_LANGUAGE", "it")
    from fic_plugin import cli_shop as shop_cli

    monkeypatch.setattr(shop_cli, "cli_context", lambda path: fic)
    assert main(["--db", db, "doc", "send-sdi", str(invoice.id)]) == 0
    assert f"[doc {invoice.id}] SdI: Inviata allo SdI" in capsys.readouterr().out
    sdi_answers(sandbox, invoice, "accepted")
    assert main(["--db", db, "--json", "doc", "sdi-status", str(invoice.id)]) == 0
    out = capsys.readouterr().out
    assert '"ei_status": "accepted"' in out and "Consegnata" in out
    assert main(["--db", db, "doc", "send-sdi", str(invoice.id)]) == 0  # already sent: nothing happens
    assert fic_sends(sandbox) == {str(invoice.fic_id): 1}
