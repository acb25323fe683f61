"""Refunds become credit notes (Nota di credito), exactly once per refund.

The shop fires ``order_refunded(order, refund)``; ``jobs`` queues a ``credit_note`` job keyed by
the refund, and the worker comes here. The credit note goes through the same intent + marker
path as an invoice (``Documents._reserve`` / ``_create``): a replayed event, a crash or a lost
answer never makes a second one. No invoice, no credit note: the refund is recorded and shown.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .context import acting_for
from .documents import Documents
from .formatting import format_money
from .i18n import _
from .model import Document, Order, Refund
from .money import Totals
from .refunds import build_credit_note, check_refund, refund_key

if TYPE_CHECKING:
    from .context import Context


class CreditNotes:
    """The credit notes of one shop."""

    def __init__(self, context: Context):
        self.context = context
        self.store = context.store
        self.documents = Documents(context)

    def for_refund(self, order: Order, refund: Refund) -> Document | None:
        """The refund's credit note, created now if it is not in FiC yet; ``None`` without an invoice."""
        key = refund_key(refund)
        existing = self.store.document_for(order.id, "credit_note", key)
        if existing is not None and existing.is_synced:
            return existing
        invoice = self.store.document_for(order.id, "invoice")
        if invoice is None or not invoice.is_synced:
            self.store.audit("order_refunded", _("refund of {amount} recorded; the order has no invoice, so no "
                                                 "credit note").format(amount=format_money(refund.amount)),
                             order_id=order.id)
            return None
        settings = self.context.settings
        credited = sum((d.amount_gross or Decimal("0") for d in self.store.documents(order.id)
                        if d.type == "credit_note" and d.refund_id and d.refund_id != key and d.is_synced),
                       Decimal("0"))
        check_refund(order, refund, settings, invoice_total=invoice.amount_gross or invoice.amount_due or Decimal("0"),
                     credited=credited)
        document = self.documents._reserve(order, "credit_note", refund_id=key, corrects=invoice.id)
        if document.is_synced:
            return document
        try:
            with acting_for(order.id, document.id):
                return self.documents._create(order, document,
                                              build=lambda: self._payload(order, refund, invoice, document.marker))
        finally:
            self.documents._unlease(document)

    def _payload(self, order: Order, refund: Refund, invoice: Document, marker: str | None
                 ) -> tuple[dict[str, Any], Totals]:
        from .payload import expected_totals
        from .refunds import credit_settings, credited_order
        from .vies import check_vies

        check_vies(self.context, order)
        client = self.context.client
        vat_types = client.vat_types()
        lookups = {
            "vat_rates": {int(t["id"]): Decimal(str(t["value"])) for t in vat_types if t.get("value") is not None},
            "vat_naturas": {int(t["id"]): t.get("ei_type") or None for t in vat_types},
            "payment_methods": {int(m["id"]): m.get("name") for m in client.payment_methods()},
            # A credit note is an e-invoice too (TD04): natura, ModalitaPagamento, bank.
            "vat_types": {int(t["id"]): t for t in vat_types},
            "fic_payment_methods": {int(m["id"]): m for m in client.payment_methods()},
            "payment_accounts": {int(a["id"]): a for a in client.payment_accounts()},
        }
        settings = self.context.settings
        payload = build_credit_note(order, refund, settings, invoice, today=date.today(), marker=marker, **lookups)
        self.context.pm.hook.fic_document_payload(order=order, document_type="credit_note", payload=payload)
        payload["subject"] = marker
        totals = expected_totals(credited_order(order, refund, settings), credit_settings(settings),
                                 document_type="credit_note", vat_naturas=lookups["vat_naturas"])
        return payload, totals
