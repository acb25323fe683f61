"""The shop's own HMAC secret, and the customer's signed, expiring links to a document's PDF.

FiC's own ``url`` expires within hours, so it cannot go in an email (``{document_url}``). The
customer gets ``{public_url}/public/documents/{token}`` instead: ``token`` is ``id.expiry.mac``
with an HMAC of the shop's secret, so it cannot be guessed or altered. The texts sign it here;
``web/public_link.py`` is the page that reads it and redirects to FiC. The same secret keys the
screens' CSRF tokens (``web/csrf.py``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .store import Store

#: Where the secret is kept among the shop's secrets (the name predates the links: never renamed,
#: or every link already sent and every open screen would stop working).
SECRET_KEY = "web_csrf_secret"

#: How long a link in an email works.
VALID_DAYS = 60


class SigningShop(Protocol):
    """What a link needs of a shop (a :class:`fic_plugin.context.Context` is one)."""

    settings: Any
    store: Store


def shop_secret(store: Store) -> bytes:
    """The per-shop HMAC key, created on first use."""
    value = store.get_secret(SECRET_KEY)
    if not value:
        with store.transaction():
            value = store.get_secret(SECRET_KEY)
            if not value:
                value = secrets.token_hex(32)
                store.set_secret(SECRET_KEY, value)
    return value.encode()


def _mac(store: Store, document_id: int, expires: int) -> str:
    return hmac.new(shop_secret(store), f"pdf|{document_id}|{expires}".encode(), hashlib.sha256).hexdigest()


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


def document_url(context: SigningShop, document_id: int | None) -> str:
    """The customer's link, or "" when the plugin's public address is not set (setting public_url)."""
    base = (context.settings.public_url or "").rstrip("/")
    if not base or document_id is None:
        return ""
    return f"{base}/public/documents/{token(context.store, document_id)}"
