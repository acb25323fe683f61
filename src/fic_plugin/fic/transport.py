"""One HTTP exchange with FiC: pacing, auth, timeouts, retries, and turning answers into errors.

Retries follow one rule: send again only when FiC certainly did nothing, or when doing it twice
is harmless. So a refusal for rate limits (FiC acted on nothing) is waited out for any call;
5xx, resets and timeouts are retried only for idempotent calls (GET, totals); a create, modify,
delete or email that may have reached FiC raises :class:`OutcomeUnknown` at once, and the job
layer looks the document up before trying again. That is how no invoice is issued twice.
"""

from __future__ import annotations

import email.utils
import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import attrs
import requests
import tenacity
from urllib3.exceptions import NameResolutionError, NewConnectionError

from .. import json_codec
from ..i18n import _
from ..version import __version__
from . import errors
from .http_pool import shared_adapter
from .ratelimit import Pacer, Quota, RateLimits, WaitTooLong

log = logging.getLogger("fic_plugin.fic")

#: Used when a 429 comes without Retry-After (FiC's short-term window is minutes long).
DEFAULT_RETRY_AFTER = 10.0


@attrs.frozen
class RequestRecord:
    """One HTTP exchange, for the audit log: no host, no query, no headers."""

    method: str
    path: str
    status: int | None
    duration_ms: int
    outcome: str


@attrs.frozen(kw_only=True)
class Timeouts:
    """Seconds to wait for a connection and for an answer; every call has both."""

    connect: float = 5.0
    read: float = 30.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Timeouts:
        """``FIC_TIMEOUT_CONNECT`` / ``FIC_TIMEOUT_READ`` when set, else the defaults."""
        values = {field: float(environ[env]) for field, env in (("connect", "FIC_TIMEOUT_CONNECT"),
                                                                 ("read", "FIC_TIMEOUT_READ"))
                  if environ.get(env, "").strip()}
        return cls(**values)


@attrs.frozen(kw_only=True)
class Backoff:
    """Exponential backoff with jitter for transient failures of idempotent calls."""

    attempts: int = 4
    initial: float = 0.5
    max: float = 8.0
    jitter: float = 0.5


class Auth(Protocol):
    """What the transport needs from a credential (see :mod:`fic_plugin.fic.auth`)."""

    def access_token(self) -> str: ...

    def refresh(self, stale_token: str) -> bool: ...


def session_for(base_url: str) -> requests.Session:
    """A session that reads the environment once, here, instead of on every request.

    By default requests walks ``os.environ`` for proxies and looks for ``~/.netrc`` on each call
    (a fifth of the client's own time per request); the proxies (``HTTPS_PROXY``, ``NO_PROXY``) and
    the CA bundle (``REQUESTS_CA_BUNDLE``) still apply, read when the client is made. A ``.netrc``
    never applied: the FiC token is sent explicitly. Its connections are the process's, shared
    with every other client (:mod:`.http_pool`).
    """
    session = requests.Session()
    adapter = shared_adapter()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.trust_env = False
    session.proxies.update(requests.utils.get_environ_proxies(base_url))
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        session.verify = bundle
    return session


