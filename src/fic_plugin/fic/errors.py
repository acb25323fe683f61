"""What can go wrong when talking to Fatture in Cloud, split by what the caller does about it.

Each error carries ``.status`` (HTTP status, ``None`` when no answer came), ``.method`` and
``.path`` (without host and query, so no secret can leak) for the audit log, and a message the
shop owner can act on. Messages never contain headers, tokens or request bodies.
"""

from __future__ import annotations

from typing import Any

from ..errors import Conflict, FicError, InvalidInput, NotFound
from .redact import redact


class FicApiError(FicError):
    """Base of the client's errors: ``str()`` says what happened and what to do."""

    code = "fic_error"

    def __init__(self, message: str, *, status: int | None = None, method: str = "", path: str = "",
                 fic_code: str | None = None, order_id: str | None = None):
        # Our messages never hold a secret; this guards against one echoed back by FiC.
        super().__init__(redact(message), order_id=order_id)
        self.status = status
        self.method = method
        self.path = path
        #: FiC's own error code when it sent one (``NO_PERMISSION``, ``LICENSE_EXPIRED`` ...).
        self.fic_code = fic_code

    def to_dict(self) -> dict:
        data = super().to_dict()
        data.update({"status": self.status, "request": f"{self.method} {self.path}".strip()})
        if self.fic_code:
            data["fic_code"] = self.fic_code
        return data


class AuthenticationRequired(FicApiError):
    """401, or no token at all: the shop must be connected again (``fic connect``)."""

    code = "fic_authentication_required"


class PermissionDenied(FicApiError):
    """403 without Retry-After: the token lacks a scope, or the FiC licence/plan does not allow it."""

    code = "fic_permission_denied"


class RateLimited(FicApiError):
    """429 (short-term limit) or 403 with Retry-After (hourly/monthly quota): wait ``retry_after`` s."""

    code = "fic_rate_limited"

    def __init__(self, message: str, *, retry_after: float, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class FicNotFound(FicApiError, NotFound):
    """404: the document (or company) does not exist in FiC, or was deleted there."""

    code = "fic_not_found"


class FicConflict(FicApiError, Conflict):
    """409: FiC refuses because of the document's state (locked, sent to SDI, already paid...)."""

    code = "fic_conflict"


class ValidationFailed(FicApiError, InvalidInput):
    """400/422: FiC rejected the data. ``fic_message`` is FiC's text, verbatim."""

    code = "fic_validation_failed"

    def __init__(self, message: str, *, fic_message: str = "", validation_result: Any = None,
                 extra: Any = None, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.fic_message = fic_message
        self.validation_result = validation_result
        #: FiC's ``extra`` (for a payments mismatch, ``extra["totals"]`` holds FiC's figures).
        self.extra = extra

    def to_dict(self) -> dict:
        data = super().to_dict()
        data["fic_message"] = self.fic_message
        if self.validation_result is not None:
            data["validation_result"] = self.validation_result
        return data


class FicUnavailable(FicApiError):
    """FiC did not answer usefully (5xx, connection refused or reset, timeout): try again later."""

    code = "fic_unavailable"


class OutcomeUnknown(FicUnavailable):
    """A create/modify/delete/email may or may not have happened in FiC.

    The client never retries these: the caller must look the document up in FiC before trying
    again, or it could issue the same invoice twice.
    """

    code = "fic_outcome_unknown"


class BadResponse(FicApiError):
    """FiC (or a proxy in front of it) answered with something that is not the expected JSON."""

    code = "fic_bad_response"
