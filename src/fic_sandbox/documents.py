"""Issued documents the way FiC treats them: defaults, validation, computed read-only amounts,
payments that must add up, and the drafts that transform and join hand back.

Limits are FiC-like, chosen and documented in docs/sandbox.md (FiC publishes none): see LIMITS.
"""

from __future__ import annotations

import copy
import re
from datetime import date
from decimal import Decimal
from typing import Any

from . import seeds
from .responses import ApiError, validation
from .totals import compute_totals, dec, derived_prices, round2

DOCUMENT_TYPES = ("invoice", "quote", "proforma", "receipt", "delivery_note", "credit_note", "order",
                  "work_report", "supplier_order", "self_own_invoice", "self_supplier_invoice")
TYPE_LABELS = {"invoice": "Fattura", "quote": "Preventivo", "proforma": "Pro forma", "receipt": "Ricevuta",
               "delivery_note": "Documento di trasporto", "credit_note": "Nota di credito", "order": "Ordine"}
TRANSFORMS = {"quote": ("invoice", "proforma", "delivery_note"), "proforma": ("invoice", "delivery_note"),
              "delivery_note": ("invoice",), "invoice": ("credit_note", "delivery_note")}
JOIN_TYPES = {"delivery_notes": "delivery_note", "orders": "order", "quotes": "quote", "work_reports": "work_report"}
PAYMENT_STATUSES = ("not_paid", "paid", "reversed")
#: Longest text FiC-like validation accepts, by field path.
LIMITS = {"entity.name": 255, "subject": 2000, "visible_subject": 2000, "notes": 65535,
          "items_list.name": 2000, "items_list.description": 5000}
READ_ONLY = {"id", "year", "amount_net", "amount_vat", "amount_gross", "amount_rivalsa", "amount_cassa",
             "amount_withholding_tax", "amount_other_withholding_tax", "amount_due", "url", "dn_url", "ai_url",
             "attachment_url", "ei_status", "locked", "created_at", "updated_at", "next_due_date", "seen_date"}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
PAYMENTS_MISMATCH = "Il totale dei pagamenti non corrisponde al totale da pagare."

VAT_BY_ID = {vat["id"]: vat for vat in seeds.VAT_TYPES}
ACCOUNT_BY_ID = {account["id"]: account for account in seeds.PAYMENT_ACCOUNTS}
METHOD_BY_ID = {method["id"]: method for method in seeds.PAYMENT_METHODS}
CURRENCY_BY_ID = {currency["id"]: currency for currency in seeds.CURRENCIES}
DEFAULT_VAT = next(vat for vat in seeds.VAT_TYPES if vat["default"])


def vat_rate(vat_id: Any) -> Decimal:
    return VAT_BY_ID[vat_id]["value"]


def _valid_date(value: Any, field: str) -> str:
    if not isinstance(value, str) or not _DATE.match(value):
        raise validation(field, f"Il campo {field} deve essere una data nel formato AAAA-MM-GG.")
    try:
        date.fromisoformat(value)
    except ValueError:
        raise validation(field, f"Il campo {field} non è una data valida.") from None
    return value


def _id_of(value: Any) -> Any:
    return value.get("id") if isinstance(value, dict) else None


def _check_length(key: str, value: Any, where: str | None = None) -> None:
    limit = LIMITS[key]
    if value is not None and len(str(value)) > limit:
        raise validation(where or f"data.{key}", f"Il campo {key} non può superare {limit} caratteri.")