class Transport:
    """Sends requests to ``base_url`` with ``auth``; see the module docstring for the rules."""

    def __init__(self, base_url: str, auth: Auth, *, limits: RateLimits | None = None,
                 timeouts: Timeouts | None = None, backoff: Backoff | None = None,
                 on_request: Callable[[RequestRecord], None] | None = None,
                 session: requests.Session | None = None, sleep: Callable[[float], None] = time.sleep,
                 pacer: Any = None):
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.limits = limits or RateLimits()
        self.timeouts = timeouts or Timeouts()
        self.backoff = backoff or Backoff()
        self.on_request = on_request
        self.session = session or session_for(self.base_url)
        # A pacer shared with the shop's other processes (``SharedPacer``), else this process's own.
        self.pacer = pacer or Pacer(self.limits, sleep=sleep)
        self._sleep = sleep
        self.quota = Quota()
        self.request_count = 0

    # --- the public entry point ----------------------------------------------------------------

    def call(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
             body: Any = None, idempotent: bool | None = None, expect_json: bool = True) -> Any:
        """The parsed JSON answer (``None`` when ``expect_json`` is false), or a client error."""
        if idempotent is None:
            idempotent = method == "GET"
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.backoff.attempts),
            wait=self._wait,
            retry=tenacity.retry_if_exception(lambda error: self._should_retry(error, idempotent)),
            before_sleep=self._log_retry,
            sleep=self._sleep,
            reraise=True,
        )
        return retrying(self._attempt, method, path, params, body, idempotent, expect_json)

    def record(self, record: RequestRecord) -> None:
        """Count an exchange and tell the observer (also used for OAuth token requests)."""
        self.request_count += 1
        log.debug("FiC %s %s -> %s in %d ms (%s)", record.method, record.path, record.status,
                  record.duration_ms, record.outcome)
        if self.on_request is not None:
            self.on_request(record)

    # --- retry policy --------------------------------------------------------------------------

    def _should_retry(self, error: BaseException, idempotent: bool) -> bool:
        if isinstance(error, errors.RateLimited):
            return error.retry_after <= self.limits.max_wait
        if isinstance(error, errors.OutcomeUnknown):
            return False
        if isinstance(error, errors.FicUnavailable):
            # Raised for a non-idempotent call only when the request never left (refused connect).
            return True
        return isinstance(error, errors.BadResponse) and idempotent

    def _wait(self, state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, errors.RateLimited):
            return error.retry_after
        backoff = tenacity.wait_exponential_jitter(multiplier=self.backoff.initial, max=self.backoff.max,
                                                   jitter=self.backoff.jitter)
        return backoff(state)

    @staticmethod
    def _log_retry(state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        log.info("FiC call failed (%s), retry %d in %.1f s", getattr(error, "code", type(error).__name__),
                 state.attempt_number, state.upcoming_sleep)

    # --- one attempt ---------------------------------------------------------------------------

    def _attempt(self, method: str, path: str, params: Mapping[str, Any] | None, body: Any,
                 idempotent: bool, expect_json: bool) -> Any:
        token = self.auth.access_token()
        try:
            return self._exchange(method, path, params, body, idempotent, expect_json, token)
        except errors.AuthenticationRequired:
            # One fresh token per call: an expired access token is normal, a second 401 is not.
            if not self.auth.refresh(token):
                raise
        return self._exchange(method, path, params, body, idempotent, expect_json, self.auth.access_token())

    def _exchange(self, method: str, path: str, params: Mapping[str, Any] | None, body: Any,
                  idempotent: bool, expect_json: bool, token: str) -> Any:
        try:
            self.pacer.acquire()
            let_go = time.monotonic()
        except WaitTooLong as wait:
            raise errors.RateLimited(
                _("The plugin holds back {request}: it would exceed Fatture in Cloud's request limits. "
                  "It can be sent in {seconds} seconds; the worker will retry on its own.").format(
                    request=f"{method} {path}", seconds=round(wait.seconds)),
                retry_after=wait.seconds, method=method, path=path) from None
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json",
                   "User-Agent": f"fic-plugin/{__version__}"}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = encode_json(body)
        started = time.monotonic()
        status: int | None = None
        outcome = "ok"
        try:
            try:
                response = self.session.request(
                    method, self.base_url + path, params=_clean_params(params), data=data, headers=headers,
                    timeout=(self.timeouts.connect, self.timeouts.read), allow_redirects=False)
            except requests.RequestException as error:
                raise _connection_error(error, method, path, idempotent) from None
            status = response.status_code
            return self._interpret(response, method, path, idempotent, expect_json)
        except errors.FicApiError as error:
            outcome = error.code
            raise
        finally:
            self.pacer.answered(time.monotonic() - let_go)
            self.record(RequestRecord(method, path, status, round((time.monotonic() - started) * 1000), outcome))

    def _hold_back(self, seconds: float) -> None:
        """Tell the pacer FiC's ``Retry-After``, so every process waits, not only this one; a pacer
        that cannot record it (its store away) must not hide FiC's answer."""
        refused = getattr(self.pacer, "refused", None)
        if refused is None:
            return
        try:
            refused(seconds)
        except Exception:  # noqa: BLE001 - FiC's refusal is the error the caller needs
            log.warning("FiC's Retry-After not shared with the other processes", exc_info=True)

    def _interpret(self, response: requests.Response, method: str, path: str, idempotent: bool,
                   expect_json: bool) -> Any:
        self.quota = Quota.from_headers(response.headers, self.quota)
        if "RateLimit-HourlyRemaining" in response.headers:  # only FiC's word of now, not a past one
            self.pacer.observe(self.quota)
        status = response.status_code
        where = {"status": status, "method": method, "path": path}
        request = f"{method} {path}"
        if 200 <= status < 300:
            if not expect_json:
                return None
            try:
                return parse_json(response)
            except errors.BadResponse as bad:
                if idempotent:
                    raise
                raise errors.OutcomeUnknown(
                    _("Fatture in Cloud accepted {request} but its answer was unreadable: the change was "
                      "probably made. Look the document up in FiC before trying again.").format(request=request),
                    **where) from bad
        message, fic_code, validation_result, extra = _error_details(response)
        detail = f": {message}" if message else ""
        if status == 401:
            raise errors.AuthenticationRequired(
                _("Fatture in Cloud did not accept the shop's access token ({request}): the connection "
                  "expired or was revoked. Run `fic connect` to connect the shop again.").format(request=request),
                fic_code=fic_code, **where)
        retry_after = _retry_after(response.headers.get("Retry-After"))
        if status == 429 or (status == 403 and retry_after is not None):
            seconds = retry_after if retry_after is not None else DEFAULT_RETRY_AFTER
            self._hold_back(seconds)
            kind = _("hourly or monthly quota") if status == 403 else _("short-term request limit")
            raise errors.RateLimited(
                _("Fatture in Cloud's {kind} was reached ({request}): it accepts requests again in "
                  "{seconds} seconds. The worker retries on its own.").format(
                    kind=kind, request=request, seconds=round(seconds)),
                retry_after=seconds, fic_code=fic_code, **where)
        if status == 403:
            hint = (_("Renew the Fatture in Cloud licence, then try again.") if fic_code == "LICENSE_EXPIRED"
                    else _("Check that the token was made with the permissions (scopes) the plugin needs and "
                           "that the FiC plan allows this, then run `fic connect` again."))
            raise errors.PermissionDenied(
                _("Fatture in Cloud refused {request}{detail}. {hint}").format(request=request, detail=detail, hint=hint),
                fic_code=fic_code, **where)
        if status == 404:
            raise errors.FicNotFound(
                _("Fatture in Cloud has no such document or company ({request}): it may have been deleted "
                  "in FiC, or the company id is wrong.").format(request=request), fic_code=fic_code, **where)
        if status == 409:
            raise errors.FicConflict(
                _("Fatture in Cloud refused {request} because of the document's state{detail}.").format(
                    request=request, detail=detail), fic_code=fic_code, **where)
        if status >= 500:
            if idempotent:
                raise errors.FicUnavailable(
                    _("Fatture in Cloud is not answering properly ({request}, HTTP {status}): try again in "
                      "a few minutes.").format(request=request, status=status), fic_code=fic_code, **where)
            raise errors.OutcomeUnknown(
                _("Fatture in Cloud failed while handling {request} (HTTP {status}): the change may have "
                  "been made. Look the document up in FiC before trying again.").format(
                    request=request, status=status), fic_code=fic_code, **where)
        raise errors.ValidationFailed(
            _("Fatture in Cloud rejected the data of {request}{detail}").format(
                request=request, detail=detail or f" (HTTP {status})"),
            fic_message=message, validation_result=validation_result, extra=extra, fic_code=fic_code, **where)


