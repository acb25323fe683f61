"""The FiC client's own cost, and how many FiC requests an automatic invoice costs.

Client overhead: issuing a document (create) and sending it (email), N times, against the local
sandbox (its own process, quotas out of the way), three ways in the same run and interleaved so
that the sandbox's growing state weighs on all alike:

* ``floor``: a bare ``requests.Session().post`` of the prebuilt JSON bytes to the same URLs;
* ``plugin``: ``FicClient.create_document`` + ``FicClient.schedule_email`` (encoding, pacing,
  retry policy, error mapping, audit callback included);
* ``sdk``: the official ``fattureincloud-python-sdk`` (request models prebuilt outside the timing);
* ``urllib3``: the same bytes through urllib3 alone, the layer under requests and under the SDK.

Requests per order: ``fic sync --once`` over N fresh paid orders; the audit log (every FiC call,
filed under its order) says which calls each order cost and what the worker looked up at start.
"""

from __future__ import annotations

import json
import statistics
import time
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import requests
import urllib3
from bench_inprocess import percentile
from campaign import (
    CUSTOMER,
    PAYMENT_MAPPING,
    PRODUCTS,
    SHIPPING,
    TOKEN,
    VAT_MAPPING,
    SandboxProcess,
    create_shop,
    read_db,
    start_worker,
    worker_env,
)

EMAIL = {"sender_id": 0, "recipient_email": "mario.rossi@example.it", "subject": "Fattura n. {n}",
         "body": "<p>Gentile Mario Rossi,</p><p>in allegato la fattura.</p><p>{{allegati}}</p>",
         "include": {"document": True, "delivery_note": False, "attachment": False, "accompanying_invoice": False},
         "attach_pdf": True, "send_copy": False}


def invoice_data() -> dict[str, Any]:
    """What the plugin sends for the benchmark shop's order (payload.build_document)."""
    from fic_plugin.model import Customer, Line, Order, Payment
    from fic_plugin.payload import build_document, expected_totals
    from fic_plugin.settings import Settings

    lines = [Line(name=n, qty=q, unit_price=p, vat_rate=r, discount=d) for n, q, p, r, d in PRODUCTS]
    lines.append(Line(name="Spedizione", qty=1, unit_price=SHIPPING, vat_rate="22", kind="shipping"))
    settings = Settings.from_mapping({"vat_mapping": VAT_MAPPING, "payment_mapping": PAYMENT_MAPPING})
    order = Order(id="1", number="B-000001", customer=Customer(**CUSTOMER), lines=lines)
    total = expected_totals(order, settings).amount_due
    order = Order(id="1", number="B-000001", customer=Customer(**CUSTOMER), lines=lines,
                  payments=(Payment(amount=total),))
    return build_document(order, "invoice", settings, today=date.today(), marker="fic-plugin:bench")


