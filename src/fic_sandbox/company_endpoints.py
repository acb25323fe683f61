"""FiC's other endpoints the plugin uses: the company, lookups (VAT types, payment methods and
accounts), document emails and their log (e-invoices and webhooks: ``api_einvoice``)."""

from __future__ import annotations

import html
import re
from typing import Any

from werkzeug.wrappers import Request, Response

from . import seeds
from .api import announce, base_url, live_document, read_body
from .query import paginate, parse_q, sort_rows
from .responses import data, json_response, validation

MAX_EMAIL_BODY = 50 * 1024
_EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[A-Za-z]{2,}$")
EMAIL_FILTER_FIELDS = ("id", "status", "sent_date", "to_email", "from_email", "subject", "kind")
TYPE_NAMES = {"invoice": "fattura", "quote": "preventivo", "proforma": "pro forma", "receipt": "ricevuta",
              "delivery_note": "documento di trasporto", "credit_note": "nota di credito", "order": "ordine"}
SENDERS = [seeds.NO_REPLY_SENDER, seeds.COMPANY_SENDER]


def user_companies(sandbox: Any, request: Request) -> Response:
    return data({"companies": [seeds.company(sandbox.company_id)]})


def company_info(sandbox: Any, request: Request, cid: int) -> Response:
    return data(seeds.company_info(cid))


def vat_types(sandbox: Any, request: Request, cid: int) -> Response:
    return data(seeds.VAT_TYPES)


def payment_methods(sandbox: Any, request: Request, cid: int) -> Response:
    return data(seeds.PAYMENT_METHODS)


def payment_accounts(sandbox: Any, request: Request, cid: int) -> Response:
    return data(seeds.PAYMENT_ACCOUNTS)


def email_data(sandbox: Any, request: Request, cid: int, document_id: int) -> Response:
    """FiC's pre-filled email for a document: recipient from entity.email, senders, subject, body."""
    row = live_document(sandbox, document_id)
    body = row["body"]
    kind = TYPE_NAMES.get(body["type"], "documento")
    number = f"{body['number']}{body['numeration']}"
    name = body["entity"]["name"]
    return data({
        "recipient_email": body["entity"].get("email") or "",
        "default_sender_email": dict(seeds.NO_REPLY_SENDER),
        "sender_emails_list": [dict(sender) for sender in SENDERS],
        "cc_email": seeds.COMPANY_EMAIL,
        "subject": f"Nostra {kind} nr. {number}",
        "body": (f"Gentile {html.escape(name)},<br>per vedere la nostra {kind} nr. {number} o per scaricarne una "
                 f"copia in versione PDF prema sul bottone sottostante.<br><br>{{{{allegati}}}}<br><br>"
                 f"Cordiali saluti,<br><b>{html.escape(seeds.COMPANY_NAME)}</b>"),
        "document_exists": body["type"] != "delivery_note",
        "delivery_note_exists": body["type"] == "delivery_note" or bool(body.get("delivery_note")),
        "attachment_exists": False,
        "accompanying_invoice_exists": bool(body.get("accompanying_invoice")),
        "default_attach_pdf": True,
    })


def schedule_email(sandbox: Any, request: Request, cid: int, document_id: int) -> Response:
    """Validate like FiC and record the email (status sent at once: the sandbox has no queue)."""
    payload = read_body(request).get("data")
    if not isinstance(payload, dict):
        raise validation("data", "Il campo data è obbligatorio.")
    sender = _sender(payload)
    recipients = [part.strip() for part in str(payload.get("recipient_email") or "").split(",") if part.strip()]
    if not recipients:
        raise validation("data.recipient_email", "Il campo recipient_email è obbligatorio.")
    bad = [address for address in recipients if not _EMAIL.match(address)]
    if bad:
        raise validation("data.recipient_email", f"Indirizzo email non valido: {', '.join(bad)}.")
    subject = str(payload.get("subject") or "")
    if not subject.strip():
        raise validation("data.subject", "Il campo subject è obbligatorio.")
    content = str(payload.get("body") or "")
    if len(content.encode("utf-8")) > MAX_EMAIL_BODY:
        raise validation("data.body", "Il testo dell'email non può superare 50 KB.")
    with sandbox.state.lock:
        row = live_document(sandbox, document_id)
        sandbox.state.add_email(document_id, sender, ", ".join(recipients),
                                seeds.COMPANY_EMAIL if payload.get("send_copy") else None, subject, content,
                                bool(payload.get("attach_pdf", True)), payload.get("include"))
    announce(sandbox, row["body"]["type"], "email_sent", document_id)
    return Response(b"", status=200)


def _sender(payload: dict) -> str:
    if payload.get("sender_id") is not None:
        for sender in SENDERS:
            if sender["id"] == payload["sender_id"]:
                return sender["email"]
        raise validation("data.sender_id", f"Il mittente con id {payload['sender_id']!r} non esiste.")
    if payload.get("sender_email"):
        if not any(sender["email"] == payload["sender_email"] for sender in SENDERS):
            raise validation("data.sender_email", f"Il mittente {payload['sender_email']} non è configurato.")
        return payload["sender_email"]
    raise validation("data.sender_id", "Indicare sender_id oppure sender_email.")


def email_row(email: dict) -> dict:
    """An email as FiC's ``/emails`` lists it (FiC's list carries no document id)."""
    return {"id": email["id"], "status": email["status"], "sent_date": email["at"], "errors_count": 0,
            "error_log": "", "from_email": email["from_email"], "from_name": seeds.COMPANY_NAME,
            "to_email": email["to_email"], "to_name": "", "subject": email["subject"], "content": email["content"],
            "copy_to": email["copy_to"] or "", "recipient_status": "unknown", "recipient_date": None,
            "kind": "issued_document", "attachments": []}


def list_emails(sandbox: Any, request: Request, cid: int) -> Response:
    args = request.args.to_dict()
    rows = [email_row(email) for email in sandbox.state.emails()]
    if args.get("q"):
        rows = [row for row in rows if parse_q(args["q"], EMAIL_FILTER_FIELDS)(row)]
    rows = sort_rows(rows, args.get("sort") or "-id")
    return json_response(paginate(rows, args, base_url(request), request.path))
