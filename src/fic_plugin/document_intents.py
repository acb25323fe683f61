"""A document's intent row, the bookkeeping that makes issuing it in FiC happen exactly once.

The row is written before FiC is called (``fic_id`` NULL), leased to one worker, marked
``attempted_at`` before the POST, released when FiC refused, and found again in FiC by the
marker written in its ``subject`` (see :mod:`fic_plugin.documents`). Here too: the order's FiC
document with FiC's lookups (``_payload``), a document written again from its order
(``rewrite``), and the local row forgotten when FiC no longer has it.
"""

from __future__ import annotations

import logging
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from . import dates, leases
from .context import acting_for
from .einvoice import is_e_invoice
from .errors import Busy, Conflict, NotFound, Queued, SettingsError
from .fic.errors import OutcomeUnknown
from .i18n import _
from .model import DOCUMENT_TYPES, Document, Order
from .money import Totals
from .outbox import enqueue, is_transient
from .payload import build_document, expected_totals
from .store import now_iso
from .vies import check_vies

if TYPE_CHECKING:
    from .context import Context
    from .store import Store

log = logging.getLogger(__name__)


def marker_for(order_id: str, document_type: str, generation: int) -> str:
    """The reference written in FiC's ``subject`` to find this document again."""
    return f"fic-plugin:order-{order_id}:{document_type}:{generation}"


def refund_marker(order_id: str, refund_id: str) -> str:
    """The marker of a refund's credit note: one per refund, whatever happens to the others."""
    return f"fic-plugin:order-{order_id}:credit_note:refund-{refund_id}"


def synced_document(store: Store, document_id: int) -> Document:
    """The shop's document ``document_id``, once FiC has it: ``NotFound`` when there is no such
    document, ``Conflict`` while it is still being created."""
    document = store.document(document_id)
    if document is None:
        raise NotFound(_("Document {id} does not exist.").format(id=document_id))
    if not document.is_synced:
        raise Conflict(_("This document is still being created in Fatture in Cloud: try again shortly."),
                       order_id=document.order_id)
    return document


