"""The paid amount of an order on its payable document in FiC (``payments_list``)."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import TYPE_CHECKING

from . import dates
from .context import acting_for
from .document_intents import (
    DocumentIntents,
    payment_status,
)
from .formatting import format_money
from .i18n import _
from .model import Document
from .payload import payments_list

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

#: Which document of an order receives the payments, in order of preference.
PAYABLE_TYPES = ("invoice", "receipt", "proforma")


class DocumentPayments(DocumentIntents):
    """Payments onto the order's payable document; safe to call again at any time."""

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
        status = "paid" if order.paid_at is not None else payment_status(paid, document.amount_due)
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
