"""Converting a document into another type with FiC's transform (a quote into an invoice, …),
exactly once, keeping the original."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from . import dates
from .context import acting_for
from .document_intents import (
    apply_fic_fields,
    maybe_applied,
    synced_document,
)
from .document_payments import PAYABLE_TYPES, DocumentPayments
from .einvoice import is_e_invoice
from .errors import Conflict, InvalidInput
from .i18n import _
from .model import CONVERSIONS, DOCUMENT_TYPES, Document, Order
from .sdi import enqueue_send

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)


class Conversions(DocumentPayments):
    """Conversions of one shop's documents; the new document is a row of its own."""

    def convert(self, document_id: int, to_type: str) -> Document:
        """Convert a document into another type with FiC's transform, keeping the original.

        The new document is a new row whose ``converted_from`` points at the original.
        """
        original = synced_document(self.store, document_id)
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
            if not maybe_applied(error):
                self._release(target, error)
            raise
        return self._adopt_conversion(order, original, target, created)

    def _adopt_conversion(self, order: Order, original: Document, target: Document, fic: dict) -> Document:
        target.converted_from = original.id
        target.converted_from_label = f"{original.type_label} n. {original.full_number}"
        apply_fic_fields(target, fic)
        with self.store.transaction():
            self.store.update_document(target)
            enqueue_send(self.context, target)
        self.store.audit("convert", f"{original.type_label} n. {original.full_number} → "
                         f"{target.type_label} n. {target.full_number}", order_id=order.id, document_id=target.id)
        self.context.pm.hook.fic_document_converted(order=order, document=target, original=original)
        if target.type in PAYABLE_TYPES:
            self.sync_payments(order.id)
        return self.store.document(target.id)