class DocumentIntents:
    """The intent rows of one shop's documents; the operations on documents build on them."""

    def __init__(self, context: Context, *, sends_e_invoice_now: bool = False):
        self.context = context
        self.store = context.store
        #: The caller sends a new e-invoice to the SdI itself right after creating it (the
        #: automatic job): its send job is only the fallback (see ``sdi.FALLBACK_SECONDS``).
        self.sends_e_invoice_now = sends_e_invoice_now

    def _finish_later(self, error: Exception, kind: str, key: str, order: Order, args: dict[str, Any],
                      document_type: str) -> None:
        """FiC did not answer clearly: queue the action for the worker and say so (``Queued``).

        The worker looks the document up before doing anything again, so the owner need not click
        twice — and a second click would only find the intent.
        """
        if not is_transient(error):
            return
        enqueue(self.context, kind, key, order_id=order.id, args=args)
        raise Queued(_("Fatture in Cloud did not answer in time ({reason}). The {label} will be completed "
                       "automatically in a few minutes.").format(reason=error, label=DOCUMENT_TYPES[document_type]),
                     order_id=order.id) from error

    def _reserve(self, order: Order, document_type: str, *, refund_id: str = "",
                 corrects: int | None = None) -> Document:
        """The intent row for (order, type[, refund]), found or written now, leased to this worker.

        One transaction: two workers never both hold an unsynced intent, so they never both call
        FiC for it. A synced row is returned without a lease (there is nothing left to create).
        """
        with self.store.transaction():
            document = self.store.document_for(order.id, document_type, refund_id)
            if document is None:
                generation = self._generation(order.id, document_type)
                numeration = "" if document_type == "delivery_note" else self.context.settings.numeration
                marker = (refund_marker(order.id, refund_id) if refund_id
                          else marker_for(order.id, document_type, generation))
                document = self.store.insert_document(Document(
                    id=None, order_id=order.id, type=document_type, numeration=numeration,
                    marker=marker, refund_id=refund_id, corrects=corrects))
            elif document.is_synced:
                return document
            else:
                owner, lease_until = self.store.document_lease(document.id)
                if not leases.is_free(self.store, owner, lease_until):
                    raise Busy(_("The {label} of order {order} is being created right now.").format(
                        label=document.type_label, order=order.number), order_id=order.id)
                if owner is not None and owner != leases.me() and not document.attempted_at:
                    # Taken over from a worker that went silent: it may have called FiC just before,
                    # so look its marker up in FiC before creating anything.
                    document.attempted_at = now_iso()
                    self.store.update_document(document)
            self.store.lease_document(document.id, leases.owner_id(self.store), leases.until(leases.LEASE_SECONDS))
            return document

    def _mark_attempted(self, document: Document) -> None:
        """Commit that FiC is being called, if this worker still holds the row (``LeaseLost`` if not)."""
        with self.store.transaction():
            if self.store.document_lease(document.id)[0] != leases.me():
                raise leases.LeaseLost(_("The {label} of order {order} was taken over by another worker.").format(
                    label=document.type_label, order=document.order_id), order_id=document.order_id)
            document.attempted_at = now_iso()
            self.store.update_document(document)

    def _unlease(self, document: Document) -> None:
        self.store.release_document_lease(document.id, leases.me())

    def _generation(self, order_id: str, document_type: str) -> int:
        """How many documents of this type the order had before: a deleted one is not found again."""
        key = f"generation:{order_id}:{document_type}"
        return int(self.store.get_meta(key) or 0)

    def _release(self, document: Document, error: Exception) -> None:
        """FiC refused before creating anything: drop the intent so nothing half-made remains."""
        with self.store.transaction():
            self.store.delete_document(document.id)
        self.store.audit("create", _("refused: {error}").format(error=error), order_id=document.order_id)

    def _payload(self, order: Order, document_type: str, marker: str | None) -> tuple[dict[str, Any], Totals]:
        """The FiC document for the order, with the totals the shop charges for it."""
        check_vies(self.context, order)
        try:
            payload, vat_naturas = self._build(order, document_type, marker)
        except SettingsError:
            # The settings may name a VAT type or account the owner added in FiC after the kept
            # lists were read (they are kept for an hour): read them again before refusing.
            self.context.client.clear_lookups()
            payload, vat_naturas = self._build(order, document_type, marker)
        self.context.pm.hook.fic_document_payload(order=order, document_type=document_type, payload=payload)
        # The marker is what prevents duplicates: a plugin may not take it away.
        if marker is not None:
            payload["subject"] = marker
        totals = expected_totals(order, self.context.settings, document_type=document_type, vat_naturas=vat_naturas)
        return payload, totals

    def _build(self, order: Order, document_type: str,
               marker: str | None) -> tuple[dict[str, Any], dict[int, str | None]]:
        """The FiC document built from FiC's lists (cached by the client), and the natura of each
        VAT type: a rate mapped to a VAT type of another value is refused here, with the order and
        the rate named, instead of by FiC."""
        settings = self.context.settings
        client = self.context.client
        vat_types = client.vat_types()
        vat_rates = {int(t["id"]): Decimal(str(t["value"])) for t in vat_types if t.get("value") is not None}
        # The natura of each 0% VAT type (its FatturaPA ei_type) decides the bollo.
        vat_naturas = {int(t["id"]): t.get("ei_type") or None for t in vat_types}
        methods = {int(m["id"]): m for m in client.payment_methods()}
        payment_methods = {method_id: m.get("name") for method_id, m in methods.items()}
        lookups: dict[str, Any] = {}
        if is_e_invoice(document_type, settings.e_invoice):
            lookups = {"vat_types": {int(t["id"]): t for t in vat_types}, "fic_payment_methods": methods,
                       "payment_accounts": {int(a["id"]): a for a in client.payment_accounts()}}
        payload = build_document(order, document_type, settings, today=dates.today(), vat_rates=vat_rates,
                                 payment_methods=payment_methods, marker=marker, vat_naturas=vat_naturas, **lookups)
        return payload, vat_naturas

    def _find_in_fic(self, document: Document) -> dict[str, Any] | None:
        query = f"subject = '{document.marker}'"
        for found in self.context.client.list_documents(document.type, q=query, fieldset="detailed"):
            if found.get("subject") == document.marker:
                return found
        return None

    def rewrite(self, document: Document) -> Document:
        """Write the document again in FiC from the order as it is now (to correct an e-invoice
        the SdI discarded); its number, date and marker stay."""
        order = self.context.order(document.order_id)
        payload, _totals = self._payload(order, document.type, document.marker)
        for key in ("date", "numeration"):
            payload.pop(key, None)
        with acting_for(order.id, document.id):
            fic = self.context.client.modify_document(document.fic_id, payload)
        status = document.ei_status
        apply_fic_fields(document, fic)
        document.ei_status = fic.get("ei_status") or status
        with self.store.transaction():
            self.store.update_document(document)
        self.store.audit("rewrite", f"{document.type_label} n. {document.full_number}", order_id=order.id,
                         document_id=document.id)
        return document

    def forget(self, document: Document) -> None:
        """Drop the local row of a document FiC no longer has (deleted there by hand)."""
        self._forget(document)

    def _forget(self, document: Document) -> None:
        with self.store.transaction():
            self.store.delete_document(document.id)
            key = f"generation:{document.order_id}:{document.type}"
            self.store.set_meta(key, str(int(self.store.get_meta(key) or 0) + 1))
        self.store.audit("delete", f"{document.type_label} n. {document.full_number}",
                         order_id=document.order_id, document_id=document.id)
        order = self.context.pm.hook.shop_get_order(order_id=document.order_id)
        if order is not None:
            self.context.pm.hook.fic_document_deleted(order=order, document=document)


def maybe_applied(error: Exception) -> bool:
    """True when FiC may have done what was asked (the intent must stay for the lookup)."""
    return isinstance(error, OutcomeUnknown)


def payment_status(paid: Decimal, due: Decimal) -> str:
    if paid <= 0:
        return "not_paid"
    return "paid" if paid >= due else "partly_paid"


def apply_fic_fields(document: Document, fic: dict[str, Any]) -> None:
    """Copy FiC's answer (id, number, date, amounts, paid state) onto the local row."""
    document.fic_id = int(fic["id"])
    document.number = fic.get("number")
    document.numeration = fic.get("numeration") or ""
    if fic.get("date"):
        document.date = date.fromisoformat(str(fic["date"]))
    if fic.get("amount_due") is not None:
        document.amount_due = Decimal(str(fic["amount_due"]))
    if fic.get("amount_gross") is not None:
        document.amount_gross = Decimal(str(fic["amount_gross"]))
    document.ei_status = fic.get("ei_status")
    document.e_invoice = bool(fic.get("e_invoice"))
    paid = sum((Decimal(str(p.get("amount") or 0)) for p in fic.get("payments_list") or []
                if p.get("status") == "paid"), Decimal("0"))
    document.amount_paid = paid
    if document.amount_due is not None:
        document.status = payment_status(paid, document.amount_due)
