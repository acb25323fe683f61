"""FiC's answer shapes: ``{"data": …}`` bodies, ``{"error": {...}, "extra": …}`` errors and the
OAuth ``{"error", "error_description"}`` errors, all serialised without floats."""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Response

from . import jsonio


class ApiError(Exception):
    """Stops a handler and answers like FiC: ``status`` with FiC's error shape.

    Messages are FiC's own words (Italian, as FiC writes them) because the sandbox stands in for
    FiC; the plugin translates what it shows to the shop owner.
    """

    def __init__(self, status: int, message: str, *, code: str | None = None,
                 validation_result: Any = None, extra: Any = None, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.validation_result = validation_result
        self.extra = extra
        self.headers = headers or {}

    def body(self) -> dict:
        error: dict[str, Any] = {"message": self.message, "validation_result": self.validation_result}
        if self.code:
            error["code"] = self.code
        body: dict[str, Any] = {"error": error}
        if self.extra is not None:
            body["extra"] = self.extra
        return body

    def response(self) -> Response:
        return json_response(self.body(), self.status, self.headers)


class OAuthError(Exception):
    """An OAuth endpoint's error: ``{"error": code, "error_description": text}``."""

    def __init__(self, status: int, error: str, description: str):
        super().__init__(description)
        self.status, self.error, self.description = status, error, description

    def response(self) -> Response:
        return json_response({"error": self.error, "error_description": self.description}, self.status)


def json_response(body: Any, status: int = 200, headers: dict | None = None) -> Response:
    return Response(jsonio.dumps(body), status=status, headers=headers, content_type="application/json")


def data(value: Any, status: int = 200) -> Response:
    """FiC's success envelope."""
    return json_response({"data": value}, status)


def validation(field: str, message: str) -> ApiError:
    """A 422 naming the offending field the way FiC's validation_result does."""
    return ApiError(422, message, validation_result={field: [message]})