def normalise(data: Any, existing: dict | None = None) -> dict:
    """Merge ``data`` over ``existing`` (PUT) or FiC's defaults (POST), then validate like FiC.

    Raises ApiError(422) naming the field. Returns the body to store (no computed amounts).
    """
    if not isinstance(data, dict):
        raise validation("data", "Il campo data è obbligatorio e deve essere un oggetto.")
    today = date.today().isoformat()
    body = copy.deepcopy(existing) if existing else {
        "type": "invoice", "numeration": "", "number": None, "date": today, "subject": "", "visible_subject": "",
        "currency": dict(CURRENCY_BY_ID["EUR"]), "language": {"code": "it", "name": "Italiano"}, "notes": "",
        "rivalsa": 0, "cassa": 0, "withholding_tax": 0, "withholding_tax_taxable": 100, "other_withholding_tax": 0,
        "stamp_duty": None, "use_split_payment": False, "use_gross_prices": False, "e_invoice": False,
        "show_payments": True, "show_payment_method": False, "show_totals": "all", "items_list": [],
        "payments_list": [], "payment_method": None, "entity": None,
    }
    for key, value in data.items():
        if key not in READ_ONLY:
            body[key] = copy.deepcopy(value)

    if body.get("type") not in DOCUMENT_TYPES:
        raise validation("data.type", f"Il tipo di documento {body.get('type')!r} non è valido.")
    body["date"] = _valid_date(body.get("date") or today, "data.date")
    body["year"] = int(body["date"][:4])
    body["numeration"] = body.get("numeration") or ""
    if body.get("number") is not None and (not isinstance(body["number"], int) or body["number"] < 1):
        raise validation("data.number", "Il campo number deve essere un numero intero positivo.")

    entity = body.get("entity")
    if not isinstance(entity, dict) or not str(entity.get("name") or "").strip():
        raise validation("data.entity.name", "Il campo entity.name è obbligatorio.")
    _check_length("entity.name", entity["name"])
    for field in ("subject", "visible_subject", "notes"):
        _check_length(field, body.get(field))

    currency = body.get("currency") or {"id": "EUR"}
    if currency.get("id", "EUR") != "EUR":
        if not currency.get("exchange_rate"):
            raise validation("data.currency.exchange_rate",
                             "Per una valuta diversa da EUR indicare currency.exchange_rate.")
        known = CURRENCY_BY_ID.get(currency["id"], {"symbol": currency["id"], "html_symbol": currency["id"]})
        body["currency"] = {**known, **currency, "exchange_rate": str(currency["exchange_rate"])}
    else:
        body["currency"] = dict(CURRENCY_BY_ID["EUR"])

    method_id = _id_of(body.get("payment_method"))
    if body.get("payment_method") is not None:
        if method_id not in METHOD_BY_ID:
            raise validation("data.payment_method.id", f"Il metodo di pagamento {method_id!r} non esiste.")
        body["payment_method"] = copy.deepcopy(METHOD_BY_ID[method_id])

    body["items_list"] = [_item(item, index, body) for index, item in enumerate(body.get("items_list") or [])]
    body["payments_list"] = [_payment(payment, index, body["date"])
                             for index, payment in enumerate(body.get("payments_list") or [])]
    return body


def _item(item: Any, index: int, body: dict) -> dict:
    where = f"data.items_list.{index}"
    if not isinstance(item, dict):
        raise validation(where, f"La riga {index + 1} non è valida.")
    item = dict(item)
    vat_id = _id_of(item.get("vat")) if item.get("vat") is not None else DEFAULT_VAT["id"]
    if vat_id not in VAT_BY_ID:
        raise validation(f"{where}.vat.id", f"L'aliquota IVA con id {vat_id!r} non esiste (riga {index + 1}).")
    item["vat"] = copy.deepcopy(VAT_BY_ID[vat_id])
    for field in ("name", "description"):
        _check_length(f"items_list.{field}", item.get(field), f"{where}.{field}")
    price_field = "gross_price" if body.get("use_gross_prices") else "net_price"
    if item.get(price_field) is None:
        raise validation(f"{where}.{price_field}", f"Il campo {price_field} è obbligatorio (riga {index + 1}).")
    for field in ("qty", "discount", price_field):
        if item.get(field) is not None and (isinstance(item[field], (bool, str))):
            raise validation(f"{where}.{field}", f"Il campo {field} deve essere un numero (riga {index + 1}).")
    item.setdefault("qty", 1)
    item.setdefault("discount", 0)
    item.update(derived_prices(item, item["vat"]["value"], bool(body.get("use_gross_prices"))))
    item["id"] = index + 1
    return item


def _payment(payment: Any, index: int, doc_date: str) -> dict:
    where = f"data.payments_list.{index}"
    if not isinstance(payment, dict) or payment.get("amount") is None:
        raise validation(f"{where}.amount", f"Il campo amount della rata {index + 1} è obbligatorio.")
    payment = dict(payment)
    payment["status"] = payment.get("status") or "not_paid"
    if payment["status"] not in PAYMENT_STATUSES:
        raise validation(f"{where}.status", f"Lo stato {payment['status']!r} della rata {index + 1} non è valido.")
    payment["due_date"] = _valid_date(payment.get("due_date") or doc_date, f"{where}.due_date")
    if payment.get("paid_date") is not None:
        _valid_date(payment["paid_date"], f"{where}.paid_date")
    payment.setdefault("paid_date", None)
    if payment.get("payment_account") is not None:
        account_id = _id_of(payment["payment_account"])
        if account_id not in ACCOUNT_BY_ID:
            raise validation(f"{where}.payment_account.id",
                             f"Il conto di saldo con id {account_id!r} non esiste (rata {index + 1}).")
        payment["payment_account"] = dict(ACCOUNT_BY_ID[account_id])
    payment.setdefault("payment_terms", {"days": 0, "type": "standard"})
    payment["id"] = index + 1
    return payment


def totals_of(body: dict) -> dict:
    return compute_totals(body, vat_rate, body.get("payments_list") or [])


