"""The local FiC sandbox through real HTTP: documents, numbering, totals, payments, transform,
bin, locks, emails, lookups and tokens (faults and quotas: test_sandbox_faults.py)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import requests

from fic_sandbox import jsonio
from fic_sandbox.server import SandboxServer
from shoptest import reset_sandbox

AUTH = {"Authorization": "Bearer test-token"}


#: A sandbox of this module's own (tests/conftest.py): its knobs stay here.
OWN_SANDBOX: dict = {}


@pytest.fixture(autouse=True)
def clean(sandbox):
    reset_sandbox(sandbox)


class Fic:
    """Raw HTTP against the sandbox's FiC paths (not the plugin's client: that one is under test elsewhere)."""

    def __init__(self, sandbox):
        self.base = f"{sandbox.url}/c/{sandbox.company_id}"
        self.root = sandbox.url

    def __call__(self, method, path, **kwargs):
        kwargs.setdefault("headers", AUTH)
        if "json" in kwargs:  # Decimals go out as JSON numbers, never through float
            kwargs["data"] = jsonio.dumps(kwargs.pop("json"))
            kwargs["headers"] = {**kwargs["headers"], "Content-Type": "application/json"}
        return requests.request(method, self.base + path, timeout=10, **kwargs)

    def create(self, data, options=None):
        body = {"data": data}
        if options is not None:
            body["options"] = options
        return self("POST", "/issued_documents", json=body)

    def side(self, method, path, **kwargs):
        return requests.request(method, f"{self.root}/__sandbox__{path}", timeout=10, **kwargs)


@pytest.fixture
def fic(sandbox):
    return Fic(sandbox)


def decimal_json(response):
    return response.json(parse_float=Decimal)


def invoice(**overrides):
    data = {"type": "invoice", "entity": {"name": "Mario Rossi", "email": "mario@example.com"},
            "items_list": [{"name": "Tazza", "net_price": 10, "qty": 2, "vat": {"id": 0}}]}
    data.update(overrides)
    return data


def test_numbering_is_per_type_numeration_and_year(fic):
    numbers = [fic.create(invoice()).json()["data"]["number"] for _ in range(3)]
    assert numbers == [1, 2, 3]
    assert fic.create(invoice(numeration="/A")).json()["data"]["number"] == 1
    assert fic.create(invoice(type="proforma")).json()["data"]["number"] == 1
    assert fic.create(invoice(date="2024-12-31")).json()["data"]["number"] == 1
    assert fic.create(invoice()).json()["data"]["number"] == 4
    explicit = fic.create(invoice(number=10)).json()["data"]
    assert explicit["number"] == 10
    assert fic.create(invoice()).json()["data"]["number"] == 11


def test_explicit_clashing_number_is_409_in_fic_shape(fic):
    first = fic.create(invoice(number=7)).json()["data"]
    clash = fic.create(invoice(number=7))
    assert clash.status_code == 409
    assert "7" in clash.json()["error"]["message"]
    # The same number in another numeration or year is fine.
    assert fic.create(invoice(number=7, numeration="/B")).status_code == 200
    # Numbers are unique among live documents: once the first is in the bin, 7 is free again.
    assert fic("DELETE", f"/issued_documents/{first['id']}").status_code == 200
    assert fic.create(invoice(number=7)).status_code == 200


def test_gross_price_example_from_the_spec(fic):
    data = invoice(use_gross_prices=True,
                   items_list=[{"name": "Soggiorno", "gross_price": 75, "qty": 1, "vat": {"id": 3}}],
                   payments_list=[{"amount": 75, "due_date": "2025-01-31", "status": "not_paid"}])
    doc = decimal_json(fic.create(data))["data"]
    assert (doc["amount_net"], doc["amount_vat"], doc["amount_gross"]) == (
        Decimal("68.18"), Decimal("6.82"), Decimal("75"))
    assert doc["items_list"][0]["net_price"] == Decimal("68.18182")
    assert doc["url"].startswith(fic.root + "/__sandbox__/print/")
    page = requests.get(doc["url"], timeout=5)
    assert page.status_code == 200 and "Mario Rossi" in page.text and "75" in page.text


def test_rivalsa_example_totals(fic):
    data = invoice(use_gross_prices=True, rivalsa=20,
                   items_list=[{"name": "Consulenza", "gross_price": 75, "qty": 1, "vat": {"id": 3},
                                "apply_withholding_taxes": True}])
    totals = decimal_json(fic("POST", "/issued_documents/totals", json={"data": data}))["data"]
    assert totals["amount_net"] == Decimal("68.18")
    assert totals["amount_rivalsa"] == Decimal("13.64")
    assert totals["taxable_amount"] == totals["amount_net_with_rivalsa"] == Decimal("81.82")
    assert totals["amount_vat"] == Decimal("8.18")
    assert totals["amount_gross"] == totals["amount_due"] == Decimal("90")
    assert totals["vat_list"] == {"10": {"amount_net": Decimal("81.82"), "amount_vat": Decimal("8.18")}}


def test_vat_is_per_rate_and_stamp_duty_is_declared_not_charged(fic):
    items = [{"name": f"r{i}", "net_price": Decimal("0.33"), "qty": 1, "vat": {"id": 0}} for i in range(3)]
    items.append({"name": "esente", "net_price": 80, "qty": 1, "vat": {"id": 6}})
    totals = decimal_json(fic("POST", "/issued_documents/totals", json={"data": invoice(items_list=items)}))["data"]
    # 3 × 0.33 = 0.99 at 22% → 0.22 (per line it would be 3 × 0.07 = 0.21)
    assert totals["vat_list"]["22"] == {"amount_net": Decimal("0.99"), "amount_vat": Decimal("0.22")}
    declared = decimal_json(fic("POST", "/issued_documents/totals",
                                json={"data": invoice(items_list=items, stamp_duty=2)}))["data"]
    assert declared["stamp_duty"] == Decimal("2")
    assert declared["amount_due"] == declared["amount_gross"] == Decimal("81.21")


def test_payments_that_do_not_add_up_are_refused_like_fic(fic):
    bad = invoice(payments_list=[{"amount": 20, "due_date": "2025-02-01"}])  # 20 + 22% = 24.40 due
    response = fic.create(bad)
    assert response.status_code == 422
    body = decimal_json(response)
    assert body["error"]["message"] == "Il totale dei pagamenti non corrisponde al totale da pagare."
    assert body["extra"]["totals"]["amount_due"] == Decimal("24.4")
    assert body["extra"]["totals"]["payments_sum"] == Decimal("20")
    assert fic.side("GET", "/documents").json()["data"] == []
    # Amounts are rounded to the cent before the comparison.
    ok = invoice(payments_list=[{"amount": Decimal("24.404"), "due_date": "2025-02-01"}])
    assert fic.create(ok).status_code == 200


def test_fix_payments_sets_the_last_instalment(fic):
    data = invoice(payments_list=[{"amount": 10, "due_date": "2025-02-01", "status": "paid",
                                   "paid_date": "2025-01-15", "payment_account": {"id": 1}},
                                  {"amount": 1, "due_date": "2025-03-01"}])
    doc = decimal_json(fic.create(data, {"fix_payments": True}))["data"]
    assert [p["amount"] for p in doc["payments_list"]] == [Decimal("10"), Decimal("14.4")]
    assert doc["payments_list"][0]["payment_account"]["name"] == "Banca Demo"


@pytest.mark.parametrize("data, field", [
    (invoice(entity={"vat_number": "IT01234567890"}), "data.entity.name"),
    (invoice(items_list=[{"name": "x", "net_price": 1, "vat": {"id": 999}}]), "data.items_list.0.vat.id"),
    (invoice(payments_list=[{"amount": Decimal("24.40"), "payment_account": {"id": 77}}]),
     "data.payments_list.0.payment_account.id"),
    (invoice(currency={"id": "USD"}), "data.currency.exchange_rate"),
    (invoice(entity={"name": "x" * 256}), "data.entity.name"),
    (invoice(items_list=[{"name": "x" * 2001, "net_price": 1}]), "data.items_list.0.name"),
    (invoice(date="31/12/2025"), "data.date"),
    (invoice(type="bolla"), "data.type"),
])
def test_obviously_bad_documents_are_422_naming_the_field(fic, data, field):
    response = fic.create(data)
    assert response.status_code == 422
    assert field in response.json()["error"]["validation_result"]


def test_foreign_currency_with_exchange_rate_is_accepted(fic):
    doc = fic.create(invoice(currency={"id": "USD", "exchange_rate": "1.10000"})).json()["data"]
    assert doc["currency"]["id"] == "USD" and doc["currency"]["exchange_rate"] == "1.10000"


def test_get_list_pagination_filter_and_fieldset(fic):
    for index in range(7):
        fic.create(invoice(subject=f"order-{index}", date=f"2025-01-0{index + 1}",
                           entity={"name": "Anna" if index % 2 else "Bruno"}))
    fic.create(invoice(type="quote"))
    first = fic("GET", "/issued_documents", params={"type": "invoice"}).json()
    assert (first["total"], first["per_page"], first["last_page"], len(first["data"])) == (7, 5, 2, 5)
    assert first["data"][0]["items_list"] is None
    second = requests.get(first["next_page_url"], headers=AUTH, timeout=5).json()
    assert second["current_page"] == 2 and len(second["data"]) == 2 and second["next_page_url"] is None
    hits = fic("GET", "/issued_documents", params={
        "type": "invoice", "q": "entity.name = 'Anna' and date >= '2025-01-04'", "fieldset": "detailed"}).json()
    assert [d["subject"] for d in hits["data"]] == ["order-3", "order-5"]
    assert hits["data"][0]["items_list"][0]["name"] == "Tazza"
    one = fic("GET", "/issued_documents", params={"type": "invoice", "q": "subject = 'order-6'"}).json()
    got = fic("GET", f"/issued_documents/{one['data'][0]['id']}").json()["data"]
    assert got["subject"] == "order-6" and got["items_list"]
    assert fic("GET", "/issued_documents").status_code == 422  # type is required
    assert fic("GET", "/issued_documents", params={"type": "invoice", "per_page": 101}).status_code == 422
    assert fic("GET", "/issued_documents", params={"type": "invoice", "q": "amount = 1 or x"}).status_code == 422
    assert fic("GET", "/issued_documents/999999").status_code == 404


def test_modify_merges_and_revalidates(fic):
    doc = fic.create(invoice(payments_list=[{"amount": Decimal("24.40"), "due_date": "2025-02-01"}])).json()["data"]
    paid = {"payments_list": [{"amount": Decimal("24.40"), "due_date": "2025-02-01", "status": "paid",
                               "paid_date": "2025-01-20", "payment_account": {"id": 3}}]}
    updated = fic("PUT", f"/issued_documents/{doc['id']}", json={"data": paid}).json()["data"]
    assert updated["payments_list"][0]["status"] == "paid"
    assert updated["entity"]["name"] == "Mario Rossi" and updated["number"] == doc["number"]
    more = {"items_list": [{"name": "Tazza", "net_price": 20, "qty": 2, "vat": {"id": 0}}]}
    refused = fic("PUT", f"/issued_documents/{doc['id']}", json={"data": more})
    assert refused.status_code == 422 and "pagamenti" in refused.json()["error"]["message"]


def test_transform_creates_nothing_and_create_from_links(fic):
    quote = fic.create(invoice(type="quote")).json()["data"]
    answer = fic("GET", "/issued_documents/transform", params={
        "original_document_id": quote["id"], "new_type": "invoice", "type": "quote", "transform_keep_copy": 0}).json()
    draft, options = answer["data"], answer["options"]
    assert "id" not in draft and "number" not in draft and draft["type"] == "invoice"
    assert options == {"create_from": [str(quote["id"])], "transform": True, "keep_copy": False}
    assert len(fic.side("GET", "/documents").json()["data"]) == 1
    created = fic.create(draft, options).json()["data"]
    everything = {d["id"]: d for d in fic.side("GET", "/documents").json()["data"]}
    assert everything[created["id"]]["create_from"] == [str(quote["id"])]
    assert everything[quote["id"]]["deleted"] is True  # keep_copy false: the quote went to the bin
    bad = fic("GET", "/issued_documents/transform", params={"original_document_id": created["id"],
                                                             "new_type": "quote"})
    assert bad.status_code == 422


def test_join_delivery_notes(fic):
    ids = [fic.create(invoice(type="delivery_note")).json()["data"]["id"] for _ in range(2)]
    answer = fic("GET", "/issued_documents/join", params={"ids": ",".join(map(str, ids)),
                                                          "type": "delivery_notes"}).json()
    assert len(answer["data"]["items_list"]) == 2 and answer["options"]["create_from"] == [str(i) for i in ids]
    assert fic.create(answer["data"], answer["options"]).json()["data"]["amount_gross"] == 48.8


def test_delete_moves_to_the_bin_and_locked_documents_stay(fic):
    doc = fic.create(invoice()).json()["data"]
    assert fic("DELETE", f"/issued_documents/{doc['id']}").status_code == 200
    assert fic("GET", f"/issued_documents/{doc['id']}").status_code == 404
    assert [d["id"] for d in fic("GET", "/bin/issued_documents").json()["data"]] == [doc["id"]]
    locked = fic.create(invoice()).json()["data"]
    fic.side("POST", f"/documents/{locked['id']}/lock", json={"locked": True}).raise_for_status()
    refused = fic("DELETE", f"/issued_documents/{locked['id']}")
    assert refused.status_code == 409 and str(locked["id"]) in refused.json()["error"]["message"]
    sent = fic.create(invoice()).json()["data"]
    fic.side("POST", f"/documents/{sent['id']}/lock", json={"ei_status": "sent"}).raise_for_status()
    assert fic("DELETE", f"/issued_documents/{sent['id']}").status_code == 409
    assert fic("PUT", f"/issued_documents/{sent['id']}", json={"data": {"subject": "x"}}).status_code == 409


def test_email_data_and_schedule_are_recorded(fic):
    doc = fic.create(invoice()).json()["data"]
    info = fic("GET", f"/issued_documents/{doc['id']}/email").json()["data"]
    assert info["recipient_email"] == "mario@example.com"
    assert info["default_sender_email"] == {"id": 0, "email": "no-reply@fattureincloud.it"}
    assert "{{allegati}}" in info["body"]
    send = {"data": {"sender_id": 0, "recipient_email": "mario@example.com, anna@example.com",
                     "subject": info["subject"], "body": info["body"], "attach_pdf": True}}
    assert fic("POST", f"/issued_documents/{doc['id']}/email", json=send).status_code == 200
    log = fic.side("GET", "/emails").json()["data"]
    assert [(e["document_id"], e["recipients"]) for e in log] == [
        (doc["id"], ["mario@example.com", "anna@example.com"])]
    listed = fic("GET", "/emails").json()
    assert listed["data"][0]["to_email"] == "mario@example.com, anna@example.com"
    assert listed["data"][0]["status"] == "sent"
    for bad in ({"recipient_email": "nobody"}, {"sender_id": None, "sender_email": None},
                {"body": "x" * (50 * 1024 + 1)}):
        attempt = {"data": {**send["data"], **bad}}
        assert fic("POST", f"/issued_documents/{doc['id']}/email", json=attempt).status_code == 422
    assert len(fic.side("GET", "/emails").json()["data"]) == 1


def test_lookups_and_company(fic, sandbox):
    vat = {v["id"]: v for v in fic("GET", "/info/vat_types").json()["data"]}
    assert vat[0]["value"] == 22 and vat[3]["value"] == 10
    assert {v["ei_type"] for v in vat.values() if v["value"] == 0} >= {"N1", "N2.2", "N4", "N7"}
    methods = [m["name"] for m in fic("GET", "/info/payment_methods").json()["data"]]
    assert {"Bonifico bancario", "Carta di credito", "PayPal", "Contanti", "Rimessa diretta"} <= set(methods)
    accounts = fic("GET", "/info/payment_accounts").json()["data"]
    assert any(a["iban"] for a in accounts) and {"PayPal", "Cassa"} <= {a["name"] for a in accounts}
    companies = requests.get(f"{sandbox.url}/user/companies", headers=AUTH, timeout=5).json()
    assert companies["data"]["companies"][0]["id"] == sandbox.company_id
    fic.create(invoice(numeration="/A"))
    info = fic("GET", "/issued_documents/info", params={"type": "invoice"}).json()["data"]
    assert info["numerations"] == {str(date.today().year): {"/A": 1}}
    assert fic("GET", "/info/vat_types", headers={}).status_code == 200  # no token configured: anything goes
    assert requests.get(f"{sandbox.url}/c/2/info/vat_types", headers=AUTH, timeout=5).status_code == 403


def test_e_invoice_verify_and_send(fic):
    plain = fic.create(invoice()).json()["data"]
    verify = fic("GET", f"/issued_documents/{plain['id']}/e_invoice/xml_verify")
    assert verify.status_code == 422 and verify.json()["error"]["validation_result"]["xml_errors"]
    good = fic.create(invoice(e_invoice=True, ei_data={"payment_method": "MP08"},
                              entity={"name": "Rossi S.r.l.", "vat_number": "01234560017", "ei_code": "ABC1234",
                                      "address_street": "Via Roma 1", "address_postal_code": "20121",
                                      "address_city": "Milano", "address_province": "MI"})
                      ).json()["data"]
    assert fic("GET", f"/issued_documents/{good['id']}/e_invoice/xml_verify").json() == {"data": {"success": True}}
    sent = fic("POST", f"/issued_documents/{good['id']}/e_invoice/send", json={"data": {}})
    assert sent.json()["data"]["name"] == "CARICATO"
    reason = fic("GET", f"/issued_documents/{good['id']}/e_invoice/error_reason").json()["data"]
    assert reason["ei_status"] == "sent"
    assert fic("DELETE", f"/issued_documents/{good['id']}").status_code == 409


def test_configured_token_is_enforced():
    with SandboxServer(token="s3cret") as locked:
        url = f"{locked.url}/c/1/info/vat_types"
        refused = requests.get(url, headers=AUTH, timeout=5)
        assert refused.status_code == 401 and "error" in refused.json()
        assert requests.get(url, timeout=5).status_code == 401
        assert "s3cret" not in refused.text
        assert requests.get(url, headers={"Authorization": "Bearer s3cret"}, timeout=5).status_code == 200


def test_declared_stamp_duty_is_echoed_and_never_invented(fic):
    """FiC's spec: stamp_duty is the bollo's amount, 0 when absent; a document that asked for no
    bollo gets none, whatever its amount outside VAT."""
    items = [{"name": "esente", "net_price": 100, "qty": 1, "vat": {"id": 6}}]
    declared = decimal_json(fic("POST", "/issued_documents/totals",
                                json={"data": invoice(items_list=items, stamp_duty=0)}))["data"]
    assert declared["stamp_duty"] == 0
    absent = decimal_json(fic("POST", "/issued_documents/totals", json={"data": invoice(items_list=items)}))["data"]
    assert absent["stamp_duty"] == 0
    assert absent["amount_due"] == Decimal("100")


def test_a_sent_invoice_still_takes_its_payment(fic):
    doc = fic.create(invoice(payments_list=[{"amount": Decimal("24.40"), "due_date": "2025-02-01"}])).json()["data"]
    fic.side("POST", f"/documents/{doc['id']}/lock", json={"locked": True, "ei_status": "sent"}).raise_for_status()
    paid = {"payments_list": [{"amount": Decimal("24.40"), "due_date": "2025-02-01", "status": "paid",
                               "paid_date": "2025-02-01", "payment_account": {"id": 1}}],
            "number": None, "entity": doc["entity"]}
    answer = fic("PUT", f"/issued_documents/{doc['id']}", json={"data": paid})
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"]["payments_list"][0]["status"] == "paid"
    assert answer.json()["data"]["number"] == doc["number"]
