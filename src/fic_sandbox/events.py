"""FiC's webhook event types: what a subscription may ask for, the group types that expand into
several, and the names of the events the sandbox sends for issued documents and e-invoices."""

from __future__ import annotations

PREFIX = "it.fattureincloud.webhooks."
DOCUMENT_FAMILIES = {"invoice": "invoices", "quote": "quotes", "proforma": "proformas", "receipt": "receipts",
                     "delivery_note": "delivery_notes", "credit_note": "credit_notes", "order": "orders",
                     "work_report": "work_reports", "supplier_order": "supplier_orders",
                     "self_own_invoice": "self_own_invoices", "self_supplier_invoice": "self_supplier_invoices"}
_ACTIONS = ("create", "update", "delete", "email_sent")
#: Group types expand, at creation, into the event types they stand for (FiC stores the expansion).
GROUPS = {f"{PREFIX}issued_documents.all.{action}": [f"{PREFIX}issued_documents.{family}.{action}"
                                                     for family in DOCUMENT_FAMILIES.values()]
          for action in _ACTIONS}
GROUPS.update({f"{PREFIX}entities.all.{action}": [f"{PREFIX}entities.{kind}.{action}"
                                                 for kind in ("clients", "suppliers")]
               for action in ("create", "update", "delete")})
EVENT_TYPES = {t for expanded in GROUPS.values() for t in expanded} | {
    f"{PREFIX}{resource}.{action}" for resource in ("received_documents", "receipts", "taxes", "archive_documents",
                                                   "cashbook", "products") for action in ("create", "update", "delete")
} | {f"{PREFIX}products.stock_update", f"{PREFIX}issued_documents.e_invoices.status_update",
     f"{PREFIX}received_documents.e_invoices.receive"}
WELCOME = f"{PREFIX}subscriptions.welcome"
STATUS_UPDATE = f"{PREFIX}issued_documents.e_invoices.status_update"


def document_event(document_type: str, action: str) -> str:
    return f"{PREFIX}issued_documents.{DOCUMENT_FAMILIES.get(document_type, 'invoices')}.{action}"
