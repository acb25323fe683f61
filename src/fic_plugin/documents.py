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
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from . import dates, leases, wording
from .context import acting_for
from .einvoice import is_e_invoice
from .errors import Busy, Conflict, InvalidInput, NotFound, Queued
from .fic.errors import FicNotFound, OutcomeUnknown
from .formatting import format_money, total_difference
from .i18n import _, pgettext
from .model import CONVERSIONS, DOCUMENT_TYPES, Document, Order
from .money import Totals
from .outbox import enqueue, is_transient
from .payload import build_document, expected_totals, payments_list
from .sdi import enqueue_send
from .store import now_iso
from .vies import check_vies

if TYPE_CHECKING:
    from .context import Context

log = logging.getLogger(__name__)

#: FiC e-invoice states after which a document can no longer be deleted.
EI_LOCKED_STATES = {"sent", "pending", "processing", "accepted", "manual_accepted", "no_response", "not_delivered"}


#: Which document of an order receives the payments, in order of preference.
PAYABLE_TYPES = ("invoice", "receipt", "proforma")


def marker_for(order_id: str, document_type: str, generation: int) -> str:
    """The reference written in FiC's ``subject`` to find this document again."""
    return f"fic-plugin:order-{order_id}:{document_type}:{generation}"


def refund_marker(order_id: str, refund_id: str) -> str:
    """The marker of a refund's credit note: one per refund, whatever happens to the others."""
    return f"fic-plugin:order-{order_id}:credit_note:refund-{refund_id}"


