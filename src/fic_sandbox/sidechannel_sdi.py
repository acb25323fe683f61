"""``/__sandbox__/sdi`` and ``/__sandbox__/webhooks``: script what the SdI answers, move its clock,
see every send; break webhook delivery on purpose, read its log, fetch the key that signs it."""

from __future__ import annotations

from typing import Any

import attrs
from werkzeug.wrappers import Request, Response

from . import seeds
from .api import read_body
from .knobs import refuse_unknown
from .responses import ApiError, json_response
from .sidechannel import turn_knob


def company(sandbox: Any, request: Request) -> Response:
    """The seller on every e-invoice: GET it, POST some of its keys (e.g. ``{"regime_fiscale": "RF19"}``),
    DELETE to go back to Negozio Demo S.r.l."""
    if request.method == "DELETE":
        sandbox.company = dict(seeds.COMPANY_PROFILE)
    elif request.method == "POST":
        changes = read_body(request)
        unknown = set(changes) - set(seeds.COMPANY_PROFILE)
        if unknown:
            raise ApiError(422, f"Dati aziendali sconosciuti: {', '.join(sorted(unknown))} "
                           f"(ammessi: {', '.join(seeds.COMPANY_PROFILE)}).")
        sandbox.company = {**sandbox.company, **changes}
    return json_response(sandbox.company)


def _sends_view(sandbox: Any) -> dict:
    sends = sandbox.sdi.sends()
    by_document: dict[str, int] = {}
    for send in sends:
        by_document[str(send["document_id"])] = by_document.get(str(send["document_id"]), 0) + 1
    config = attrs.asdict(sandbox.sdi.config)
    return {"config": config, "clock": {"speed": sandbox.sdi.clock.speed, "now": round(sandbox.sdi.clock.now(), 3)},
            "total": len(sends), "by_document": by_document,
            "sends": [{key: send[key] for key in ("id", "document_id", "at", "status", "outcome", "reason", "code",
                                                  "solution", "changed_at")} for send in sends]}


def sdi(sandbox: Any, request: Request) -> Response:
    """GET: sends per document; POST: what the next sends meet; DELETE: the happy path again."""
    turn_knob(request, configure=sandbox.sdi.configure, clear=sandbox.sdi.clear,
              refused="Configurazione dello SdI non valida")
    return json_response(_sends_view(sandbox))


def sdi_clock(sandbox: Any, request: Request) -> Response:
    """``{"speed": 10}`` runs the SdI's clock 10 times faster; ``{"advance_ms": 5000}`` jumps it."""
    values = read_body(request)
    try:
        refuse_unknown(values, ("speed", "advance_ms"), "clock")
        sandbox.sdi.set_clock(values)
    except (TypeError, ValueError) as error:
        raise ApiError(422, f"Orologio dello SdI non valido: {error}") from None
    return json_response(_sends_view(sandbox))


def webhooks(sandbox: Any, request: Request) -> Response:
    """GET: faults, pending events and the delivery log; POST: faults; DELETE: no faults."""
    turn_knob(request, configure=sandbox.webhooks.configure, clear=lambda: sandbox.webhooks.configure({}),
              refused="Configurazione dei webhook non valida")
    return json_response({**sandbox.webhooks.deliveries(), "subscriptions": sandbox.webhooks.subscriptions()})


def webhook_public_key(sandbox: Any, request: Request) -> Response:
    return json_response(sandbox.webhooks.public_key())


def webhook_event(sandbox: Any, request: Request) -> Response:
    """Inject an event as if something changed in FiC by hand: ``{"type": "…", "ids": [10001]}``."""
    body = read_body(request)
    event_type, ids = body.get("type"), body.get("ids")
    if not isinstance(event_type, str) or not isinstance(ids, list):
        raise ApiError(422, "Indicare type (il tipo di evento) e ids (un elenco di id).")
    sandbox.webhooks.emit(event_type, ids)
    return json_response({"queued": True, "type": event_type, "ids": ids})
