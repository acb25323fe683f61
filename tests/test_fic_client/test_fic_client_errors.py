"""FiC's answers become the right errors, and only safe requests are sent twice.

Against the scripted FiC (a real HTTP server on 127.0.0.1) so each answer is exact.
"""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from fic_scripted import FAST_BACKOFF, FAST_TIMEOUTS, RELAXED_LIMITS, TOKEN, Answer, free_port

from fic_plugin import errors as base_errors
from fic_plugin.fic import errors
from fic_plugin.fic.client import FicClient
from fic_plugin.fic.ratelimit import RateLimits

DOC = {"id": 7, "type": "invoice", "number": 1, "amount_gross": 12.2}


def test_success_returns_data_with_decimals_and_reports_the_exchange(scripted, scripted_client, records):
    scripted.queue(Answer(200, {"data": DOC}, headers={
        "RateLimit-HourlyRemaining": "840", "RateLimit-HourlyLimit": "1000",
        "RateLimit-MonthlyRemaining": "1430", "RateLimit-MonthlyLimit": "40000"}))
    document = scripted_client.get_document(7)
    assert document["amount_gross"] == Decimal("12.2") and isinstance(document["amount_gross"], Decimal)
    seen = scripted.seen[0]
    assert (seen.method, seen.path, seen.query["fieldset"]) == ("GET", "/c/1/issued_documents/7", ["detailed"])
    assert seen.headers["Authorization"] == f"Bearer {TOKEN}"
    assert [(r.method, r.path, r.status, r.outcome) for r in records] == [
        ("GET", "/c/1/issued_documents/7", 200, "ok")]
    assert records[0].duration_ms >= 0
    quota = scripted_client.quota
    assert (quota.hourly_remaining, quota.hourly_limit, quota.monthly_remaining, quota.monthly_limit) == (
        840, 1000, 1430, 40000)
    assert scripted_client.request_count == 1


def test_decimal_amounts_are_sent_as_exact_numbers(scripted, scripted_client):
    scripted.queue(Answer(200, {"data": DOC}))
    scripted_client.create_document({"items_list": [{"net_price": Decimal("68.18182"), "qty": Decimal("3")}]})
    assert b'"net_price":68.18182' in scripted.seen[0].body
    assert scripted.seen[0].json() == {"data": {"items_list": [{"net_price": 68.18182, "qty": 3}]}}


def test_401_asks_to_reconnect_and_never_shows_the_token(scripted, scripted_client):
    scripted.queue(Answer(401, {"error": {"message": "Unauthorized"}}))
    with pytest.raises(errors.AuthenticationRequired) as caught:
        scripted_client.vat_types()
    error = caught.value
    assert (error.status, error.method, error.path) == (401, "GET", "/c/1/info/vat_types")
    assert "fic connect" in str(error)
    assert TOKEN not in str(error) and TOKEN not in repr(error.to_dict())
    assert len(scripted.seen) == 1  # a manual token cannot be refreshed: no second try


@pytest.mark.parametrize(("fic_code", "hint"), [("NO_PERMISSION", "scopes"), ("LICENSE_EXPIRED", "licence")])
def test_403_without_retry_after_is_a_permission_problem(scripted, scripted_client, fic_code, hint):
    scripted.queue(Answer(403, {"error": {"message": "Accesso negato", "code": fic_code}}))
    with pytest.raises(errors.PermissionDenied) as caught:
        scripted_client.create_document({"type": "invoice"})
    assert caught.value.fic_code == fic_code and caught.value.status == 403
    assert hint in str(caught.value) and "Accesso negato" in str(caught.value)
    assert len(scripted.seen) == 1


def test_quota_403_with_retry_after_is_waited_out_even_for_a_create(scripted, scripted_client, records):
    scripted.queue(Answer(403, {"error": {"message": "quota"}}, headers={"Retry-After": "1"}),
                   Answer(200, {"data": DOC}))
    started = time.monotonic()
    assert scripted_client.create_document({"type": "invoice"})["id"] == 7
    assert time.monotonic() - started >= 1.0
    assert [r.outcome for r in records] == ["fic_rate_limited", "ok"]


def test_retry_after_beyond_max_wait_raises_at_once_with_the_delay(scripted, scripted_client):
    scripted.queue(Answer(429, {}, headers={"Retry-After": "3600"}))
    with pytest.raises(errors.RateLimited) as caught:
        scripted_client.get_document(7)
    assert caught.value.retry_after == 3600 and caught.value.status == 429
    assert len(scripted.seen) == 1


@pytest.mark.parametrize(("status", "kind", "base"), [
    (404, errors.FicNotFound, base_errors.NotFound), (409, errors.FicConflict, base_errors.Conflict)])
