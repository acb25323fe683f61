"""The FiC API as the plugin uses it: issued documents, totals, email, lookups, e-invoices.

Methods return FiC's ``data`` (dicts, numbers as Decimal) and raise :mod:`fic_plugin.fic.errors`.
Lookups (VAT types, payment methods and accounts, document info) change rarely and are needed
for every document, so they are cached for a few minutes: issuing a document then costs one
request. The client never reads settings: :func:`fic_plugin.connection.client_for_context` builds
it for a shop.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import requests

from ..errors import SettingsError
from ..i18n import _
from .auth import ManualToken, OAuthSession
from .errors import BadResponse, ValidationFailed
from .lookups import LOOKUP_TTL, LookupCache
from .ratelimit import Quota, RateLimits
from .transport import Auth, Backoff, RequestRecord, Timeouts, Transport

if TYPE_CHECKING:
    pass

DEFAULT_BASE_URL = "https://api-v2.fattureincloud.it"
__all__ = ["DEFAULT_BASE_URL", "LOOKUP_TTL", "FicClient"]


class FicClient:
    """One company's FiC API (``company_id`` may be None only for :meth:`user_companies`)."""

    def __init__(self, base_url: str, auth: Auth | str, company_id: int | None, *,
                 limits: RateLimits | None = None, timeouts: Timeouts | None = None,
                 backoff: Backoff | None = None, on_request: Callable[[RequestRecord], None] | None = None,
                 session: requests.Session | None = None, lookup_ttl: float = LOOKUP_TTL,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 pacer: Any = None):
        if isinstance(auth, str):
            auth = ManualToken(auth)
        self.company_id = company_id
        self.transport = Transport(base_url, auth, limits=limits, timeouts=timeouts, backoff=backoff,
                                   on_request=on_request, session=session, sleep=sleep, pacer=pacer)
        if isinstance(auth, OAuthSession) and auth.app.on_request is None:
            auth.app.on_request = self.transport.record  # token refreshes count as requests too
        self._lookups = LookupCache(lookup_ttl, clock=clock)
        self._lookup_scope: Any = None

    @property
    def quota(self) -> Quota:
        """FiC's ``RateLimit-*`` headers from the last answer that had them."""
        return self.transport.quota

    @property
    def request_count(self) -> int:
        """HTTP exchanges so far (retries included): what the benchmarks count."""
        return self.transport.request_count

    # --- issued documents ----------------------------------------------------------------------

    def list_documents(self, type: str, *, q: str | None = None, fieldset: str | None = None,
                       fields: str | None = None, sort: str | None = None, per_page: int = 100) -> Iterator[dict]:
        """Every document of ``type`` matching ``q``, page after page (FiC pages hold at most 100)."""
        params = {"type": type, "q": q, "fieldset": fieldset, "fields": fields, "sort": sort, "per_page": per_page}
        return self._pages(self._c("/issued_documents"), params)

    def create_document(self, data: dict, options: dict | None = None) -> dict:
        """Issue a document. Raises OutcomeUnknown (never retried) when FiC may have created it."""
        return self._data(self._call("POST", self._c("/issued_documents"), body=_write_body(data, options)))

    def get_document(self, document_id: int, *, fieldset: str = "detailed") -> dict:
        return self._data(self._call("GET", self._doc(document_id), params={"fieldset": fieldset}))

    def modify_document(self, document_id: int, data: dict, options: dict | None = None) -> dict:
        return self._data(self._call("PUT", self._doc(document_id), body=_write_body(data, options)))

    def delete_document(self, document_id: int) -> None:
        self._call("DELETE", self._doc(document_id), expect_json=False)

    def transform_document(self, original_id: int, new_type: str, *, current_type: str, keep_copy: bool = True,
                           e_invoice: bool = False) -> dict:
        """FiC's draft of ``original_id`` as ``new_type``: ``{"data", "options"}``; creates nothing."""
        answer = self._call("GET", self._c("/issued_documents/transform"), params={
            "original_document_id": original_id, "new_type": new_type, "type": current_type,
            "e_invoice": int(e_invoice), "transform_keep_copy": int(keep_copy)})
        if not isinstance(answer, dict) or not isinstance(answer.get("data"), dict):
            raise _bad_shape("GET", self._c("/issued_documents/transform"))
        return {"data": answer["data"], "options": answer.get("options") or {}}

    def new_document_totals(self, data: dict) -> dict:
        """FiC's totals of a draft (computes only, so it is retried like a GET)."""
        path = self._c("/issued_documents/totals")
        return self._data(self._call("POST", path, body={"data": data}, idempotent=True))

    def document_totals(self, document_id: int, data: dict) -> dict:
        path = self._doc(document_id) + "/totals"
        return self._data(self._call("POST", path, body={"data": data}, idempotent=True))

    # --- email ---------------------------------------------------------------------------------

    def email_data(self, document_id: int) -> dict:
        """FiC's defaults for emailing the document: recipient, senders, subject, body."""
        return self._data(self._call("GET", self._doc(document_id) + "/email"))

    def schedule_email(self, document_id: int, data: dict) -> None:
        """Queue FiC's email of the document; ``{{allegati}}`` in the body is sent as it is."""
        self._call("POST", self._doc(document_id) + "/email", body={"data": data}, expect_json=False)

    def list_emails(self, **filters: Any) -> Iterator[dict]:
        """FiC's email log (``fieldset``, ``sort``, ``q``, ``per_page``...), page after page."""
        return self._pages(self._c("/emails"), {"per_page": 100, **filters})

    # --- lookups (cached) ----------------------------------------------------------------------

    def vat_types(self) -> list[dict]:
        return self._lookup("vat_types", "", lambda: self._list(self._c("/info/vat_types")))

    def payment_methods(self) -> list[dict]:
        return self._lookup("payment_methods", "", lambda: self._list(self._c("/info/payment_methods")))

    def payment_accounts(self) -> list[dict]:
        return self._lookup("payment_accounts", "", lambda: self._list(self._c("/info/payment_accounts")))

    def email_senders(self, document_id: int) -> dict:
        """The company's sender addresses (``default_sender_email``, ``sender_emails_list``).

        FiC gives them only with a document's email data; they belong to the company, so they are
        cached like the other lookups and emailing a document then costs one request.
        """
        def fetch() -> dict:
            data = self.email_data(document_id)
            return {key: data.get(key) for key in ("default_sender_email", "sender_emails_list")}

        return self._lookup("email_senders", "", fetch)

    def document_info(self, type: str) -> dict:
        """Numerations, default notes, template... for new documents of ``type``."""
        return self._lookup("document_info", type, lambda: self._data(
            self._call("GET", self._c("/issued_documents/info"), params={"type": type})))

    def clear_lookups(self) -> None:
        """Forget cached lookups (after the owner changed VAT types or accounts in FiC)."""
        self._lookups.forget(self._lookup_scope)

    def share_lookups(self, cache: LookupCache, scope: Any) -> None:
        """Keep the lookups in ``cache`` (a worker process's, for all its shops) under ``scope``:
        what tells this company and credentials apart from every other shop's."""
        self._lookups, self._lookup_scope = cache, scope

    @property
    def shares_lookups(self) -> bool:
        return self._lookup_scope is not None

    # --- account -------------------------------------------------------------------------------

    def user_companies(self) -> list[dict]:
        """The companies the token can use (id, name, type, ...)."""
        data = self._data(self._call("GET", "/user/companies"))
        companies = data.get("companies") if isinstance(data, dict) else None
        if not isinstance(companies, list):
            raise _bad_shape("GET", "/user/companies")
        return companies

    # --- e-invoice (SDI) -----------------------------------------------------------------------

    def verify_e_invoice_xml(self, document_id: int) -> dict:
        """``{"success": True}``, or ValidationFailed whose ``validation_result`` lists the XML errors."""
        return self._data(self._call("GET", self._doc(document_id) + "/e_invoice/xml_verify"))

    def send_e_invoice(self, document_id: int, data: dict | None = None, dry_run: bool = False) -> dict:
        """Send the e-invoice to SDI (``dry_run`` only checks, so it may be retried)."""
        body = {"data": data or {}, "options": {"dry_run": dry_run}}
        return self._data(self._call("POST", self._doc(document_id) + "/e_invoice/send", body=body,
                                     idempotent=dry_run))

    def e_invoice_error_reason(self, document_id: int) -> dict:
        return self._data(self._call("GET", self._doc(document_id) + "/e_invoice/error_reason"))

    # --- webhooks subscriptions ----------------------------------------------------------------

    def list_subscriptions(self) -> list[dict]:
        return self._list(self._c("/subscriptions"))

    def create_subscription(self, data: dict) -> dict:
        """``{"id": "SUB…", ...}``; FiC posts its verification challenge to the sink first."""
        return self._data(self._call("POST", self._c("/subscriptions"), body={"data": data}))

    def delete_subscription(self, subscription_id: str) -> None:
        self._call("DELETE", self._c(f"/subscriptions/{subscription_id}"), expect_json=False)

    # --- plumbing ------------------------------------------------------------------------------

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            return self.transport.call(method, path, **kwargs)
        except ValidationFailed:
            # What FiC refused may have been built from lists the owner changed since they were
            # kept (an account deleted, a VAT type disabled): the next try reads them afresh.
            self.clear_lookups()
            raise

    def _c(self, path: str) -> str:
        if self.company_id is None:
            raise SettingsError(
                _("No Fatture in Cloud company is chosen: run `fic connect --company ID` (or set FIC_COMPANY_ID)."),
                field="fic_company_id")
        return f"/c/{int(self.company_id)}{path}"

    def _doc(self, document_id: int) -> str:
        return self._c(f"/issued_documents/{int(document_id)}")

    def _data(self, answer: Any) -> Any:
        if not isinstance(answer, dict) or "data" not in answer:
            raise BadResponse(_("Fatture in Cloud answered without the expected data: try again later."))
        return answer["data"]

    def _list(self, path: str) -> list[dict]:
        data = self._data(self._call("GET", path))
        if not isinstance(data, list):
            raise _bad_shape("GET", path)
        return data

    def _pages(self, path: str, params: dict[str, Any]) -> Iterator[dict]:
        page = 1
        while True:
            answer = self._call("GET", path, params={**params, "page": page})
            rows = answer.get("data") if isinstance(answer, dict) else None
            if not isinstance(rows, list):
                raise _bad_shape("GET", path)
            yield from rows
            current, last = answer.get("current_page") or page, answer.get("last_page") or page
            if int(current) >= int(last) or not rows:
                return
            page = int(current) + 1

    def _lookup(self, name: str, key: str, fetch: Callable[[], Any]) -> Any:
        return self._lookups.get((self._lookup_scope, name, key), fetch)


def _write_body(data: dict, options: dict | None) -> dict:
    body: dict[str, Any] = {"data": data}
    if options:
        body["options"] = options
    return body


def _bad_shape(method: str, path: str) -> BadResponse:
    return BadResponse(_("Fatture in Cloud's answer to {request} did not have the expected shape: try again "
                         "later.").format(request=f"{method} {path}"), method=method, path=path)
