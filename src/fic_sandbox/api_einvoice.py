"""FiC's e-invoice endpoints (XML, verify, send, error reason) and webhook subscriptions.

``xml_verify`` and ``send`` judge with ``sdi_checks`` (the official schema plus the SdI's data
checks); ``send`` is not idempotent: a document already with the SdI is refused, as FiC does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from werkzeug.wrappers import Request, Response

from . import fatturapa, sdi_checks
from .api import live_document, read_body
from .responses import ApiError, data, json_response
from .sdi import RESENDABLE
from .webhooks import Refused

NOT_VERIFIED = "Il file XML non è valido."


def _refusal(errors: list[str]) -> ApiError:
    """FiC's VerifyEInvoiceXmlErrorResponse: the list twice, as validation_result and extra."""
    return ApiError(422, NOT_VERIFIED, validation_result={"xml_errors": errors}, extra={"errors": errors})


def _progressive(sandbox: Any, document_id: int) -> str:
    """ProgressivoInvio: unique per send of this company (≤ 10 characters)."""
    latest = sandbox.sdi.latest(document_id)
    return f"{document_id:x}{(latest['id'] + 1) if latest else 1:x}"[-10:]


def get_xml(sandbox: Any, request: Request, cid: int, document_id: int) -> Response:
    body = live_document(sandbox, document_id)["body"]
    if body.get("type") not in fatturapa.E_INVOICE_TYPES or not body.get("e_invoice"):
        raise ApiError(422, f"Il documento {document_id} non è una fattura elettronica.", code="NOT_E_INVOICE")
    xml = fatturapa.build_xml(body, progressive=_progressive(sandbox, document_id), company=sandbox.company)
    return Response(xml, status=200, content_type="text/xml; charset=utf-8")


def verify_xml(sandbox: Any, request: Request, cid: int, document_id: int) -> Response:
    errors = sdi_checks.errors_of(live_document(sandbox, document_id)["body"], company=sandbox.company)
    if errors:
        raise _refusal(errors)
    return data({"success": True})


def send_e_invoice(sandbox: Any, request: Request, cid: int, document_id: int) -> Response:
    payload = read_body(request)
    options = payload.get("options") or {}
    extra = payload.get("data") if isinstance(payload.get("data"), dict) else {}
    with sandbox.state.lock:
        row = live_document(sandbox, document_id)
        status = row["ei_status"]
        if status not in (None, "not_sent", *RESENDABLE, "manual_rejected"):
            raise ApiError(409, f"La fattura elettronica {document_id} è già stata inviata allo SDI "
                           f"(stato {status}): non può essere inviata di nuovo.", code="E_INVOICE_ALREADY_SENT")
        errors = sdi_checks.errors_of(row["body"], options=extra, company=sandbox.company)
        if errors:
            raise _refusal(errors)
        if not options.get("dry_run"):
            sandbox.sdi.record_send(document_id)
    return data({"name": "CARICATO", "date": datetime.now().strftime("%Y-%m-%d %H:%M:%S")})


def error_reason(sandbox: Any, request: Request, cid: int, document_id: int) -> Response:
    row = live_document(sandbox, document_id)
    status = row["ei_status"] or ("not_sent" if row["body"].get("e_invoice") else None)
    latest = sandbox.sdi.latest(document_id)
    if latest is None or latest["status"] != status or status not in ("discarded", "rejected", "not_delivered",
                                                                       "error"):
        return data({"reason": None, "ei_status": status, "solution": None, "code": None, "date": None})
    return data({"reason": latest["reason"], "ei_status": status, "solution": latest["solution"],
                 "code": latest["code"], "date": latest["changed_at"]})


# -- webhook subscriptions -------------------------------------------------------------------

def _subscription_id(sandbox: Any, subscription_id: str) -> int:
    number = subscription_id[3:] if subscription_id.upper().startswith("SUB") else ""
    if not number.isdigit() or sandbox.webhooks.subscription(int(number)) is None:
        raise ApiError(404, f"La sottoscrizione {subscription_id} non esiste.", code="NOT_FOUND")
    return int(number)


def _data_of(request: Request) -> dict:
    payload = read_body(request).get("data")
    if not isinstance(payload, dict):
        raise ApiError(422, "Il campo data è obbligatorio.", validation_result={"data": ["obbligatorio"]})
    return payload


def _refused(error: Refused) -> ApiError:
    return ApiError(422, str(error), validation_result={"data": [str(error)]})


def list_subscriptions(sandbox: Any, request: Request, cid: int) -> Response:
    return data(sandbox.webhooks.subscriptions())


def create_subscription(sandbox: Any, request: Request, cid: int) -> Response:
    try:
        subscription, warnings = sandbox.webhooks.create(_data_of(request))
    except Refused as error:
        raise _refused(error) from None
    return json_response({"data": subscription, "warnings": warnings})


def get_subscription(sandbox: Any, request: Request, cid: int, subscription_id: str) -> Response:
    return data(sandbox.webhooks.subscription(_subscription_id(sandbox, subscription_id)))


def modify_subscription(sandbox: Any, request: Request, cid: int, subscription_id: str) -> Response:
    number = _subscription_id(sandbox, subscription_id)
    try:
        subscription, warnings = sandbox.webhooks.modify(number, _data_of(request))
    except Refused as error:
        raise _refused(error) from None
    return json_response({"data": subscription, "warnings": warnings})


def delete_subscription(sandbox: Any, request: Request, cid: int, subscription_id: str) -> Response:
    sandbox.webhooks.delete(_subscription_id(sandbox, subscription_id))
    return Response(b"", status=200)


def verify_subscription(sandbox: Any, request: Request, cid: int, subscription_id: str) -> Response:
    """A new verification GET to the sink; the outcome shows in the subscription's ``verified``."""
    number = _subscription_id(sandbox, subscription_id)
    payload = read_body(request).get("data") or {}
    try:
        sandbox.webhooks.verify(number, sandbox.webhooks.verification_method(payload))
    except Refused as error:
        raise _refused(error) from None
    return Response(b"", status=200)