def test_404_and_409_are_the_plugin_wide_errors_too(scripted, scripted_client, status, kind, base):
    scripted.queue(Answer(status, {"error": {"message": "Documento bloccato"}}))
    with pytest.raises(kind) as caught:
        scripted_client.modify_document(7, {"notes": "x"})
    assert isinstance(caught.value, base) and isinstance(caught.value, base_errors.FicError)
    assert caught.value.path == "/c/1/issued_documents/7" and caught.value.method == "PUT"
    assert len(scripted.seen) == 1


def test_422_carries_fic_message_verbatim_and_its_totals_and_is_not_retried(scripted, scripted_client):
    message = "Il totale dei pagamenti non corrisponde al totale da pagare."
    scripted.queue(Answer(422, {"error": {"message": message, "validation_result": None},
                                "extra": {"totals": {"amount_due": 610, "payments_sum": 579.5}}}))
    with pytest.raises(errors.ValidationFailed) as caught:
        scripted_client.create_document({"type": "invoice"})
    error = caught.value
    assert error.fic_message == message and message in str(error)
    assert error.extra["totals"]["payments_sum"] == Decimal("579.5")
    assert len(scripted.seen) == 1


def test_5xx_on_a_read_is_retried_with_backoff(scripted, scripted_client, records):
    scripted.queue(Answer(502, "<html>Bad gateway</html>"), Answer(503, {}), Answer(200, {"data": DOC}))
    assert scripted_client.get_document(7)["id"] == 7
    assert [r.status for r in records] == [502, 503, 200]


def test_5xx_on_a_read_gives_up_after_the_attempts(scripted, scripted_client):
    scripted.route("GET", "/c/1/issued_documents/7", Answer(500, {}))
    with pytest.raises(errors.FicUnavailable) as caught:
        scripted_client.get_document(7)
    assert not isinstance(caught.value, errors.OutcomeUnknown)
    assert len(scripted.seen) == FAST_BACKOFF.attempts


_FAILURES = {"5xx": Answer(500, {}), "timeout": Answer(200, {}, delay=1.5), "reset": Answer(drop=True),
             "garbage": Answer(200, "<html>Service temporarily unavailable</html>")}


# delete and email answer with an empty body, so garbage is only a failure for create and modify.
@pytest.mark.parametrize(("call", "failure"), [
    (call, failure) for call in ("create", "modify", "delete", "email") for failure in _FAILURES
    if failure != "garbage" or call in ("create", "modify")])
def test_writes_that_may_have_landed_raise_outcome_unknown_and_are_not_resent(scripted, scripted_client,
                                                                              call, failure):
    answer = _FAILURES[failure]
    scripted.queue(answer, Answer(200, {"data": DOC}))
    actions = {"create": lambda c: c.create_document({"type": "invoice"}),
               "modify": lambda c: c.modify_document(7, {"notes": "x"}),
               "delete": lambda c: c.delete_document(7),
               "email": lambda c: c.schedule_email(7, {"sender_id": 0, "recipient_email": "a@example.it"})}
    with pytest.raises(errors.OutcomeUnknown) as caught:
        actions[call](scripted_client)
    assert "before trying again" in str(caught.value)
    assert len(scripted.seen) == 1


def test_a_read_timeout_and_a_dropped_connection_on_a_read_are_retried(scripted, scripted_client):
    scripted.queue(Answer(200, {}, delay=1.5), Answer(drop=True), Answer(200, {"data": DOC}))
    assert scripted_client.get_document(7)["id"] == 7
    assert len(scripted.seen) == 3


def test_totals_compute_only_so_they_are_retried_like_reads(scripted, scripted_client):
    scripted.queue(Answer(503, {}), Answer(200, {"data": {"amount_due": 75}}))
    assert scripted_client.new_document_totals({"type": "invoice"}) == {"amount_due": Decimal("75")}
    assert [s.path for s in scripted.seen] == ["/c/1/issued_documents/totals"] * 2


def test_a_refused_connection_never_sent_anything_so_even_a_create_is_retried(records):
    client = FicClient(f"http://127.0.0.1:{free_port()}", TOKEN, 1, limits=RELAXED_LIMITS,
                       timeouts=FAST_TIMEOUTS, backoff=FAST_BACKOFF, on_request=records.append)
    with pytest.raises(errors.FicUnavailable) as caught:
        client.create_document({"type": "invoice"})
    assert not isinstance(caught.value, errors.OutcomeUnknown)
    assert caught.value.status is None and "could not be reached" in str(caught.value)
    assert [r.outcome for r in records] == ["fic_unavailable"] * FAST_BACKOFF.attempts


@pytest.mark.parametrize("body", ["<html><body>502 Bad Gateway</body></html>", b"", b"{not json"],
                         ids=["html", "empty", "invalid-json"])
