"""After ``send`` the SdI walks ``ei_status`` sent → processing → its outcome on the sandbox's own
clock (jumped forward here, never waited for), as ``POST /__sandbox__/sdi`` scripted it; a discarded
e-invoice is corrected and sent again, once; ``GET /__sandbox__/sdi`` counts the sends."""

from __future__ import annotations

import time

import pytest
import requests

from einvoicetest import Fic, e_invoice, italian_company, wait_for
from fic_sandbox.sdi import Sdi
from fic_sandbox.server import SandboxServer
from fic_sandbox.state import State
from shoptest import reset_sandbox

#: A sandbox of this module's own (tests/conftest.py): its knobs stay here.
OWN_SANDBOX: dict = {}


@pytest.fixture
def fic(sandbox):
    reset_sandbox(sandbox, "sdi")
    return Fic(sandbox)


def jump(fic, ms):
    """Move the SdI's clock forward; the walk is applied before the answer comes back."""
    return fic.side("POST", "/sdi/clock", json={"advance_ms": ms})


def status(fic, document_id):
    return fic.doc(document_id)["ei_status"]


def test_the_happy_path_walks_sent_processing_accepted(fic):
    # A long default walk so that only our jumps move it.
    fic.side("POST", "/sdi", json={"processing_ms": 60_000, "after_ms": 120_000})
    document = fic.create(e_invoice())
    assert fic.send(document["id"]).status_code == 200
    assert status(fic, document["id"]) == "sent"
    jump(fic, 60_000)
    assert status(fic, document["id"]) == "processing"
    jump(fic, 60_000)
    assert status(fic, document["id"]) == "accepted"
    reason = fic("GET", f"/issued_documents/{document['id']}/e_invoice/error_reason").json()["data"]
    assert reason == {"reason": None, "ei_status": "accepted", "solution": None, "code": None, "date": None}
    view = fic.side("GET", "/sdi")
    assert view["by_document"] == {str(document["id"]): 1}
    assert [s["status"] for s in view["sends"]] == ["accepted"]


def test_a_faster_clock_gets_there_on_its_own(fic):
    fic.side("POST", "/sdi/clock", json={"speed": 1000})
    document = fic.create(e_invoice())
    fic.send(document["id"])
    wait_for(lambda: status(fic, document["id"]) == "accepted", "the SdI's answer on a fast clock")


def test_discarded_with_a_reason_then_corrected_and_sent_again_once(fic):
    fic.side("POST", "/sdi", json={"outcome": "discarded", "reason": "00305 - Partita IVA del cliente cessata",
                                   "code": "00305", "after_ms": 500, "sends": 1})
    document = fic.create(e_invoice())
    fic.send(document["id"])
    jump(fic, 500)
    assert status(fic, document["id"]) == "discarded"
    reason = fic("GET", f"/issued_documents/{document['id']}/e_invoice/error_reason").json()["data"]
    assert (reason["ei_status"], reason["code"]) == ("discarded", "00305")
    assert reason["reason"] == "00305 - Partita IVA del cliente cessata" and reason["solution"] and reason["date"]
    # FiC lets a discarded e-invoice be corrected and sent again.
    fixed = fic("PUT", f"/issued_documents/{document['id']}",
                json={"data": {"entity": italian_company(vat_number="09876540015")}})
    assert fixed.status_code == 200, fixed.text
    assert fic.send(document["id"]).status_code == 200
    assert status(fic, document["id"]) == "sent"
    jump(fic, 10_000)
    assert status(fic, document["id"]) == "accepted"  # "sends": 1 scripted only the first one
    view = fic.side("GET", "/sdi")
    assert view["by_document"] == {str(document["id"]): 2}
    assert [s["status"] for s in view["sends"]] == ["discarded", "accepted"]
    assert fic.send(document["id"]).status_code == 409


@pytest.mark.parametrize("outcome", ["not_delivered", "rejected", "no_response", "error"])
def test_each_scripted_outcome_lands_on_the_document(fic, outcome):
    fic.side("POST", "/sdi", json={"outcome": outcome, "after_ms": 100})
    document = fic.create(e_invoice())
    fic.send(document["id"])
    jump(fic, 100)
    assert status(fic, document["id"]) == outcome
    deletable = fic("DELETE", f"/issued_documents/{document['id']}").status_code
    assert deletable == (200 if outcome in ("rejected", "error") else 409)


def test_delete_restores_the_happy_path_and_bad_settings_are_refused(fic):
    fic.side("POST", "/sdi", json={"outcome": "discarded"})
    assert fic.side("GET", "/")["sdi"]["outcome"] == "discarded"
    assert fic.side("DELETE", "/sdi")["config"]["outcome"] == "accepted"
    assert fic.side("GET", "/")["sdi"]["outcome"] == "accepted"
    refused = requests.post(f"{fic.root}/__sandbox__/sdi", json={"outcome": "delivered"}, timeout=5)
    assert refused.status_code == 422 and "outcome" in refused.json()["error"]["message"]
    assert requests.post(f"{fic.root}/__sandbox__/sdi", json={"colour": "red"}, timeout=5).status_code == 422
    assert requests.post(f"{fic.root}/__sandbox__/sdi/clock", json={"advance_ms": -1}, timeout=5).status_code == 422


def test_a_restarted_sandbox_finishes_the_walks_it_had_started(tmp_path):
    state = str(tmp_path / "sandbox.db")
    with SandboxServer(state=state) as first:
        fic = Fic(first)
        fic.side("POST", "/sdi", json={"processing_ms": 300, "after_ms": 600})
        document = fic.create(e_invoice())
        fic.send(document["id"])
        key = fic.side("GET", "/webhooks/public_key")["pem"]
    with SandboxServer(state=state) as second:
        fic = Fic(second)
        wait_for(lambda: status(fic, document["id"]) == "accepted", "the walk finished after the restart")
        assert fic.side("GET", "/webhooks/public_key")["pem"] == key  # the shop's copy of the key still works
        assert fic.side("GET", "/sdi")["by_document"] == {str(document["id"]): 1}


def test_an_sdi_with_nothing_under_way_sleeps_until_something_wakes_it():
    """Each company has its SdI thread; with no send under way it sleeps until a send, a clock
    change or close() wakes it. It woke every second: 50 ms of CPU a second for a sandbox of a
    thousand companies, taken from the workers the many-shops benchmark measures."""
    sdi = Sdi(State(":memory:"), notify=lambda *_args: None)
    walks, walk = [], sdi.advance
    sdi.advance = lambda: walks.append(time.monotonic()) or walk()
    sdi._ensure_thread()
    try:
        wait_for(lambda: walks, "the first walk")
        time.sleep(2.5)
        assert len(walks) == 1
        sdi.set_clock({"speed": 2.0})
        wait_for(lambda: len(walks) == 2, "the walk a clock change wakes")
    finally:
        sdi.close()
