"""The sandbox's side channel: injected faults, FiC's quotas, stats, OAuth, concurrency and the
way it starts and refuses a busy port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlparse

import pytest
import requests

from fic_plugin.errors import FicError
from fic_plugin.i18n import language
from fic_sandbox.app import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from fic_sandbox.server import SandboxServer
from shoptest import reset_sandbox

AUTH = {"Authorization": "Bearer test-token"}
DOC = {"data": {"entity": {"name": "Mario Rossi"}, "items_list": [{"name": "Tazza", "net_price": 10}]}}


#: A sandbox of this module's own (tests/conftest.py): its knobs stay here.
OWN_SANDBOX: dict = {}


@pytest.fixture(autouse=True)
def clean(sandbox):
    reset_sandbox(sandbox, "faults", "limits")
    yield
    for path in ("faults", "limits"):
        requests.delete(f"{sandbox.url}/__sandbox__/{path}", timeout=5)


def faults(sandbox, **settings):
    answer = requests.post(f"{sandbox.url}/__sandbox__/faults", json=settings, timeout=5)
    answer.raise_for_status()
    return answer.json()


def limits(sandbox, **settings):
    requests.post(f"{sandbox.url}/__sandbox__/limits", json=settings, timeout=5).raise_for_status()


def create(sandbox, timeout=5):
    return requests.post(f"{sandbox.url}/c/1/issued_documents", json=DOC, headers=AUTH, timeout=timeout)


def vat_types(sandbox):
    return requests.get(f"{sandbox.url}/c/1/info/vat_types", headers=AUTH, timeout=5)


def documents(sandbox):
    return requests.get(f"{sandbox.url}/__sandbox__/documents", timeout=5).json()["data"]


def stats(sandbox):
    return requests.get(f"{sandbox.url}/__sandbox__/stats", timeout=5).json()


def test_error_fault_is_a_5xx_before_anything_happens(sandbox):
    faults(sandbox, error_rate=1.0)
    answer = create(sandbox)
    assert answer.status_code == 500 and "error" in answer.json()
    assert documents(sandbox) == []
    # The side channel is never faulted.
    assert requests.get(f"{sandbox.url}/__sandbox__/stats", timeout=5).status_code == 200


def test_reset_fault_closes_the_connection_without_an_answer(sandbox):
    faults(sandbox, reset_rate=1.0)
    with pytest.raises(requests.exceptions.ConnectionError):
        create(sandbox)
    assert documents(sandbox) == []
    assert stats(sandbox)["dropped"] == 1


def test_rate_limit_fault_is_429_with_retry_after(sandbox):
    faults(sandbox, rate_limit_rate=1.0)
    answer = vat_types(sandbox)
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "1"
    assert answer.headers["RateLimit-HourlyLimit"] == "1000"
    assert answer.json()["error"]["message"]


@pytest.mark.parametrize("kind", ["html", "empty", "invalid_json"])
def test_garbage_faults(sandbox, kind):
    faults(sandbox, garbage_rate=1.0, garbage_kind=kind)
    answer = vat_types(sandbox)
    if kind == "html":
        assert answer.status_code == 502 and answer.headers["Content-Type"].startswith("text/html")
    else:
        assert answer.status_code == 200
        with pytest.raises(ValueError):
            answer.json()


def test_timeout_after_commit_applies_the_request_but_never_answers(sandbox):
    faults(sandbox, timeout_after_commit_rate=1.0, hang_seconds=1.5)
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        create(sandbox, timeout=0.5)
    assert time.monotonic() - started < 1.5
    time.sleep(0.1)
    assert len(documents(sandbox)) == 1  # committed all the same
    time.sleep(1.2)  # once the hang is over the connection is dropped and counted
    assert stats(sandbox)["faults"]["timeout_after_commit"] == 1


def test_latency(sandbox):
    faults(sandbox, latency_ms=300)
    started = time.monotonic()
    assert vat_types(sandbox).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_faults_are_deterministic_with_a_seed(sandbox):
    def run():
        faults(sandbox, error_rate=0.5, seed=7)
        return [vat_types(sandbox).status_code for _ in range(16)]

    first = run()
    assert set(first) == {200, 500}
    assert run() == first


def test_bad_fault_settings_are_refused(sandbox):
    assert requests.post(f"{sandbox.url}/__sandbox__/faults", json={"error_rate": 2}, timeout=5).status_code == 422
    assert requests.post(f"{sandbox.url}/__sandbox__/faults", json={"nonsense": 1}, timeout=5).status_code == 422


def test_quota_headers_are_always_sent(sandbox):
    first, second = vat_types(sandbox), vat_types(sandbox)
    assert first.headers["RateLimit-HourlyLimit"] == "1000" and first.headers["RateLimit-MonthlyLimit"] == "40000"
    assert int(second.headers["RateLimit-HourlyRemaining"]) == int(first.headers["RateLimit-HourlyRemaining"]) - 1


def test_hourly_quota_is_403_with_retry_after_and_resets_with_the_window(sandbox):
    limits(sandbox, hourly=3, hour_seconds=1, short_term=100, short_seconds=60, monthly=1000)
    answers = [vat_types(sandbox) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 403]
    assert answers[2].headers["RateLimit-HourlyRemaining"] == "0"
    assert 1 <= int(answers[3].headers["Retry-After"]) <= 1
    assert answers[3].json()["error"]["message"]
    time.sleep(1.05)
    assert vat_types(sandbox).status_code == 200
    assert stats(sandbox)["forbidden_403"] == 1


def test_short_term_quota_is_429_and_monthly_is_403(sandbox):
    limits(sandbox, hourly=100, short_term=2, short_seconds=30, monthly=1000)
    codes = [vat_types(sandbox).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    refused = vat_types(sandbox)
    assert 1 <= int(refused.headers["Retry-After"]) <= 30
    assert stats(sandbox)["rate_limited_429"] == 2
    limits(sandbox, hourly=100, short_term=100, monthly=1)
    assert [vat_types(sandbox).status_code for _ in range(2)] == [200, 403]
    requests.delete(f"{sandbox.url}/__sandbox__/limits", timeout=5)
    assert vat_types(sandbox).status_code == 200


def test_concurrent_creates_never_share_a_number(sandbox):
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: create(sandbox), range(32)))
    assert {a.status_code for a in answers} == {200}
    numbers = sorted(a.json()["data"]["number"] for a in answers)
    assert numbers == list(range(1, 33))


def test_lock_endpoint_and_reset(sandbox):
    doc = create(sandbox).json()["data"]
    answer = requests.post(f"{sandbox.url}/__sandbox__/documents/{doc['id']}/lock",
                           json={"locked": True, "ei_status": "accepted"}, timeout=5).json()
    assert answer == {"id": doc["id"], "locked": True, "ei_status": "accepted"}
    requests.post(f"{sandbox.url}/__sandbox__/reset", timeout=5).raise_for_status()
    assert documents(sandbox) == []
    assert create(sandbox).json()["data"]["number"] == 1


# --- OAuth ------------------------------------------------------------------------------------


def test_oauth_code_and_refresh_flow_against_a_token_protected_sandbox():
    with SandboxServer(token="only-this") as server:
        redirect = "http://127.0.0.1:9/callback"
        authorize = requests.get(f"{server.url}/oauth/authorize", allow_redirects=False, timeout=5, params={
            "response_type": "code", "client_id": DEFAULT_CLIENT_ID, "redirect_uri": redirect,
            "scope": "issued_documents.invoices:a settings:r", "state": "xyz"})
        assert authorize.status_code == 302
        location = urlparse(authorize.headers["Location"])
        query = parse_qs(location.query)
        assert f"{location.scheme}://{location.netloc}{location.path}" == redirect and query["state"] == ["xyz"]
        exchange = {"grant_type": "authorization_code", "client_id": DEFAULT_CLIENT_ID,
                    "client_secret": DEFAULT_CLIENT_SECRET, "redirect_uri": redirect, "code": query["code"][0]}
        tokens = requests.post(f"{server.url}/oauth/token", json=exchange, timeout=5).json()
        assert tokens["access_token"].startswith("a/") and tokens["refresh_token"].startswith("r/")
        assert tokens["token_type"] == "bearer" and tokens["expires_in"] > 0
        url = f"{server.url}/c/1/info/vat_types"
        assert requests.get(url, headers={"Authorization": f"Bearer {tokens['access_token']}"},
                            timeout=5).status_code == 200
        reused = requests.post(f"{server.url}/oauth/token", json=exchange, timeout=5)
        assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
        refresh = {"grant_type": "refresh_token", "client_id": DEFAULT_CLIENT_ID,
                   "client_secret": DEFAULT_CLIENT_SECRET, "refresh_token": tokens["refresh_token"]}
        renewed = requests.post(f"{server.url}/oauth/token", json=refresh, timeout=5).json()
        assert renewed["access_token"].startswith("a/") and renewed["refresh_token"] != tokens["refresh_token"]
        assert requests.post(f"{server.url}/oauth/token", json=refresh, timeout=5).status_code == 400


@pytest.mark.parametrize("change, status, error", [
    ({"code": None}, 400, "invalid_request"),
    ({"client_secret": "wrong-secret"}, 401, "invalid_client"),
    ({"grant_type": "password"}, 400, "unsupported_grant_type"),
    ({"code": "c/not-issued"}, 400, "invalid_grant"),
])
def test_oauth_errors_have_fic_shape_and_no_secrets(sandbox, change, status, error):
    body = {"grant_type": "authorization_code", "client_id": DEFAULT_CLIENT_ID,
            "client_secret": DEFAULT_CLIENT_SECRET, "redirect_uri": "http://127.0.0.1:9/cb", "code": "c/x"}
    body.update(change)
    answer = requests.post(f"{sandbox.url}/oauth/token", json={k: v for k, v in body.items() if v}, timeout=5)
    assert answer.status_code == status
    assert set(answer.json()) == {"error", "error_description"} and answer.json()["error"] == error
    assert DEFAULT_CLIENT_SECRET not in answer.text and "wrong-secret" not in answer.text


def test_oauth_is_never_faulted(sandbox):
    faults(sandbox, error_rate=1.0)
    answer = requests.post(f"{sandbox.url}/oauth/token", json={"grant_type": "refresh_token"}, timeout=5)
    assert answer.status_code == 400


# --- starting ---------------------------------------------------------------------------------


def test_busy_port_is_a_clear_fic_error():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        with language("en"), pytest.raises(FicError, match=f"Port {port} is already in use"):
            SandboxServer(port=port).start()
        cli = subprocess.run([sys.executable, "-m", "fic_plugin.cli", "sandbox", "--port", str(port)],
                             capture_output=True, text=True, timeout=30)
        assert cli.returncode != 0
        assert f"{port}" in cli.stderr and len(cli.stderr.strip().splitlines()) == 1


def test_fic_sandbox_command_prints_its_url_and_serves(tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-m", "fic_plugin.cli", "sandbox", "--port", "0",
                                "--state", str(tmp_path / "sandbox.db")],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        line = process.stdout.readline()
        url = next(word for word in line.split() if word.startswith("http://")).rstrip(";,")
        assert requests.get(f"{url}/c/1/info/vat_types", headers=AUTH, timeout=5).status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert (tmp_path / "sandbox.db").exists()
