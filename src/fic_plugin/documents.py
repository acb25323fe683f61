"""The document lifecycle: create, view, convert, delete and pay — each exactly once.

How "exactly once" holds (see also ``jobs``):

1. Before FiC is called, an *intent* row is written in ``fic_documents`` (``fic_id`` NULL). The
   unique index on (order, type) means a replayed event, a double click or a second worker finds
   the row instead of creating another document.
2. The FiC document carries a *marker* in ``subject`` (FiC's internal, non-printed subject).
   ``attempted_at`` is committed before the POST: from then on the outcome may be unknown (a
   timeout after FiC committed, a crash), so the next attempt first looks the marker up in FiC and
   adopts what it finds.
3. Only when the lookup finds nothing is the document created again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import leases
from .context import acting_for
from .conversions import Conversions
from .deletion import Deletion
from .document_intents import (
    apply_fic_fields,
    marker_for,
    maybe_applied,
    refund_marker,
    synced_document,
)
from .document_payments import PAYABLE_TYPES
from .errors import Conflict, InvalidInput, NotFound
from .formatting import total_difference
from .i18n import _
from .model import DOCUMENT_TYPES, Document, Order
from .money import Totals
from .sdi import enqueue_send

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

__all__ = ["PAYABLE_TYPES", "Documents", "marker_for", "refund_marker"]


class Documents(Conversions, Deletion):
    """Document operations for one shop; every method is safe to call again after a failure.

    Issuing and viewing are here; converting (:mod:`~fic_plugin.conversions`), deleting
    (:mod:`~fic_plugin.deletion`), payments (:mod:`~fic_plugin.document_payments`) and the intent
    rows they all stand on (:mod:`~fic_plugin.document_intents`) are in modules of their own.
    """

    # --- create ----------------------------------------------------------------------------------

    def create(self, order_id: str, document_type: str) -> Document:
        """Issue a document of ``document_type`` for the order now (panel, CLI).

        Refuses when the order already has one of that type: delete or convert it first.
        """
        if document_type not in DOCUMENT_TYPES:
            raise InvalidInput(_("Unknown document type {type}.").format(type=document_type), field="type")
        order = self.context.order(order_id)
        existing = self.store.document_for(order.id, document_type)
        if existing is not None and existing.is_synced:
            raise Conflict(
                _("Order {order} already has a {label} (n. {number}): delete or convert it first.").format(
                    order=order.number, label=DOCUMENT_TYPES[document_type], number=existing.full_number),
                order_id=order.id,
            )
        try:
            return self.ensure(order, document_type)
        except Exception as error:
            key = f"create:{order.id}:{document_type}:{self._generation(order.id, document_type)}"
            self._finish_later(error, "create", key, order, {"type": document_type}, document_type)
            raise

    def ensure(self, order: Order, document_type: str) -> Document:
        """Make sure the order has its document of this type in FiC; create it at most once."""
        document = self._reserve(order, document_type)
        if document.is_synced:
            return document
        try:
            with acting_for(order.id, document.id):
                return self._create(order, document)
        finally:
            self._unlease(document)

    def _create(self, order: Order, document: Document,
                build: Callable[[], tuple[dict[str, Any], Totals]] | None = None) -> Document:
        """Create the intent's document in FiC, or adopt the one a lost answer left there.

        ``build`` makes the payload (default: the order's document of the intent's type; a
        credit note brings its own).
        """
        document_type = document.type
        if document.attempted_at:
            found = self._find_in_fic(document)
            if found is not None:
                log.info("order %s: adopted FiC document %s found by its marker", order.id, found["id"])
                return self._adopt(order, document, found)
        # FiC holds no document with this marker: building the payload or creating it may fail
        # without leaving anything behind, except when FiC may have done it after all.
        try:
            payload, totals = build() if build else self._payload(order, document_type, document.marker)
            document.charged = totals.amount_gross
            self._mark_attempted(document)
            # FiC settles the totals: where its amount_due differs from ours it fixes the last
            # instalment instead of refusing the document (0 extra requests).
            created = self.context.client.create_document(payload, {"fix_payments": True})
        except BaseException as error:
            # An interrupt in flight (Ctrl-C, SystemExit) leaves the outcome unknown as well; a
            # lost lease leaves the row to the worker that took it over.
            if isinstance(error, Exception) and not maybe_applied(error) and not isinstance(error, leases.LeaseLost):
                self._release(document, error)
            raise
        return self._adopt(order, document, created)

    def preview_totals(self, order_id: str, document_type: str) -> dict[str, Any]:
        """FiC's totals for the document the order would get, before creating it (one request).

        ``{"fic": FiC's answer, "local": the plugin's own reading, "charged": the order's total}``.
        """
        order = self.context.order(order_id)
        payload, totals = self._payload(order, document_type, None)
        with acting_for(order.id, None):
            fic = self.context.client.new_document_totals(payload)
        return {"fic": fic, "local": totals.as_fic(), "charged": totals.amount_gross, "order": order}

    def _adopt(self, order: Order, document: Document, fic: dict[str, Any]) -> Document:
        """Store what FiC answered on the intent row and tell the plugins."""
        apply_fic_fields(document, fic)
        document.last_error = None
        with self.store.transaction():
            self.store.update_document(document)
            # In the same transaction: an e-invoice is never left created but not queued for the SdI.
            enqueue_send(self.context, document, fallback=self.sends_e_invoice_now)
        self.store.audit("create", f"{document.type_label} n. {document.full_number}",
                         order_id=order.id, document_id=document.id)
        if document.total_differs:
            self.store.audit("totals", total_difference(document, order), order_id=order.id,
                             document_id=document.id)
        self.context.pm.hook.fic_document_issued(order=order, document=document)
        return document

    # --- view --------------------------------------------------------------------------------------

    def view_url(self, document_id: int) -> str:
        """A fresh link to the document's PDF: FiC's ``url`` expires, so it is never stored."""
        document = synced_document(self.store, document_id)
        with acting_for(document.order_id, document.id):
            fic = self.context.client.get_document(document.fic_id)
        url = fic.get("url")
        if not url:
            raise NotFound(_("FiC has no printable copy of this document yet: try again in a minute."),
                           order_id=document.order_id)
        return url