def check_payments(body: dict, fix_payments: bool) -> dict:
    """FiC's rule: instalments (rounded to the cent) add up to amount_due, or 422 with its figures."""
    totals = totals_of(body)
    payments = body.get("payments_list") or []
    if not payments:
        return totals
    if fix_payments:
        others = sum((round2(dec(p["amount"])) for p in payments[:-1]), Decimal(0))
        payments[-1]["amount"] = totals["amount_due"] - others
        return totals_of(body)
    if totals["payments_sum"] != totals["amount_due"]:
        extra = {key: totals[key] for key in ("amount_net", "taxable_amount", "vat_list", "amount_vat",
                                              "amount_gross", "amount_due", "payments_sum")}
        extra["amount_global_cassa_taxable"] = totals["amount_net"]
        extra["amount_enasarco_taxable"] = Decimal(0)
        extra["amount_due_discount"] = None
        raise ApiError(422, PAYMENTS_MISMATCH, extra={"totals": extra})
    return totals


def render(row: dict | None, body: dict, base_url: str, company_id: int, fieldset: str = "detailed") -> dict:
    """The document as FiC answers it: what was stored plus the read-only computed amounts."""
    totals = totals_of(body)
    document = copy.deepcopy(body)
    document.update({
        "amount_net": totals["amount_net"], "amount_vat": totals["amount_vat"],
        "amount_gross": totals["amount_gross"], "amount_rivalsa": totals["amount_rivalsa"],
        "amount_cassa": totals["amount_cassa"], "amount_withholding_tax": totals["amount_withholding_tax"],
        "amount_other_withholding_tax": totals["amount_other_withholding_tax"], "amount_due": totals["amount_due"],
        "amount_due_discount": body.get("amount_due_discount") or 0,
        "stamp_duty": totals["stamp_duty"],
        "merged_in": None, "original_document": None, "is_marked": False,
    })
    not_paid = sorted(p["due_date"] for p in body.get("payments_list") or [] if p.get("status") == "not_paid")
    document["next_due_date"] = not_paid[0] if not_paid else None
    if row is not None:
        document.update({
            "id": row["id"], "locked": row["locked"],
            "created_at": row["created_at"], "updated_at": row["updated_at"],
            "url": f"{base_url}/__sandbox__/print/{company_id}/{row['id']}",
        })
        # FiC's spec has no null in the ei_status enum: e-invoices start as not_sent, others have none.
        if row["ei_status"] or body.get("e_invoice"):
            document["ei_status"] = row["ei_status"] or "not_sent"
    if fieldset == "basic":
        document["items_list"] = None
        document["payments_list"] = None
    return document


def transform_draft(original: dict, new_type: str, keep_copy: bool, e_invoice: bool) -> tuple[dict, dict]:
    """What GET …/transform answers: a pre-filled document (no id, no number) and its options."""
    allowed = TRANSFORMS.get(original["body"]["type"], ())
    if new_type not in allowed:
        raise validation("new_type", f"Non è possibile trasformare un documento di tipo "
                         f"{original['body']['type']} in {new_type}.")
    draft = _draft_from(original["body"], new_type)
    draft["e_invoice"] = e_invoice
    return draft, {"create_from": [str(original["id"])], "transform": True, "keep_copy": keep_copy}


def join_draft(originals: list[dict], join_type: str) -> tuple[dict, dict]:
    """What GET …/join answers: one invoice holding the lines of every original, one instalment."""
    kind = JOIN_TYPES.get(join_type)
    if kind is None:
        raise validation("type", f"Il tipo di unione {join_type!r} non è valido: usa {', '.join(JOIN_TYPES)}.")
    for original in originals:
        if original["body"]["type"] != kind:
            raise validation("ids", f"Il documento {original['id']} non è di tipo {kind}.")
    draft = _draft_from(originals[0]["body"], "invoice")
    draft["items_list"] = [dict(item) for original in originals for item in original["body"]["items_list"]]
    draft["payments_list"] = []
    draft["payments_list"] = [{"amount": totals_of(draft)["amount_due"], "due_date": draft["date"],
                               "status": "not_paid", "paid_date": None,
                               "payment_terms": {"days": 0, "type": "standard"}}]
    options = {"create_from": [str(o["id"]) for o in originals], "transform": True, "keep_copy": True,
               "join_type": join_type}
    return draft, options


def _draft_from(body: dict, new_type: str) -> dict:
    draft = copy.deepcopy(body)
    today = date.today().isoformat()
    draft.update({"type": new_type, "number": None, "numeration": "", "date": today, "year": int(today[:4])})
    draft.pop("number")
    for payment in draft.get("payments_list") or []:
        payment.pop("id", None)
    for item in draft.get("items_list") or []:
        item.pop("id", None)
    return draft
