"""FiC's webhooks: the receiving endpoint (``/fic/webhooks``) and the subscriptions.

FiC posts CloudEvents (``ce-id``, ``ce-type`` headers, body ``{"data": {"ids": [...]}}``; or one
structured JSON event) with ``Authorization: Bearer <JWT>`` signed ES256 by FiC's key (setting
``fic_webhook_public_key``). The endpoint only checks and enqueues: the worker reads each
document in FiC and stores its state (``fic_plugin.sdi``), so an event delivered twice (FiC
delivers at least once; the ``ce-id`` is the job's unique key), late or out of order changes
nothing, and an event for a document the shop does not know is a logged no-op. What is refused
is answered 4xx and logged, never with a traceback; FiC retries only 5xx.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from .errors import FicError, SettingsError
from .i18n import _

if TYPE_CHECKING:
    from .context import Context

log = logging.getLogger(__name__)

PREFIX = "it.fattureincloud.webhooks.issued_documents."
STATUS_UPDATE = PREFIX + "e_invoices.status_update"
#: What the plugin subscribes to: the SdI's answers, and invoices and credit notes changed or
#: deleted by hand in FiC (their state is read again).
EVENT_TYPES = (
    STATUS_UPDATE,
    PREFIX + "invoices.update",
    PREFIX + "invoices.delete",
    PREFIX + "credit_notes.update",
    PREFIX + "credit_notes.delete",
)
CHALLENGE = "x-fic-verification-challenge"
#: Clock skew allowed on the JWT's exp/iat/nbf, in seconds.
LEEWAY = 30
MAX_BODY = 64 * 1024


class Refused(Exception):
    """An event that is not FiC's or not understood: answered ``status`` and logged."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


def handle(context: Context, request: Request) -> Response:
    """The endpoint: FiC's verification challenge, or an event to check and enqueue."""
    challenge = request.headers.get(CHALLENGE) or request.args.get(CHALLENGE)
    if challenge is not None and request.method in ("GET", "POST") and not request.headers.get("ce-id"):
        return _json({"verification": challenge})
    if request.method != "POST":
        return _json({"error": "POST a CloudEvent here"}, 405)
    try:
        event = receive(context, request)
    except Refused as refused:
        log.warning("webhook refused (%s): %s", refused.status, refused.reason)
        return _json({"error": refused.reason}, refused.status)
    return _json({"received": event["id"], "queued": event["queued"]})


def receive(context: Context, request: Request) -> dict[str, Any]:
    """Check the signature and shape of one event and queue its refresh (once per ``ce-id``)."""
    from .outbox import enqueue

    claims = check_signature(context.settings.fic_webhook_public_key, request.headers.get("Authorization", ""))
    event = parse_event(request)
    if claims.get("jti") not in (None, event["id"]):
        # FiC's token names its event: a valid token lifted onto another body is refused.
        raise Refused(401, "JWT issued for another event (jti != ce-id)")
    if event["type"] not in EVENT_TYPES:
        log.info("webhook %s: type %s is not one the plugin follows; ignored", event["id"], event["type"])
        return {**event, "queued": False}
    queued = enqueue(context, "ei_refresh", f"webhook:{event['id']}",
                     args={"ids": event["ids"], "type": event["type"]})
    if not queued:
        log.info("webhook %s delivered again; already queued", event["id"])
    return {**event, "queued": queued}


def check_signature(public_key: str, authorization: str) -> dict[str, Any]:
    """The claims of FiC's ES256 JWT, or :class:`Refused` (401) saying what is wrong."""
    import jwt

    if not public_key:
        raise Refused(503, "no FiC public key configured (setting fic_webhook_public_key)")
    scheme, _sep, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Refused(401, "missing Authorization: Bearer token")
    try:
        return jwt.decode(token.strip(), public_key, algorithms=["ES256"], leeway=LEEWAY,
                          options={"require": ["exp"], "verify_aud": False})
    except jwt.ExpiredSignatureError:
        raise Refused(401, "expired JWT") from None
    except jwt.InvalidSignatureError:
        raise Refused(401, "bad JWT signature") from None
    except jwt.PyJWTError as error:
        raise Refused(401, f"invalid JWT: {type(error).__name__}") from None


def parse_event(request: Request) -> dict[str, Any]:
    """``{"id", "type", "ids"}`` of a binary (``ce-*`` headers) or structured CloudEvent."""
    if (request.content_length or 0) > MAX_BODY:
        raise Refused(413, "event body too large")
    try:
        body = json.loads(request.get_data(cache=True) or b"null")
    except ValueError:
        raise Refused(400, "body is not JSON") from None
    structured = (request.mimetype or "").startswith("application/cloudevents")
    if structured:
        if not isinstance(body, dict):
            raise Refused(400, "structured CloudEvent is not a JSON object")
        event_id, event_type, data = body.get("id"), body.get("type"), body.get("data")
    else:
        event_id, event_type = request.headers.get("ce-id"), request.headers.get("ce-type")
        data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(event_id, str) or not event_id.strip() or len(event_id) > 200:
        raise Refused(400, "CloudEvent without id (ce-id)")
    if not isinstance(event_type, str) or not event_type.strip():
        raise Refused(400, "CloudEvent without type (ce-type)")
    ids = data.get("ids") if isinstance(data, dict) else None
    if not isinstance(ids, list) or not all(isinstance(i, int | str) and not isinstance(i, bool) for i in ids):
        raise Refused(400, "CloudEvent data has no list of document ids (data.ids)")
    return {"id": event_id.strip(), "type": event_type.strip(), "ids": ids}


def _json(value: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(value), status=status, mimetype="application/json")


# --- subscriptions (fic webhooks subscribe|list|delete) ----------------------------------------------


def subscribe(context: Context, sink: str, types: tuple[str, ...] = EVENT_TYPES) -> dict[str, Any]:
    """Ask FiC to post the plugin's events to ``sink`` (FiC verifies it with a challenge first)."""
    if not sink.startswith(("https://", "http://")):
        raise SettingsError(_("The webhook address {url!r} is not an http(s) URL: give the public address of "
                              "/fic/webhooks, like https://shop.example/fic/webhooks.").format(url=sink),
                            field="url")
    body = {"sink": sink, "types": list(types), "verification_method": "header",
            "config": {"mapping": "binary"}}
    return context.client.create_subscription(body)


def subscriptions(context: Context) -> list[dict[str, Any]]:
    return context.client.list_subscriptions()


def unsubscribe(context: Context, subscription_id: str) -> None:
    if not subscription_id.strip():
        raise FicError(_("Say which subscription to delete: fic webhooks list shows their ids."))
    context.client.delete_subscription(subscription_id.strip())
