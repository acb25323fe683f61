"""The "test" SMS provider sends nothing and says so in the log; the sandbox keeps an SMS log
(``/__sandbox__/sms``) the demo fills, so SMS can be tried end to end without an account."""

from __future__ import annotations

import logging

import requests

from fic_plugin.model import SmsMessage
from fic_plugin.settings import Settings
from fic_plugin.sms import TestProvider, provider_from_settings


def test_the_test_provider_only_logs(caplog, tmp_path):
    from fic_plugin.store import Store

    provider = provider_from_settings(Settings(sms_provider="test"), Store(tmp_path / "s.db"))
    assert isinstance(provider, TestProvider)
    with caplog.at_level(logging.INFO, logger="fic_plugin.sms"):
        sent = provider.send(SmsMessage(to="+393331234567", sender="Bottega", text="Ciao"))
    assert sent.channel == "sms" and sent.provider == "test" and sent.to == ("+393331234567",)
    assert "not sent" in caplog.text and "+393331234567" in caplog.text


def test_the_sandbox_keeps_an_sms_log_until_reset(sandbox):
    requests.post(sandbox.url + "/__sandbox__/reset", timeout=5).raise_for_status()
    posted = requests.post(sandbox.url + "/__sandbox__/sms", timeout=5,
                           json={"to": "+393331234567", "sender": "Bottega", "text": "Ciao", "order_id": "7"})
    assert posted.status_code == 200
    [row] = requests.get(sandbox.url + "/__sandbox__/sms", timeout=5).json()["data"]
    assert (row["to"], row["sender"], row["text"], row["order_id"]) == ("+393331234567", "Bottega", "Ciao", "7")
    assert requests.post(sandbox.url + "/__sandbox__/sms", json={"text": "x"}, timeout=5).status_code == 422
    requests.post(sandbox.url + "/__sandbox__/reset", timeout=5).raise_for_status()
    assert requests.get(sandbox.url + "/__sandbox__/sms", timeout=5).json()["data"] == []
