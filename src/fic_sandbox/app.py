"""The sandbox's WSGI application: routing, bearer tokens, quotas and injected faults around the
FiC endpoints (``api``, ``company_endpoints``), plus the ``/oauth`` and ``/__sandbox__/`` side doors."""

from __future__ import annotations

import logging
import re
import socket
import struct
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import attrs
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from . import api, api_einvoice, company_endpoints, oauth, seeds, sidechannel, sidechannel_sdi
from .control import Faults, Limits, Stats
from .responses import ApiError, OAuthError, json_response
from .sdi import Sdi
from .state import State
from .webhooks import Webhooks

log = logging.getLogger(__name__)

DEFAULT_CLIENT_ID = "fic-sandbox-client"
DEFAULT_CLIENT_SECRET = "fic-sandbox-secret"  # noqa: S105 - the sandbox's own demo credential


def _c(path: str) -> str:
    return "/c/<int:cid>" + path


ROUTES: list[tuple[str, tuple[str, ...], Callable[..., Response]]] = [
    ("/user/companies", ("GET",), company_endpoints.user_companies),
    (_c("/company/info"), ("GET",), company_endpoints.company_info),
    (_c("/info/vat_types"), ("GET",), company_endpoints.vat_types),
    (_c("/info/payment_methods"), ("GET",), company_endpoints.payment_methods),
    (_c("/info/payment_accounts"), ("GET",), company_endpoints.payment_accounts),
    (_c("/issued_documents"), ("GET",), api.list_documents),
    (_c("/issued_documents"), ("POST",), api.create_document),
    (_c("/issued_documents/info"), ("GET",), api.document_info),
    (_c("/issued_documents/totals"), ("POST",), api.new_totals),
    (_c("/issued_documents/transform"), ("GET",), api.transform),
    (_c("/issued_documents/join"), ("GET",), api.join),
    (_c("/issued_documents/<int:document_id>"), ("GET",), api.get_document),
    (_c("/issued_documents/<int:document_id>"), ("PUT",), api.modify_document),
    (_c("/issued_documents/<int:document_id>"), ("DELETE",), api.delete_document),
    (_c("/issued_documents/<int:document_id>/totals"), ("POST",), api.existing_totals),
    (_c("/issued_documents/<int:document_id>/email"), ("GET",), company_endpoints.email_data),
    (_c("/issued_documents/<int:document_id>/email"), ("POST",), company_endpoints.schedule_email),
    (_c("/issued_documents/<int:document_id>/e_invoice/xml"), ("GET",), api_einvoice.get_xml),
    (_c("/issued_documents/<int:document_id>/e_invoice/xml_verify"), ("GET",), api_einvoice.verify_xml),
    (_c("/issued_documents/<int:document_id>/e_invoice/send"), ("POST",), api_einvoice.send_e_invoice),
    (_c("/issued_documents/<int:document_id>/e_invoice/error_reason"), ("GET",), api_einvoice.error_reason),
    (_c("/subscriptions"), ("GET",), api_einvoice.list_subscriptions),
    (_c("/subscriptions"), ("POST",), api_einvoice.create_subscription),
    (_c("/subscriptions/<subscription_id>"), ("GET",), api_einvoice.get_subscription),
    (_c("/subscriptions/<subscription_id>"), ("PUT",), api_einvoice.modify_subscription),
    (_c("/subscriptions/<subscription_id>"), ("DELETE",), api_einvoice.delete_subscription),
    (_c("/subscriptions/<subscription_id>/verify"), ("POST",), api_einvoice.verify_subscription),
    (_c("/emails"), ("GET",), company_endpoints.list_emails),
    (_c("/bin/issued_documents"), ("GET",), api.list_bin),
    (_c("/bin/issued_documents/<int:document_id>"), ("GET",), api.get_bin),
    (_c("/bin/issued_documents/<int:document_id>"), ("DELETE",), api.purge_bin),
    (_c("/bin/issued_documents/<int:document_id>/recover"), ("POST",), api.recover_bin),
    ("/oauth/authorize", ("GET",), oauth.authorize),
    ("/oauth/token", ("POST",), oauth.token),
    ("/__sandbox__/", ("GET",), sidechannel.index),
    ("/__sandbox__/faults", ("GET", "POST", "DELETE"), sidechannel.faults),
    ("/__sandbox__/limits", ("GET", "POST", "DELETE"), sidechannel.limits),
    ("/__sandbox__/companies", ("GET",), sidechannel.companies),
    ("/__sandbox__/emails", ("GET",), sidechannel.emails),
    ("/__sandbox__/sms", ("GET", "POST"), sidechannel.sms),
    ("/__sandbox__/documents", ("GET",), sidechannel.documents_view),
    ("/__sandbox__/documents/<int:document_id>/lock", ("POST",), sidechannel.lock),
    ("/__sandbox__/stats", ("GET",), sidechannel.stats),
    ("/__sandbox__/reset", ("POST",), sidechannel.reset),
    ("/__sandbox__/print/<int:cid>/<int:document_id>", ("GET",), sidechannel.print_view),
    ("/__sandbox__/company", ("GET", "POST", "DELETE"), sidechannel_sdi.company),
    ("/__sandbox__/sdi", ("GET", "POST", "DELETE"), sidechannel_sdi.sdi),
    ("/__sandbox__/sdi/clock", ("POST",), sidechannel_sdi.sdi_clock),
    ("/__sandbox__/webhooks", ("GET", "POST", "DELETE"), sidechannel_sdi.webhooks),
    ("/__sandbox__/webhooks/public_key", ("GET",), sidechannel_sdi.webhook_public_key),
    ("/__sandbox__/webhooks/events", ("POST",), sidechannel_sdi.webhook_event),
]