# --- helpers -------------------------------------------------------------------------------------


def _never_sent(error: BaseException) -> bool:
    """True when the connection failed before a byte of the request could leave."""
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return True
    seen: set[int] = set()
    stack: list[Any] = [error]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, (NewConnectionError, NameResolutionError, ConnectionRefusedError)):
            return True
        if isinstance(current, BaseException):
            stack.extend([getattr(current, "reason", None), current.__cause__, current.__context__,
                          *[a for a in current.args if isinstance(a, BaseException)]])
    return False


def _connection_error(error: requests.RequestException, method: str, path: str,
                      idempotent: bool) -> errors.FicUnavailable:
    request = f"{method} {path}"
    where = {"status": None, "method": method, "path": path}
    what = _("timed out") if isinstance(error, requests.exceptions.Timeout) else _("lost the connection")
    if _never_sent(error) or idempotent:
        return errors.FicUnavailable(
            _("Fatture in Cloud could not be reached ({request}: {what}). Check the internet connection "
              "and FIC_API_URL; the plugin retries on its own.").format(request=request, what=what), **where)
    return errors.OutcomeUnknown(
        _("The request {request} {what} after it was sent: Fatture in Cloud may have applied it. Look the "
          "document up in FiC before trying again.").format(request=request, what=what), **where)


def parse_json(response: requests.Response) -> Any:
    """The JSON body with numbers as Decimal (money never becomes float), or BadResponse."""
    kind = response.headers.get("Content-Type", "").split(";")[0].strip() or "no content type"
    text = response.text
    request = f"{response.request.method} {_path_of(response)}" if response.request is not None else ""
    try:
        if not text.strip():
            raise ValueError("empty")
        return json_codec.loads(text)
    except ValueError:
        raise errors.BadResponse(
            _("Fatture in Cloud answered {request} with something that is not JSON (HTTP {status}, {kind}): "
              "try again later; if it persists, check FIC_API_URL.").format(
                request=request, status=response.status_code, kind=kind),
            status=response.status_code, method=response.request.method if response.request else "",
            path=_path_of(response)) from None


def _path_of(response: requests.Response) -> str:
    from urllib.parse import urlsplit

    return urlsplit(response.url or "").path


def _error_details(response: requests.Response) -> tuple[str, str | None, Any, Any]:
    """(FiC's message verbatim, FiC's code, validation_result, extra) from an error body."""
    try:
        body = json_codec.loads(response.text)
    except ValueError:
        return "", None, None, None
    if not isinstance(body, dict):
        return "", None, None, None
    error = body.get("error")
    if isinstance(error, dict):
        message = error.get("message") or ""
        return str(message), error.get("code"), error.get("validation_result"), body.get("extra")
    if isinstance(error, str):  # OAuth style: {"error", "error_description"}
        return str(body.get("error_description") or error), error, None, body.get("extra")
    return "", None, None, body.get("extra")


def _retry_after(value: str | None) -> float | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _clean_params(params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not params:
        return None
    return {k: (int(v) if isinstance(v, bool) else v) for k, v in params.items() if v is not None}


def encode_json(body: Any) -> bytes:
    """The request body: JSON with Decimal written as exact numbers (:mod:`fic_plugin.json_codec`)."""
    return json_codec.dumps(body, compact=True).encode("utf-8")
