"""FiC settles the totals: documents are created with ``fix_payments``, FiC's figures are stored,
and a difference from what the shop charged is shown in words, never as a phantom amount due."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal

import pytest

from fic_plugin import hookimpl
from fic_plugin.documents import Documents
from fic_plugin.reporting import status_report
from fic_plugin.web.panel import render_panel
from shoptest import TEST_TOKEN, fic_documents, make_order, order_total, sandbox_call

pytestmark = pytest.mark.usefixtures("english")


class CentMore:
    """A plugin that changes a price after the plugin computed the totals (FiC then disagrees)."""

    @hookimpl
    def fic_document_payload(self, order, document_type, payload):
        payload["items_list"][0]["net_price"] += Decimal("0.01")


@pytest.fixture
def cent_more(fic):
    plugin = CentMore()
    fic.pm.register(plugin)
    yield
    fic.pm.unregister(plugin)


def test_a_document_whose_fic_total_differs_is_created_with_fics_figures(fic, shop, sandbox, cent_more):
    order = shop.add(make_order("1", paid=True))
    document = Documents(fic).create("1", "invoice")
    [remote] = fic_documents(sandbox)
    charged = order_total(order)
    assert document.charged == charged
    assert document.amount_gross == Decimal(str(remote["amount_gross"])) == charged + Decimal("0.02")
    assert document.amount_due == Decimal(str(remote["amount_due"]))
    # The order is paid: FiC's one instalment is paid, locally it is paid — no phantom "da pagare".
    assert [p["status"] for p in remote["payments_list"]] == ["paid"]
    assert document.status == "paid"
    words = f"FiC total {document.amount_gross:.2f}".replace(".", ",")
    assert any(words in row["outcome"] for row in fic.store.audit_log("1") if row["action"] == "totals")
    assert words in status_report(fic, "1")["text"]
    assert "collected" in [r for r in fic.store.audit_log("1") if r["action"] == "totals"][0]["outcome"]
    assert words in render_panel(fic, order, lang="en")


def test_a_payment_sync_on_a_paid_order_never_leaves_a_cent_due(fic, shop, sandbox, cent_more):
    shop.add(make_order("1"))
    document = Documents(fic).create("1", "invoice")
    assert document.status == "not_paid"
    shop.add(make_order("1", paid=True))  # paid what the shop charged, a cent or two less than FiC
    synced = Documents(fic).sync_payments("1")
    [remote] = fic_documents(sandbox)
    assert synced.status == "paid"
    assert [p["status"] for p in remote["payments_list"]] == ["paid"]
    assert sum(Decimal(str(p["amount"])) for p in remote["payments_list"]) == Decimal(str(remote["amount_due"]))


def test_equal_totals_say_nothing(fic, shop):
    order = shop.add(make_order("1", paid=True))
    document = Documents(fic).create("1", "invoice")
    assert document.amount_gross == document.charged and not document.total_differs
    assert not [r for r in fic.store.audit_log("1") if r["action"] == "totals"]
    assert "FiC total" not in render_panel(fic, order, lang="en")


def test_preview_asks_fic_and_creates_nothing(fic, shop, sandbox):
    order = shop.add(make_order("1"))
    Documents(fic).preview_totals("1", "invoice")  # FiC's VAT types and payment methods, cached
    before = sandbox_requests(sandbox)
    preview = Documents(fic).preview_totals("1", "invoice")
    assert Decimal(str(preview["fic"]["amount_gross"])) == preview["charged"] == order_total(order)
    assert sandbox_requests(sandbox) - before == 1  # one request: POST …/issued_documents/totals
    assert fic_documents(sandbox) == [] and fic.store.documents() == []


def test_fic_doc_preview_prints_fics_totals(tmp_path, sandbox):
    from fic_demo.shop import DemoShop

    env = {key: value for key, value in os.environ.items() if key != "FIC_SHOP_DB"}
    env.update(FIC_API_URL=sandbox.url, FIC_ACCESS_TOKEN=TEST_TOKEN, FIC_COMPANY_ID="1")
    db = tmp_path / "shop.db"
    DemoShop(db)  # the reference shop, seeded; its mappings are filled only when asked:
    fic_cli = [sys.executable, "-m", "fic_plugin.cli", "--db", str(db)]
    subprocess.run([*fic_cli, "settings", "suggest-mappings", "--apply"], check=True, capture_output=True,
                   timeout=60, cwd=tmp_path, env=env)
    before = len(fic_documents(sandbox))
    result = subprocess.run([*fic_cli, "doc", "preview", "1", "--type", "invoice"],
                            capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert "Totale FiC 241,55 €" in result.stdout and "da pagare" in result.stdout
    assert len(fic_documents(sandbox)) == before


def sandbox_requests(sandbox) -> int:
    return sandbox_call(sandbox, "GET", "/__sandbox__/stats")["requests"]
