"""Example: issue a receipt (Ricevuta) instead of an invoice for private customers.

Shops that sell mostly to consumers often want the automatic document of a paid order to be a
receipt, and a proper invoice (Fattura) only for companies, which need it for their books.
Copy this file into your shop's code and register it (see hooks/README.md).
"""

from fic_plugin import hookimpl


@hookimpl
def fic_auto_document_type(order):
    """Companies get the setting's type (an invoice by default); people get a receipt."""
    if order.customer.type == "person":
        return "receipt"
    # None: not mine to decide, the setting auto_document_type applies.
    return None
