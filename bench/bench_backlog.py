"""A backlog of paid orders without documents, worked off by ``fic sync`` (a subprocess).

Without quotas (the sandbox's limits far above the load): orders per second and the worker's
peak resident memory, for two backlog sizes; memory should not grow with the backlog.

At FiC's limits, compressed in time (1,000 requests an "hour" of 60 s, 300 per 5 s): the worker
is told the same limits (``FIC_RATE_*``) and must use what FiC allows — requests accepted in the
first windows ÷ what the windows allow ≥ 0.95 — without a single 429 or 403.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from campaign import (
    SandboxProcess,
    create_shop,
    end_state,
    kill9,
    start_worker,
    wait_with_peak_rss,
    worker_env,
)

#: FiC's quotas (1,000/hour, 300 per 5 minutes), an hour compressed into a minute.
WINDOW_SECONDS = 60.0
HOURLY = 1000
SHORT_TERM = 300
SHORT_SECONDS = 5.0
#: The same quotas told to the workers, as the client reads them.
RATE_ENV = {"FIC_RATE_HOURLY": str(HOURLY), "FIC_RATE_HOUR_SECONDS": str(WINDOW_SECONDS),
            "FIC_RATE_SHORT_TERM": str(SHORT_TERM), "FIC_RATE_SHORT_SECONDS": str(SHORT_SECONDS)}


def backlog(workdir: Path, orders: int) -> dict[str, Any]:
    """``fic sync --once`` over ``orders`` paid orders: throughput, peak RSS, the end state."""
    folder = workdir / f"backlog-{orders}"
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "shop.db"
    with SandboxProcess(folder) as sandbox:
        sandbox.limits_off()
        create_shop(db, orders, sandbox_url=sandbox.url)
        started = time.monotonic()
        worker = start_worker(db, worker_env(sandbox.url), once=True)
        code, peak_kib = wait_with_peak_rss(worker)
        seconds = time.monotonic() - started
        counts = end_state(db, sandbox.documents(), sandbox.emails(), orders)
        stats = sandbox.stats()
    return {"orders": orders, "exit_code": code, "seconds": seconds, "orders_per_second": orders / seconds,
            "requests_per_second": stats["requests"] / seconds, "peak_rss_mib": peak_kib / 1024,
            "invoices": counts.invoices, "emails": counts.emails, "problems": counts.problems}


def rate_limited(workdir: Path, windows: int = 2, orders: int | None = None) -> dict[str, Any]:
    """Requests FiC accepted in the first ``windows`` windows vs what they allow; 429s and 403s."""
    orders = orders or windows * HOURLY // 2 + 200  # ~2 requests per order: more work than allowed
    folder = workdir / "rate-limited"
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "shop.db"
    with SandboxProcess(folder) as sandbox:
        create_shop(db, orders, sandbox_url=sandbox.url)
        env = worker_env(sandbox.url, rate=RATE_ENV)
        before = sandbox.stats()["requests"]
        # The sandbox's fixed windows start now; the worker's own (sliding) start at its first request.
        sandbox.call("POST", "/__sandbox__/limits", json={
            "hourly": HOURLY, "hour_seconds": WINDOW_SECONDS, "short_term": SHORT_TERM,
            "short_seconds": SHORT_SECONDS, "monthly": 10**6})
        opened = time.monotonic()
        worker = start_worker(db, env, interval=0.5)
        timeline = []
        try:
            for window in range(1, windows + 1):
                time.sleep(max(0.0, opened + window * WINDOW_SECONDS - time.monotonic()))
                timeline.append(sandbox.stats())
        finally:
            kill9(worker)
    last = timeline[-1]
    accepted = last["requests"] - before - last["rate_limited_429"] - last["forbidden_403"]
    allowed = windows * HOURLY
    return {"orders": orders, "windows": windows, "window_seconds": WINDOW_SECONDS, "allowed": allowed,
            "accepted": accepted, "ratio": accepted / allowed, "per_window": [
                s["requests"] - before for s in timeline],
            "http_429": last["rate_limited_429"], "http_403": last["forbidden_403"]}


def shared_rate_limited(workdir: Path, windows: int = 2, workers: int = 3) -> dict[str, Any]:
    """Three ``fic sync`` workers and a loop of ``fic doc create`` (the CLI) on one company at FiC's
    compressed limits, each process told the limits: they share one budget through the shop
    database, so FiC must accept ≥ 95 % of what its windows allow and refuse nothing.

    Measured as FiC counts: the sandbox's own fixed windows (``/__sandbox__/companies``), from the
    first one that starts with the load already running (the window open while the processes
    start, each loading Python, is warm-up) through ``windows`` of them. FiC's windows start when
    FiC says, so time the pacer leaves unused between them counts too: the ratio is the requests
    FiC accepted over what it allows in the time those windows took, from the start of the first
    to the start of the one after the last.
    """
    import subprocess
    import threading

    from campaign import fic_command

    orders = (windows + 2) * HOURLY // 2 + 400
    folder = workdir / "rate-limited-shared"
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "shop.db"
    with SandboxProcess(folder) as sandbox:
        create_shop(db, orders, sandbox_url=sandbox.url)
        env = worker_env(sandbox.url, rate={**RATE_ENV, "FIC_RATE_MAX_WAIT": str(WINDOW_SECONDS * 2)})
        before = sandbox.stats()["requests"]
        sandbox.call("POST", "/__sandbox__/limits", json={
            "hourly": HOURLY, "hour_seconds": WINDOW_SECONDS, "short_term": SHORT_TERM,
            "short_seconds": SHORT_SECONDS, "monthly": 10**6})
        opened = time.monotonic()
        pool = [start_worker(db, env, interval=0.5) for _ in range(workers)]
        stop = threading.Event()
        cli_runs = []

        def cli_loop() -> None:
            order = orders
            while not stop.is_set() and order > 0:
                result = subprocess.run([*fic_command(), "--db", str(db), "doc", "create", str(order), "--type",
                                         "quote"], env=env, capture_output=True, timeout=WINDOW_SECONDS * 3)
                cli_runs.append(result.returncode)
                order -= 1

        def usage() -> dict:
            return sandbox.call("GET", "/__sandbox__/companies")["data"][0]

        loop = threading.Thread(target=cli_loop, daemon=True)
        loop.start()
        starts: list[float] = []  # when each window after the warm-up one was seen to open
        from_start: list[int] = []  # accepted by then, counted from the limits' setting (the old figure)
        seen = 1
        deadline = time.monotonic() + (windows + 3) * WINDOW_SECONDS
        try:
            while len(starts) < windows + 1 and time.monotonic() < deadline:
                time.sleep(0.05)
                now = usage()
                if len(from_start) < windows and time.monotonic() >= opened + (len(from_start) + 1) * WINDOW_SECONDS:
                    from_start.append(now["requests"] - before - now["rate_limited_429"] - now["forbidden_403"])
                if len(now["hour_windows"]) > seen:
                    starts.append(time.monotonic())
                    seen = len(now["hour_windows"])
            last = usage()
        finally:
            stop.set()
            for worker in pool:
                kill9(worker)
            loop.join(WINDOW_SECONDS * 3)
    counted = last["hour_windows"][1:1 + windows]
    accepted = sum(counted)
    complete = len(starts) == windows + 1
    span = starts[-1] - starts[0] if complete else float("nan")
    allowed = HOURLY * span / WINDOW_SECONDS if complete else windows * HOURLY
    return {"orders": orders, "workers": workers, "cli_runs": len(cli_runs), "windows": windows,
            "window_seconds": WINDOW_SECONDS, "span_seconds": span, "allowed": allowed, "accepted": accepted,
            "ratio": accepted / allowed if complete else 0.0, "per_window": counted,
            "warm_up": last["hour_windows"][0], "cli_failures": sum(1 for code in cli_runs if code != 0),
            "from_start": from_start,
            "http_429": last["rate_limited_429"], "http_403": last["forbidden_403"]}
