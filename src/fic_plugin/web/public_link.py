"""A signed, expiring link to a document's PDF for the customer (``{document_url}``).

FiC's own ``url`` expires within hours, so it cannot go in an email. The plugin gives the customer
``{public_url}/public/documents/{token}`` instead: ``token`` is ``id.expiry.mac`` with an HMAC of
the shop's secret, so it cannot be guessed or altered; each click asks FiC for a fresh ``url`` and
redirects there. No administrator is needed for this one page, and it never says more than
"expired" or "not found".
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import TYPE_CHECKING

from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from ..errors import FicError
from ..i18n import _
from . import csrf

if TYPE_CHECKING:
    from ..context import Context
    from ..store import Store
    from .base import Screens

#: How long a link in an email works.
VALID_DAYS = 60


def _mac(store: Store, document_id: int, expires: int) -> str:
    return hmac.new(csrf.shop_secret(store), f"pdf|{document_id}|{expires}".encode(), hashlib.sha256).hexdigest()


def token(store: Store, document_id: int, *, now: float | None = None, days: int = VALID_DAYS) -> str:
    expires = int((now if now is not None else time.time()) + days * 86400)
    return f"{document_id}.{expires}.{_mac(store, document_id, expires)}"


def read(store: Store, value: str, *, now: float | None = None) -> int | None:
    """The document id of a genuine token not expired yet, else ``None``."""
    parts = value.split(".")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
        return None
    document_id, expires = int(parts[0]), int(parts[1])
    if not hmac.compare_digest(_mac(store, document_id, expires), parts[2]):
        return None
    if expires < (now if now is not None else time.time()):
        return None
    return document_id


def document_url(context: Context, document_id: int | None) -> str:
    """The customer's link, or "" when the plugin's public address is not set (setting public_url)."""
    base = (context.settings.public_url or "").rstrip("/")
    if not base or document_id is None:
        return ""
    return f"{base}/public/documents/{token(context.store, document_id)}"


def public_document(web: Screens, request: Request, value: str) -> Response:
    document_id = read(web.context.store, value)
    if document_id is None or web.context.store.document(document_id) is None:
        return web.message_page(request, _("This link has expired or is not valid: ask the shop for a new one."),
                                404)
    try:
        from ..documents import Documents

        url = Documents(web.context).view_url(document_id)
    except FicError:
        return web.message_page(request, _("The document cannot be opened right now: try again in a few "
                                           "minutes."), 503)
    response = redirect(url, code=302)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


HANDLERS = {"public_document": public_document}