def test_garbage_on_a_read_is_a_bad_response_after_retries(scripted, scripted_client, body):
    scripted.route("GET", "/c/1/info/payment_methods", Answer(200, body))
    with pytest.raises(errors.BadResponse) as caught:
        scripted_client.payment_methods()
    assert "not JSON" in str(caught.value) and caught.value.status == 200
    assert len(scripted.seen) == FAST_BACKOFF.attempts


def test_pagination_follows_last_page_and_keeps_the_filter(scripted, scripted_client):
    for page in (1, 2, 3):
        scripted.queue(Answer(200, {"current_page": page, "last_page": 3, "per_page": 2,
                                    "data": [{"id": page * 10 + 1}, {"id": page * 10 + 2}]}))
    query = "date >= '2025-01-01'"
    ids = [row["id"] for row in scripted_client.list_documents("invoice", q=query, per_page=2)]
    assert ids == [11, 12, 21, 22, 31, 32]
    assert [s.query["page"] for s in scripted.seen] == [["1"], ["2"], ["3"]]
    assert all(s.query["q"] == [query] and s.query["type"] == ["invoice"] for s in scripted.seen)


def test_email_list_is_paginated_too(scripted, scripted_client):
    scripted.queue(Answer(200, {"current_page": 1, "last_page": 2, "data": [{"id": 1}]}),
                   Answer(200, {"current_page": 2, "last_page": 2, "data": [{"id": 2}]}))
    assert [e["id"] for e in scripted_client.list_emails(sort="-id")] == [1, 2]
    assert scripted.seen[0].path == "/c/1/emails" and scripted.seen[1].query["sort"] == ["-id"]


def test_lookups_are_cached_until_the_ttl_passes(scripted):
    now = [1000.0]
    client = FicClient(scripted.url, TOKEN, 1, limits=RELAXED_LIMITS, backoff=FAST_BACKOFF,
                       lookup_ttl=600, clock=lambda: now[0])
    scripted.route("GET", "/c/1/info/vat_types", Answer(200, {"data": [{"id": 0, "value": 22}]}))
    scripted.route("GET", "/c/1/issued_documents/info", Answer(200, {"data": {"numerations": {}}}))
    assert client.vat_types() == [{"id": 0, "value": Decimal(22)}]
    client.document_info("invoice")
    before = client.request_count
    assert client.vat_types()[0]["id"] == 0
    client.document_info("invoice")
    assert client.request_count == before  # no request for the second look-ups
    client.document_info("quote")  # another type is another entry
    assert client.request_count == before + 1
    now[0] += 601
    client.vat_types()
    assert client.request_count == before + 2


def test_a_document_fic_refuses_makes_the_next_try_read_the_lookups_again(scripted):
    """The lists a refused document was built from may be stale (an account deleted in FiC, a VAT
    type disabled): kept for an hour otherwise, they are asked for again after a 422."""
    client = FicClient(scripted.url, TOKEN, 1, limits=RELAXED_LIMITS, backoff=FAST_BACKOFF)
    scripted.route("GET", "/c/1/info/vat_types", Answer(200, {"data": [{"id": 0, "value": 22}]}))
    client.vat_types()
    client.vat_types()
    assert [r.path for r in scripted.seen] == ["/c/1/info/vat_types"]  # kept
    scripted.queue(Answer(422, {"error": {"message": "Il conto di saldo non esiste.", "validation_result": None}}))
    with pytest.raises(errors.ValidationFailed):
        client.create_document({"type": "invoice"})
    client.vat_types()
    assert [r.path for r in scripted.seen] == ["/c/1/info/vat_types", "/c/1/issued_documents",
                                               "/c/1/info/vat_types"]


def test_headers_saying_no_quota_is_left_hold_back_the_next_request(scripted):
    limits = RateLimits(hourly=1000, hour_seconds=60, short_term=1000, short_seconds=60, max_wait=0.5)
    client = FicClient(scripted.url, TOKEN, 1, limits=limits, backoff=FAST_BACKOFF)
    scripted.queue(Answer(200, {"data": DOC}, headers={"RateLimit-HourlyRemaining": "0"}))
    client.get_document(7)
    with pytest.raises(errors.RateLimited) as caught:
        client.get_document(7)
    assert 50 < caught.value.retry_after <= 60
    assert len(scripted.seen) == 1  # held back by the pacer, FiC never saw it


def test_429_with_retry_after_2_is_waited_out_then_succeeds(scripted, scripted_client, records):
    scripted.queue(Answer(429, {"error": {"message": "Too many requests"}}, headers={"Retry-After": "2"}),
                   Answer(200, {"data": DOC}))
    started = time.monotonic()
    assert scripted_client.get_document(7)["id"] == 7
    assert time.monotonic() - started >= 2.0
    assert [(r.status, r.outcome) for r in records] == [(429, "fic_rate_limited"), (200, "ok")]
