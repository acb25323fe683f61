"""The page behind the customer's signed, expiring link to a document's PDF (``{document_url}``).

The link is signed in :mod:`fic_plugin.signing` (``id.expiry.mac``, an HMAC of the shop's
secret); this page checks it, asks FiC for a fresh ``url`` on each click and redirects there.
No administrator is needed for this one page, and it never says more than "expired" or "not found".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from ..errors import FicError
from ..i18n import _
from ..signing import document_url, read

if TYPE_CHECKING:
    from .base import Screens

#: ``document_url`` is signed in :mod:`fic_plugin.signing`, below the texts that mail it; the demo
#: shop's customer page takes it from here, beside the page it leads to.
__all__ = ["HANDLERS", "document_url", "public_document"]


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
