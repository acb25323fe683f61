"""The fault campaign of ``make chaos`` (bench/chaos.py), small enough for every test run.

Real processes: ``fic sandbox`` injecting 5xx, timeouts after commit, 429 with Retry-After and
connection resets; two ``fic sync`` workers, one killed with SIGKILL every ~30 finished jobs and
restarted. The end state must be what a calm run gives: one invoice per paid order in FiC, one
reference per order in the shop, one SdI send and one email per invoice, no duplicate, nothing
pending.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
ORDERS = 80


def load_chaos():
    sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location("chaos", BENCH / "chaos.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_small_fault_campaign_with_kill_9_ends_with_one_invoice_and_one_email_per_order(tmp_path):
    chaos = load_chaos()
    report = chaos.run_campaign(tmp_path, orders=ORDERS, kill_every=30, workers=2, seed=11,
                                deadline_seconds=150, log=lambda text: None)
    counts = report.counts
    assert report.kills >= 2
    faults = report.requests["by_status"]
    assert faults.get("500") and faults.get("429") and report.requests["dropped"]  # FiC did misbehave
    assert counts.problems == []
    assert (counts.invoices, counts.local_references, counts.emails) == (ORDERS, ORDERS, ORDERS)
    assert counts.sdi_sends == ORDERS  # e_invoice/send is not idempotent: once each, through it all
    assert (counts.duplicates, counts.pending_jobs, counts.failed_jobs) == (0, 0, 0)


def test_the_campaign_prints_its_counts_and_fails_loudly_when_one_is_off(tmp_path):
    """`make chaos` is read by people and CI: the counts are lines, a wrong one is exit 1.

    Ten orders without faults or kills pass; three orders with no time to run (a deadline of 0 s)
    leave invoices missing, and the script must say so.
    """
    chaos = load_chaos()
    ok = chaos.run_campaign(tmp_path / "ok", orders=10, kill_every=10**6, workers=1, faults={},
                            log=lambda text: None)
    assert ok.counts.ok and ok.lines()[:6] == ["invoices: 10", "local references: 10", "emails: 10",
                                               "sdi sends: 10", "duplicates: 0", "pending jobs: 0"]
    result = subprocess.run([sys.executable, str(BENCH / "chaos.py"), "--orders", "3", "--kill-every", "1000",
                             "--workers", "1", "--deadline", "0"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "invoices: 0" in result.stdout.splitlines() and "FAIL" in result.stdout.splitlines()