class Documents:
    """Document operations for one shop; every method is safe to call again after a failure."""

    def __init__(self, context: Context):
        self.context = context
        self.store = context.store

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
            if isinstance(error, Exception) and not _maybe_applied(error) and not isinstance(error, leases.LeaseLost):
                self._release(document, error)
            raise
        return self._adopt(order, document, created)

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
        settings = self.context.settings
        check_vies(self.context, order)
        # FiC's VAT types (cached by the client) let a rate mapped to a VAT type of another value
        # be refused here, with the order and the rate named, instead of by FiC.
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
        self.context.pm.hook.fic_document_payload(order=order, document_type=document_type, payload=payload)
        # The marker is what prevents duplicates: a plugin may not take it away.
        if marker is not None:
            payload["subject"] = marker
        totals = expected_totals(order, settings, document_type=document_type, vat_naturas=vat_naturas)
        return payload, totals

    def preview_totals(self, order_id: str, document_type: str) -> dict[str, Any]:
        """FiC's totals for the document the order would get, before creating it (one request).

        ``{"fic": FiC's answer, "local": the plugin's own reading, "charged": the order's total}``.
        """
        order = self.context.order(order_id)
        payload, totals = self._payload(order, document_type, None)
        with acting_for(order.id, None):
            fic = self.context.client.new_document_totals(payload)
        return {"fic": fic, "local": totals.as_fic(), "charged": totals.amount_gross, "order": order}

    def _find_in_fic(self, document: Document) -> dict[str, Any] | None:
        query = f"subject = '{document.marker}'"
        for found in self.context.client.list_documents(document.type, q=query, fieldset="detailed"):
            if found.get("subject") == document.marker:
                return found
        return None

    def _adopt(self, order: Order, document: Document, fic: dict[str, Any]) -> Document:
        """Store what FiC answered on the intent row and tell the plugins."""
        _apply_fic_fields(document, fic)
        document.last_error = None
        with self.store.transaction():
            self.store.update_document(document)
            # In the same transaction: an e-invoice is never left created but not queued for the SdI.
            enqueue_send(self.context, document)
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
        document = self._synced(document_id)
        with acting_for(document.order_id, document.id):
            fic = self.context.client.get_document(document.fic_id)
        url = fic.get("url")
        if not url:
            raise NotFound(_("FiC has no printable copy of this document yet: try again in a minute."),
                           order_id=document.order_id)
        return url

    # --- convert -----------------------------------------------------------------------------------

    def convert(self, document_id: int, to_type: str) -> Document:
        """Convert a document into another type with FiC's transform, keeping the original.

        The new document is a new row whose ``converted_from`` points at the original.
        """
        original = self._synced(document_id)
        allowed = CONVERSIONS.get(original.type, ())
        if to_type not in allowed:
            raise InvalidInput(
                _("A {label} cannot be converted into a {target}.").format(
                    label=original.type_label, target=DOCUMENT_TYPES.get(to_type, to_type)),
                field="to", order_id=original.order_id)
        order = self.context.order(original.order_id)
        target = self._reserve(order, to_type)
        if target.is_synced:
            if target.converted_from == original.id:
                return target
            raise Conflict(
                _("Order {order} already has a {label} (n. {number}): delete it before converting.").format(
                    order=order.number, label=target.type_label, number=target.full_number),
                order_id=order.id)
        try:
            with acting_for(order.id, target.id):
                return self._convert(order, original, target, to_type)
        except Exception as error:
            self._finish_later(error, "convert", f"convert:{original.id}:{to_type}:{target.marker}", order,
                               {"document_id": original.id, "to": to_type}, to_type)
            raise
        finally:
            self._unlease(target)

    def _convert(self, order: Order, original: Document, target: Document, to_type: str) -> Document:
        if target.attempted_at:
            found = self._find_in_fic(target)
            if found is not None:
                return self._adopt_conversion(order, original, target, found)
        e_invoice = is_e_invoice(to_type, self.context.settings.e_invoice)
        transformed = self.context.client.transform_document(
            original.fic_id, to_type, current_type=original.type, keep_copy=True, e_invoice=e_invoice)
        data = dict(transformed.get("data") or {})
        options = dict(transformed.get("options") or {})
        options.setdefault("create_from", [str(original.fic_id)])
        # FiC pre-fills the date and number of the original: the new document gets today's and the
        # next number of its own numbering.
        data.pop("number", None)
        data["date"] = dates.today().isoformat()
        data["type"] = to_type
        if to_type == "delivery_note":
            data.pop("numeration", None)
        else:
            data["numeration"] = self.context.settings.numeration
        data["subject"] = target.marker
        if e_invoice:
            # The original (a quote, a proforma) was not checked for the SdI: its customer, payment
            # method and 0% lines are, now, from the order, as for an invoice made directly.
            fresh, _totals = self._payload(order, to_type, target.marker)
            data["e_invoice"] = True
            data["entity"] = fresh["entity"]
            data["ei_data"] = {**(data.get("ei_data") or {}), **fresh["ei_data"]}
            if fresh.get("use_split_payment"):
                data["use_split_payment"] = True
        options["fix_payments"] = True
        self._mark_attempted(target)
        try:
            created = self.context.client.create_document(data, options)
        except Exception as error:
            if not _maybe_applied(error):
                self._release(target, error)
            raise
        return self._adopt_conversion(order, original, target, created)

    def _adopt_conversion(self, order: Order, original: Document, target: Document, fic: dict) -> Document:
        target.converted_from = original.id
        target.converted_from_label = f"{original.type_label} n. {original.full_number}"
        _apply_fic_fields(target, fic)
        with self.store.transaction():
            self.store.update_document(target)
            enqueue_send(self.context, target)
        self.store.audit("convert", f"{original.type_label} n. {original.full_number} → "
                         f"{target.type_label} n. {target.full_number}", order_id=order.id, document_id=target.id)
        self.context.pm.hook.fic_document_converted(order=order, document=target, original=original)
        if target.type in PAYABLE_TYPES:
            self.sync_payments(order.id)
        return self.store.document(target.id)

    # --- delete ------------------------------------------------------------------------------------

    def delete(self, document_id: int) -> None:
        """Delete in FiC, then locally; a document FiC has locked or sent to SDI is refused."""
        document = self.store.document(document_id)
        if document is None:
            raise NotFound(_("Document {id} does not exist.").format(id=document_id))
        with acting_for(document.order_id, document.id):
            self._delete(document)

    def _delete(self, document: Document) -> None:
        if not document.is_synced:
            if not leases.is_free(self.store, *self.store.document_lease(document.id)):
                raise Busy(_("This document is being created right now: wait for it, then delete it."),
                           order_id=document.order_id)
            found = self._find_in_fic(document) if document.attempted_at else None
            if found is None:
                self._forget(document)
                return
            # FiC did create it (an answer was lost): delete that one, not just the intent.
            _apply_fic_fields(document, found)
        try:
            fic = self.context.client.get_document(document.fic_id, fieldset="basic")
        except FicNotFound:
            self._forget(document)
            return
        ei_status = fic.get("ei_status")
        if fic.get("locked") or ei_status in EI_LOCKED_STATES:
            raise Conflict(wording.agree(
                document.type,
                pgettext("masculine", "FiC does not allow deleting {doc}: it is locked or was sent to the SDI. "
                                      "Issue a credit note (Nota di credito) instead."),
                pgettext("feminine", "FiC does not allow deleting {doc}: it is locked or was sent to the SDI. "
                                     "Issue a credit note (Nota di credito) instead."),
            ).format(doc=wording.document_name(document)), order_id=document.order_id)
        try:
            self.context.client.delete_document(document.fic_id)
        except FicNotFound:
            pass
        self._forget(document)

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
        _apply_fic_fields(document, fic)
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

    # --- payments ----------------------------------------------------------------------------------

    def sync_payments(self, order_id: str) -> Document | None:
        """Bring the paid amount of the order's payable document to FiC (``payments_list``).

        Idempotent: it sets the state from the shop's payments, it never adds to it.
        """
        order = self.context.order(order_id)
        document = self.payable_document(order.id)
        if document is None or not document.is_synced or document.amount_due is None:
            return document
        paid = order.amount_paid
        # A fully paid order is paid, whatever cent FiC's total differs by: never a phantom due.
        status = "paid" if order.paid_at is not None else _payment_status(paid, document.amount_due)
        if paid == document.amount_paid and document.status == status:
            return document
        if paid > document.amount_due:
            log.warning("order %s: paid %s, more than the document's %s", order.id, paid, document.amount_due)
        instalments = payments_list(order, document.amount_due, self.context.settings, dates.today(),
                                    document_type=document.type)
        with acting_for(order.id, document.id):
            answer = self.context.client.modify_document(document.fic_id, {"payments_list": instalments},
                                                         {"fix_payments": True})
        if isinstance(answer, dict) and answer.get("amount_due") is not None:
            document.amount_due = Decimal(str(answer["amount_due"]))
        document.amount_paid = paid
        document.status = status
        with self.store.transaction():
            self.store.update_document(document)
        self.store.audit("payments", _("paid {paid} of {total}").format(
            paid=format_money(paid), total=format_money(document.amount_due)), order_id=order.id,
                         document_id=document.id)
        return document

    def payable_document(self, order_id: str) -> Document | None:
        documents = {d.type: d for d in self.store.documents(order_id)}
        for document_type in PAYABLE_TYPES:
            if document_type in documents:
                return documents[document_type]
        return None

    # --- helpers -----------------------------------------------------------------------------------

    def _synced(self, document_id: int) -> Document:
        document = self.store.document(document_id)
        if document is None:
            raise NotFound(_("Document {id} does not exist.").format(id=document_id))
        if not document.is_synced:
            raise Conflict(_("This document is still being created in Fatture in Cloud: try again shortly."),
                           order_id=document.order_id)
        return document


def _maybe_applied(error: Exception) -> bool:
    """True when FiC may have done what was asked (the intent must stay for the lookup)."""
    return isinstance(error, OutcomeUnknown)


def _payment_status(paid: Decimal, due: Decimal) -> str:
    if paid <= 0:
        return "not_paid"
    return "paid" if paid >= due else "partly_paid"


def _apply_fic_fields(document: Document, fic: dict[str, Any]) -> None:
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
        document.status = _payment_status(paid, document.amount_due)
