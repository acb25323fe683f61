"""The sandbox with many companies: each ``/c/{cid}`` its own books, numbering and quota; FiC's
quotas compressed by a time scale, and a latency knob."""

from __future__ import annotations

import pytest
import requests

from fic_sandbox.server import SandboxServer

DOC = {"data": {"entity": {"name": "Mario Rossi"}, "items_list": [{"name": "Tazza", "net_price": 10}]}}


@pytest.fixture
def sandbox():
    with SandboxServer(many_companies=True) as server:
        yield server


def create(sandbox, cid):
    return requests.post(f"{sandbox.url}/c/{cid}/issued_documents", json=DOC, timeout=5)


def side(sandbox, path, **params):
    return requests.get(f"{sandbox.url}/__sandbox__/{path}", params=params, timeout=5).json()


def test_every_company_has_its_own_books_and_numbering(sandbox):
    numbers = {cid: [create(sandbox, cid).json()["data"]["number"] for _ in range(n)]
               for cid, n in ((1, 2), (7, 3), (12345, 1))}
    assert numbers == {1: [1, 2], 7: [1, 2, 3], 12345: [1]}
    listed = requests.get(f"{sandbox.url}/c/7/issued_documents", params={"type": "invoice"}, timeout=5).json()
    assert [d["number"] for d in listed["data"]] == [1, 2, 3]
    assert len(side(sandbox, "documents", company_id=7)["data"]) == 3
    assert len(side(sandbox, "documents")["data"]) == 2  # company 1, as before
    document = listed["data"][0]
    assert f"/__sandbox__/print/7/{document['id']}" in document["url"]
    assert requests.get(document["url"], timeout=5).status_code == 200


def test_each_company_has_its_own_quota_compressed_by_the_time_scale(sandbox):
    answer = requests.post(f"{sandbox.url}/__sandbox__/limits", json={"time_scale": 60, "hourly": 2}, timeout=5)
    assert answer.json()["hour_seconds"] == 60 and answer.json()["short_seconds"] == 5
    assert [create(sandbox, 5).status_code for _ in range(3)] == [200, 200, 403]
    assert create(sandbox, 6).status_code == 200  # another company is not touched by 5's quota
    rows = {row["company_id"]: row for row in side(sandbox, "companies")["data"]}
    assert rows[5]["hour_windows"] == [2] and rows[5]["forbidden_403"] == 1 and rows[6]["hour_windows"] == [1]
    assert side(sandbox, "stats")["requests"] == 4  # the whole sandbox's counters add every company's


def test_latency_knob_is_reported_and_unknown_keys_refused(sandbox):
    answer = requests.post(f"{sandbox.url}/__sandbox__/limits", json={"latency_ms": 150, "time_scale": 60},
                           timeout=5).json()
    assert answer["latency_ms"] == 150 and answer["hourly"] == 1000 and answer["short_term"] == 300
    assert create(sandbox, 3).status_code == 200
    bad = requests.post(f"{sandbox.url}/__sandbox__/limits", json={"time_scale": 0}, timeout=5)
    assert bad.status_code == 422


def test_without_many_companies_another_company_is_403():
    with SandboxServer() as server:
        assert create(server, 2).status_code == 403
        assert requests.get(f"{server.url}/__sandbox__/documents", params={"company_id": 2}, timeout=5
                            ).status_code == 404
