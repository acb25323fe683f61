"""``/__sandbox__/``: what tests and the demo use to look behind FiC's API and to break it on
purpose. Never subject to faults, quotas or tokens."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import jinja2
from werkzeug.wrappers import Request, Response

from . import documents, events, printing
from .api import base_url, read_body
from .responses import ApiError, json_response

_TEMPLATES = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
                                autoescape=True)
_TEMPLATES.filters.update(printing.filters())


def index(sandbox: Any, request: Request) -> Response:
    return json_response({"company_id": sandbox.company_id, "many_companies": sandbox.many_companies,
                          "token_required": sandbox.token is not None,
                          "oauth_client_id": sandbox.client_id, "faults": _asdict(sandbox.faults.config),
                          "limits": {"enabled": sandbox.limits.enabled, **_asdict(sandbox.limits.config)},
                          "sdi": _asdict(sandbox.sdi.config), "webhooks": _asdict(sandbox.webhooks.faults)})


def _asdict(config: Any) -> dict:
    return attrs.asdict(config)


def turn_knob(request: Request, *, configure: Callable[[dict], object], clear: Callable[[], object],
              refused: str) -> None:
    """DELETE: the knob back to its defaults; POST: the body's settings, a wrong one refused with a
    422 that starts with ``refused`` ("Configurazione dei guasti non valida")."""
    if request.method == "DELETE":
        clear()
    elif request.method == "POST":
        try:
            configure(read_body(request))
        except (TypeError, ValueError) as error:
            raise ApiError(422, f"{refused}: {error}") from None


def faults(sandbox: Any, request: Request) -> Response:
    turn_knob(request, configure=sandbox.faults.configure, clear=sandbox.faults.clear,
              refused="Configurazione dei guasti non valida")
    return json_response(_asdict(sandbox.faults.config))


def limits(sandbox: Any, request: Request) -> Response:
    """Quotas (and ``time_scale``, ``latency_ms``) for every company of the sandbox."""
    turn_knob(request, configure=sandbox.set_limits, clear=lambda: sandbox.set_limits(None),
              refused="Configurazione dei limiti non valida")
    return json_response({"enabled": sandbox.limits.enabled, **_asdict(sandbox.limits.config)})


def companies(sandbox: Any, request: Request) -> Response:
    """Each company's requests by status and its quota use per window (the benchmark's check)."""
    rows = [{"company_id": company.company_id, **company.stats.snapshot(), **company.limits.usage()}
            for company in sandbox.companies()]
    return json_response({"many_companies": sandbox.many_companies, "data": rows})


def _company(sandbox: Any, cid: Any) -> Any:
    """The company a side-channel view is about (``?company_id=``, default the sandbox's own)."""
    if cid in (None, "") or int(cid) == sandbox.company_id:
        return sandbox
    if not sandbox.many_companies:
        raise ApiError(404, f"L'azienda {cid} non esiste in questa sandbox (avviala con --many-companies).")
    return sandbox.tenant(int(cid))


def emails(sandbox: Any, request: Request) -> Response:
    sandbox = _company(sandbox, request.args.get("company_id"))
    rows = [{"id": e["id"], "document_id": e["document_id"], "recipients": e["to_email"].split(", "),
             "to_email": e["to_email"], "copy_to": e["copy_to"], "subject": e["subject"], "sender": e["from_email"],
             "body": e["content"], "attach_pdf": bool(e["attach_pdf"]), "status": e["status"], "at": e["at"]}
            for e in sandbox.state.emails()]
    return json_response({"data": rows})


def sms(sandbox: Any, request: Request) -> Response:
    """The SMS log: what a test provider "sent" (FiC sends no SMS; the demo shop posts them here so
    they can be seen like the emails). POST one ``{to, sender, text, order_id, document_id}``."""
    if request.method == "POST":
        body = read_body(request)
        if not isinstance(body, dict) or not body.get("to") or not isinstance(body.get("text"), str):
            raise ApiError(422, "Un SMS ha bisogno di to e text.")
        return json_response({"data": sandbox.log_sms(body)})
    return json_response({"data": sandbox.sms_log()})


def documents_view(sandbox: Any, request: Request) -> Response:
    sandbox = _company(sandbox, request.args.get("company_id"))
    url = base_url(request)
    rows = []
    for row in sandbox.state.documents(deleted=None):
        document = documents.render(row, row["body"], url, sandbox.company_id)
        document.update({"deleted": row["deleted"], "deleted_at": row["deleted_at"], "locked": row["locked"],
                         "create_from": row["create_from"]})
        rows.append(document)
    return json_response({"data": rows})


def lock(sandbox: Any, request: Request, document_id: int) -> Response:
    body = read_body(request)
    if sandbox.state.get_document(document_id, include_deleted=True) is None:
        raise ApiError(404, f"Il documento {document_id} non esiste.")
    sandbox.state.set_lock(document_id, body.get("locked"), body.get("ei_status"), "ei_status" in body)
    if "ei_status" in body:  # a status set by hand is announced like one the SdI set
        sandbox.webhooks.emit(events.STATUS_UPDATE, [document_id])
    row = sandbox.state.get_document(document_id, include_deleted=True)
    return json_response({"id": document_id, "locked": row["locked"], "ei_status": row["ei_status"]})


def stats(sandbox: Any, request: Request) -> Response:
    return json_response(sandbox.stats.snapshot())


def reset(sandbox: Any, request: Request) -> Response:
    sandbox.forget_companies()
    sandbox.state.reset()
    sandbox.forget_sms()
    sandbox.stats.reset()
    sandbox.webhooks.forget()
    return json_response({"reset": True})


def print_view(sandbox: Any, request: Request, cid: int, document_id: int) -> Response:
    """The printable page a document's ``url`` points to (FiC's would be a PDF)."""
    if sandbox.many_companies:
        sandbox = _company(sandbox, cid)
    row = sandbox.state.get_document(document_id, include_deleted=True)
    if row is None or cid != sandbox.company_id:
        return Response("Documento non trovato", status=404, content_type="text/plain; charset=utf-8")
    document = documents.render(row, row["body"], base_url(request), cid)
    page = _TEMPLATES.get_template("print.html").render(
        doc=document, totals=documents.totals_of(row["body"]), deleted=row["deleted"], seller=sandbox.company,
        type_name=printing.TYPE_NAMES.get(document["type"], document["type"]), line_total=printing.line_total)
    return Response(page, content_type="text/html; charset=utf-8")
