"""The few errors the plugin raises.

Every message is written for the shop owner: it says what is wrong, where (which order, which
field or setting) and what to do. Subclasses exist only where a caller acts differently.
Messages never contain a token, a secret or an authorization code.
"""

from __future__ import annotations


class FicError(Exception):
    """Base class: ``str(error)`` is shown to the shop owner as it is."""

    #: A short, stable code for logs, JSON answers and tests.
    code = "error"

    def __init__(self, message: str, *, field: str | None = None, order_id: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.order_id = order_id

    def to_dict(self) -> dict:
        data = {"error": self.message, "code": self.code}
        if self.field:
            data["field"] = self.field
        if self.order_id is not None:
            data["order_id"] = self.order_id
        return data


class InvalidInput(FicError):
    """Input from the shop, the owner or a template is wrong; nothing was written."""

    code = "invalid_input"


class SettingsError(InvalidInput):
    """A setting has a wrong value, or a required one (like the VAT mapping) is missing."""

    code = "invalid_setting"


class NotFound(FicError):
    """An order, a document or a job does not exist (locally or in FiC)."""

    code = "not_found"


class Conflict(FicError):
    """The action clashes with the current state: document locked, already exists, sent to SDI."""

    code = "conflict"


class NotAvailable(FicError):
    """The command exists but what backs it is not built yet."""

    code = "not_available"


class Busy(FicError):
    """Another worker is handling the same document right now; try again shortly (transient)."""

    code = "busy"


class Queued(FicError):
    """The action could not finish now and was queued: the worker completes it (not a failure)."""

    code = "queued"
