"""FiC's OAuth2 authorization-code flow, enough for the plugin's "Connect" button against the
sandbox: ``/oauth/authorize`` redirects straight back with a code (no login page: the sandbox
has one user), ``/oauth/token`` trades codes and refresh tokens for ``a/…`` and ``r/…`` tokens."""

from __future__ import annotations

import secrets
import time
from typing import Any
from urllib.parse import urlencode

from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from . import jsonio
from .responses import OAuthError, json_response
from .state import State

CODE_SECONDS = 60
ACCESS_SECONDS = 24 * 3600
REFRESH_SECONDS = 365 * 24 * 3600


def access_token_valid(state: State, token: str) -> bool:
    grant = state.take_grant(token, "access", single_use=False)
    return grant is not None and grant["expires"] > time.time()


def authorize(sandbox: Any, request: Request) -> Response:
    args = request.args
    for name in ("response_type", "client_id", "redirect_uri"):
        if not args.get(name):
            raise OAuthError(400, "invalid_request", f"The {name} parameter is required.")
    if args["response_type"] != "code":
        raise OAuthError(400, "unsupported_response_type", "Only response_type=code is supported.")
    if args["client_id"] != sandbox.client_id:
        raise OAuthError(401, "invalid_client", "Client authentication failed.")
    code = "c/" + secrets.token_urlsafe(24)
    sandbox.state.add_grant(code, "code", args["client_id"], time.time() + CODE_SECONDS,
                            redirect_uri=args["redirect_uri"], scope=args.get("scope"))
    query = {"code": code}
    if args.get("state") is not None:
        query["state"] = args["state"]
    separator = "&" if "?" in args["redirect_uri"] else "?"
    return redirect(f"{args['redirect_uri']}{separator}{urlencode(query)}", code=302)


def _params(request: Request) -> dict:
    """FiC takes JSON; a form body is accepted too, as OAuth libraries send one."""
    if request.mimetype == "application/json":
        try:
            body = jsonio.loads(request.get_data() or b"{}")
        except (ValueError, RecursionError):
            raise OAuthError(400, "invalid_request", "The request body is not valid JSON.") from None
        return body if isinstance(body, dict) else {}
    return request.form.to_dict()


def token(sandbox: Any, request: Request) -> Response:
    params = _params(request)
    grant_type = params.get("grant_type")
    if grant_type not in ("authorization_code", "refresh_token"):
        raise OAuthError(400, "unsupported_grant_type", "The authorization grant type is not supported.")
    for name in ("client_id", "client_secret"):
        if not params.get(name):
            raise OAuthError(400, "invalid_request", f"The {name} field is required.")
    if params["client_id"] != sandbox.client_id or not secrets.compare_digest(
            str(params["client_secret"]), sandbox.client_secret):
        raise OAuthError(401, "invalid_client", "Client authentication failed.")
    if grant_type == "authorization_code":
        for name in ("code", "redirect_uri"):
            if not params.get(name):
                raise OAuthError(400, "invalid_request",
                                 f"The {name} field is required when grant type is authorization_code.")
        grant = sandbox.state.take_grant(params["code"], "code", single_use=True)
        if grant is None or grant["expires"] < time.time() or grant["client_id"] != params["client_id"]:
            raise OAuthError(400, "invalid_grant", "The authorization code is invalid, expired or already used.")
        if grant["redirect_uri"] != params["redirect_uri"]:
            raise OAuthError(400, "invalid_grant", "The redirect_uri does not match the one of the authorization.")
    else:
        if not params.get("refresh_token"):
            raise OAuthError(400, "invalid_request",
                             "The refresh_token field is required when grant type is refresh_token.")
        grant = sandbox.state.take_grant(params["refresh_token"], "refresh", single_use=True)
        if grant is None or grant["expires"] < time.time() or grant["client_id"] != params["client_id"]:
            raise OAuthError(400, "invalid_grant", "The refresh token is invalid, expired or revoked.")
    access = "a/" + secrets.token_urlsafe(32)
    refresh = "r/" + secrets.token_urlsafe(32)
    now = time.time()
    sandbox.state.add_grant(access, "access", params["client_id"], now + ACCESS_SECONDS, scope=grant["scope"])
    sandbox.state.add_grant(refresh, "refresh", params["client_id"], now + REFRESH_SECONDS, scope=grant["scope"])
    return json_response({"token_type": "bearer", "access_token": access, "refresh_token": refresh,
                          "expires_in": ACCESS_SECONDS})