_COMPANY_PATH = re.compile(r"^/c/(\d+)(?:/|$)")

URL_MAP = Map([Rule(path, methods=methods, endpoint=handler) for path, methods, handler in ROUTES],
              strict_slashes=False)



def _side_channel_refusal(request: Request) -> ApiError | None:
    """The side channel changes the sandbox (reset, faults, limits): a web page elsewhere must not
    reach it through the browser. A foreign ``Origin`` is refused, and a body must be JSON (which
    a cross-site page can only send after a CORS preflight the sandbox never grants)."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return None
    origin = request.headers.get("Origin")
    if origin is not None and urlsplit(origin).netloc.lower() != request.host.lower():
        return ApiError(403, f"Il canale /__sandbox__/ non accetta richieste da altri siti ({origin}).",
                        code="FOREIGN_ORIGIN")
    has_body = bool(request.content_length) or request.headers.get("Transfer-Encoding") or request.content_type
    if has_body and request.mimetype != "application/json":
        return ApiError(415, "Il canale /__sandbox__/ accetta solo corpi JSON (Content-Type: application/json).",
                        code="UNSUPPORTED_MEDIA_TYPE")
    return None

class _Dropped(ConnectionResetError):
    """Raised out of the WSGI app after closing the socket: werkzeug treats it as a dropped client."""


class Sandbox:
    """One FiC company's worth of state and behaviour, served as a WSGI app (``sandbox(environ, …)``).

    ``many_companies``: every other ``/c/{cid}`` is a company of its own (books, numbering, quota),
    made on its first request and kept in memory; without it they answer 403 like FiC does for a
    company the token cannot see. Faults, tokens and OAuth grants are the whole sandbox's.
    """

    def __init__(self, state: str = ":memory:", token: str | None = None, company_id: int = seeds.COMPANY_ID,
                 client_id: str = DEFAULT_CLIENT_ID, client_secret: str = DEFAULT_CLIENT_SECRET,
                 *, many_companies: bool = False, _parent: Sandbox | None = None):
        self.many_companies = many_companies
        self.tenants: dict[int, Sandbox] = {}
        self._tenants_lock = threading.Lock()
        self._parent = _parent
        self.state = State(state)
        self.token = token
        self.company_id = company_id
        self.client_id = client_id
        self.client_secret = client_secret
        self.faults = _parent.faults if _parent else Faults()
        self.limits = Limits()
        self.stats = Stats(parent=_parent.stats if _parent else None)
        self.stopping = _parent.stopping if _parent else threading.Event()
        self.company = dict(seeds.COMPANY_PROFILE)  # the CedentePrestatore; /__sandbox__/company changes it
        self.webhooks = Webhooks(self.state, company_id, client_id)
        self.sdi = Sdi(self.state, notify=lambda event_type, document_id: self.webhooks.emit(event_type, [document_id]))
        self._sms: list[dict] = []  # the SMS log (in memory: it is a demo's view, not FiC's state)
        self._sms_lock = threading.Lock()

    def log_sms(self, body: dict) -> dict:
        with self._sms_lock:
            row = {"id": len(self._sms) + 1, "to": str(body["to"]), "sender": str(body.get("sender") or ""),
                   "text": body["text"], "order_id": body.get("order_id"), "document_id": body.get("document_id"),
                   "at": datetime.now().isoformat(timespec="seconds")}
            self._sms.append(row)
            return row

    def sms_log(self) -> list[dict]:
        with self._sms_lock:
            return list(self._sms)

    def forget_sms(self) -> None:
        with self._sms_lock:
            self._sms.clear()

    def close(self) -> None:
        """Stop the SdI's clock and the webhook deliveries (their threads), the companies' too."""
        self.sdi.close()
        self.webhooks.close()
        for tenant in self.companies()[1:]:
            tenant.close()

    def tenant(self, cid: int) -> Sandbox:
        """The company ``cid`` (made on first use, with the quotas in force now)."""
        with self._tenants_lock:
            tenant = self.tenants.get(cid)
            if tenant is None:
                tenant = Sandbox(token=self.token, company_id=cid, client_id=self.client_id,
                                 client_secret=self.client_secret, _parent=self)
                if self.limits.enabled:
                    tenant.limits.configure(attrs.asdict(self.limits.config))
                self.tenants[cid] = tenant
            return tenant

    def companies(self) -> list[Sandbox]:
        """This company first, then every other one made so far."""
        with self._tenants_lock:
            return [self, *self.tenants.values()]

    def set_limits(self, values: dict | None) -> None:
        """Configure (None: turn off) the quotas of every company, present and future."""
        for company in self.companies():
            if values is None:
                company.limits.disable()
            else:
                company.limits.configure(values)

    def forget_companies(self) -> None:
        with self._tenants_lock:
            tenants, self.tenants = list(self.tenants.values()), {}
        for tenant in tenants:
            tenant.close()

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        request = Request(environ)
        response = self.dispatch(request)
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        path = request.path
        if path.startswith("/__sandbox__"):
            refusal = _side_channel_refusal(request)
            return refusal.response() if refusal else self._route(request)
        if path.startswith("/oauth/"):
            return self._route(request)
        match = _COMPANY_PATH.match(path)
        if self.many_companies and match and int(match.group(1)) != self.company_id:
            return self.tenant(int(match.group(1)))._fic(request)
        return self._fic(request)

    def _fic(self, request: Request) -> Response:
        """A request on FiC's paths: faults first, then quota and token, then the endpoint."""
        decision = self.faults.decide(request.path)
        latency = decision.latency + self.limits.config.latency_ms / 1000
        if latency:
            self.stopping.wait(latency)
        if decision.before == "reset":
            self.stats.record(None, "reset")
            self._drop(request)
        if decision.before is not None:
            response = self._fault_response(decision.before, decision.garbage_kind)
            if decision.before != "garbage":  # a proxy's garbage has no FiC headers
                response.headers.extend(self.limits.headers())
            self.stats.record(response.status_code, decision.before)
            return response
        try:
            self._check_token(request)
            quota = self.limits.admit()
            response = self._route(request)
        except ApiError as error:
            response = error.response()
            quota = self.limits.headers()
        for name, value in quota.items():
            response.headers.setdefault(name, value)
        if decision.hang_after_commit is not None:
            # The work is done and committed; the client just never hears about it.
            self.stopping.wait(decision.hang_after_commit)
            self.stats.record(None, "timeout_after_commit")
            self._drop(request)
        self.stats.record(response.status_code)
        return response

    def _route(self, request: Request) -> Response:
        adapter = URL_MAP.bind_to_environ(request.environ)
        try:
            handler, kwargs = adapter.match()
        except MethodNotAllowed:
            return ApiError(405, f"Metodo {request.method} non consentito su {request.path}.").response()
        except NotFound:
            return ApiError(404, f"Percorso {request.path} non trovato.").response()
        except HTTPException as error:  # e.g. a redirect for a trailing slash
            return error.get_response(request.environ)
        cid = kwargs.get("cid")
        try:
            if cid is not None and cid != self.company_id and not request.path.startswith("/__sandbox__"):
                raise ApiError(403, f"Non hai accesso all'azienda {cid}.", code="NO_PERMISSION")
            return handler(self, request, **kwargs)
        except (ApiError, OAuthError) as error:
            return error.response()
        except Exception:  # a sandbox bug must still answer like FiC, and say where in the log
            log.exception("sandbox error on %s %s", request.method, request.path)
            return ApiError(500, "Errore interno della sandbox (vedi il log).", code="INTERNAL_ERROR").response()

    def _check_token(self, request: Request) -> None:
        """Without a configured token anything goes (even no header: the tests' raw calls);
        with one, only it and the access tokens our OAuth issued."""
        if self.token is None:
            return
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        presented = presented.strip()
        if scheme.lower() != "bearer" or not presented:
            raise ApiError(401, "Autenticazione richiesta: manca l'header Authorization: Bearer <token>.",
                           code="UNAUTHORIZED")
        grants = self._parent.state if self._parent else self.state  # OAuth is the whole sandbox's
        if presented == self.token or oauth.access_token_valid(grants, presented):
            return
        raise ApiError(401, "Token non valido o scaduto.", code="UNAUTHORIZED")

    @staticmethod
    def _fault_response(kind: str, garbage_kind: str) -> Response:
        if kind == "error":
            return json_response({"error": {"message": "Si è verificato un errore interno. Riprova più tardi.",
                                            "code": "INTERNAL_ERROR", "validation_result": None}}, 500)
        if kind == "rate_limit":
            return ApiError(429, "Troppe richieste: riprova tra poco.", code="TOO_MANY_REQUESTS",
                            headers={"Retry-After": "1"}).response()
        if garbage_kind == "empty":
            return Response(b"", status=200, content_type="application/json")
        if garbage_kind == "invalid_json":
            return Response(b'{"data": {"id": 1, "type": "inv', status=200, content_type="application/json")
        return Response(b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway"
                        b"</h1></center><hr><center>nginx</center></body></html>", status=502,
                        content_type="text/html")

    @staticmethod
    def _drop(request: Request) -> None:
        """Close the connection without a byte of answer (RST where the OS allows it)."""
        sock = request.environ.get("werkzeug.socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        raise _Dropped("connection dropped on purpose by the sandbox")