def client_overhead(workdir: Path, calls: int = 500) -> dict[str, Any]:
    import fattureincloud_python_sdk as sdk

    from fic_plugin.fic.client import FicClient
    from fic_plugin.fic.ratelimit import RateLimits
    from fic_plugin.fic.transport import encode_json

    data = invoice_data()
    body = encode_json({"data": data})
    email_body = json.dumps({"data": EMAIL}).encode()
    kinds = ("floor", "plugin", "sdk", "urllib3")
    times: dict[str, dict[str, list[float]]] = {k: {"create": [], "email": []} for k in kinds}
    with SandboxProcess(workdir) as sandbox:
        sandbox.limits_off()
        base = f"{sandbox.url}/c/1"
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json",
                   "Accept": "application/json"}
        session = requests.Session()
        client = FicClient(sandbox.url, TOKEN, 1, limits=RateLimits(hourly=10**8, short_term=10**8),
                           on_request=lambda record: None)
        config = sdk.Configuration(host=sandbox.url, access_token=TOKEN)
        api = sdk.IssuedDocumentsApi(sdk.ApiClient(config))
        # The SDK's models take floats (as its users pass them); built once, outside the timing.
        sdk_create = sdk.CreateIssuedDocumentRequest.from_dict(json.loads(body))
        sdk_email = sdk.ScheduleEmailRequest.from_dict({"data": EMAIL})

        def floor() -> None:
            started = time.perf_counter_ns()
            answer = session.post(f"{base}/issued_documents", data=body, headers=headers, timeout=30)
            answer.raise_for_status()
            document_id = answer.json()["data"]["id"]
            middle = time.perf_counter_ns()
            session.post(f"{base}/issued_documents/{document_id}/email", data=email_body, headers=headers,
                         timeout=30).raise_for_status()
            ended = time.perf_counter_ns()
            times["floor"]["create"].append((middle - started) / 1e6)
            times["floor"]["email"].append((ended - middle) / 1e6)

        pool = urllib3.PoolManager()

        def bare_urllib3() -> None:
            started = time.perf_counter_ns()
            answer = pool.request("POST", f"{base}/issued_documents", body=body, headers=headers)
            document_id = json.loads(answer.data)["data"]["id"]
            middle = time.perf_counter_ns()
            pool.request("POST", f"{base}/issued_documents/{document_id}/email", body=email_body, headers=headers)
            ended = time.perf_counter_ns()
            times["urllib3"]["create"].append((middle - started) / 1e6)
            times["urllib3"]["email"].append((ended - middle) / 1e6)

        def plugin() -> None:
            started = time.perf_counter_ns()
            document_id = client.create_document(data)["id"]
            middle = time.perf_counter_ns()
            client.schedule_email(document_id, EMAIL)
            ended = time.perf_counter_ns()
            times["plugin"]["create"].append((middle - started) / 1e6)
            times["plugin"]["email"].append((ended - middle) / 1e6)

        def official() -> None:
            started = time.perf_counter_ns()
            document_id = api.create_issued_document(1, sdk_create).data.id
            middle = time.perf_counter_ns()
            api.schedule_email(1, document_id, sdk_email)
            ended = time.perf_counter_ns()
            times["sdk"]["create"].append((middle - started) / 1e6)
            times["sdk"]["email"].append((ended - middle) / 1e6)

        variants = (floor, plugin, official, bare_urllib3)
        for run in variants:  # warm up connections and imports
            run()
        for kind in times:
            times[kind] = {"create": [], "email": []}
        for _ in range(calls):
            for run in variants:
                run()
        created = len(sandbox.documents())
    result: dict[str, Any] = {"calls": calls, "documents_created": created}
    for kind, parts in times.items():
        pair = [c + e for c, e in zip(parts["create"], parts["email"], strict=True)]
        result[kind] = {"create_p50": statistics.median(parts["create"]), "email_p50": statistics.median(parts["email"]),
                        "pair_p50": statistics.median(pair), "pair_mean": statistics.fmean(pair),
                        "pair_p99": percentile(pair, 99)}
    result["plugin_vs_floor"] = result["plugin"]["pair_p50"] / result["floor"]["pair_p50"]
    result["sdk_vs_floor"] = result["sdk"]["pair_p50"] / result["floor"]["pair_p50"]
    result["plugin_vs_sdk"] = result["plugin"]["pair_p50"] / result["sdk"]["pair_p50"]
    return result


def _kind(method: str, path: str) -> str:
    if "/info/" in path:
        return f"lookup {path.rsplit('/', 1)[-1]}"
    if path.endswith("/email"):
        return f"{method} email"
    if path.endswith("/issued_documents"):
        return f"{method} issued_documents"
    return f"{method} {path}"


def requests_per_order(workdir: Path, orders: int = 50) -> dict[str, Any]:
    """FiC requests per automatically invoiced order, and lookups per worker start."""
    db = workdir / "per_order.db"
    with SandboxProcess(workdir) as sandbox:
        sandbox.limits_off()
        create_shop(db, orders, sandbox_url=sandbox.url)
        worker = start_worker(db, worker_env(sandbox.url), once=True)
        assert worker.wait(600) == 0
        served = sandbox.stats()["requests"]
    calls = read_db(db, "SELECT order_id, method, path FROM fic_audit WHERE action = 'fic_request'")
    kinds = Counter(_kind(method, path) for _order, method, path in calls)
    lookups = sum(n for kind, n in kinds.items() if kind.startswith("lookup"))
    per_order = Counter(order for order, method, path in calls if "/info/" not in path)
    invoiced = read_db(db, "SELECT COUNT(*) FROM fic_documents WHERE fic_id IS NOT NULL")[0][0]
    return {"orders": orders, "invoiced": invoiced, "requests": len(calls), "served_by_sandbox": served,
            "per_order": (len(calls) - lookups) / orders, "per_order_max": max(per_order.values()),
            "lookups_per_worker_start": lookups, "by_kind": dict(sorted(kinds.items()))}
