"""The words the screens show for the plugin's codes, as English source strings.

Each word is written once, in English, marked with :func:`N_` for extraction; the Italian comes
from the catalog. The document types are the model's (``DOCUMENT_TYPE_LABELS``) and the setting
labels the settings' own ``label`` metadata: they are read from there, not copied here.
"""

from __future__ import annotations

from . import settings as settings_module
from .i18n import N_, _
from .model import DOCUMENT_TYPE_LABELS

#: What a screen says when something it did not expect went wrong (the details go to the log).
UNEXPECTED = N_("Unexpected error: try again or check the log")

#: Payment state of a document (``Document.status``).
PAYMENT_STATUS_LABELS = {
    "not_paid": N_("Not paid"),
    "partly_paid": N_("Partly paid"),
    "paid": N_("Paid"),
}

#: FiC's e-invoice states (``ei_status``), in the words of FiC's own screens.
EI_STATUS_LABELS = {
    "attempt": N_("Being sent to the SdI"),
    "missing": N_("E-invoice missing"),
    "not_sent": N_("Not sent to the SdI"),
    "sent": N_("Sent to the SdI"),
    "pending": N_("Being checked"),
    "processing": N_("Being processed"),
    "delivered": N_("Delivered"),
    "error": N_("Sending error"),
    "discarded": N_("Discarded by the SdI"),
    "not_delivered": N_("Not delivered"),
    "accepted": N_("Accepted"),
    "rejected": N_("Rejected"),
    "no_response": N_("No response"),
    "manual_accepted": N_("Accepted (recorded by hand)"),
    "manual_rejected": N_("Rejected (recorded by hand)"),
}



def ei_state(status: str | None, *, public_administration: bool = False) -> str:
    """``ei_status`` in words. FiC's states have no "delivered": for a business or a consumer
    (FPR12) the SdI's receipt of delivery is ``accepted``, so it reads "Consegnata"; only a public
    administration (FPA12) accepts or rejects an invoice."""
    if status == "accepted" and not public_administration:
        status = "delivered"
    return _(EI_STATUS_LABELS[status]) if status in EI_STATUS_LABELS else (status or _("Not sent to the SdI"))


#: States of a queued job (table ``fic_jobs``).
JOB_STATE_LABELS = {
    "pending": N_("Queued"),
    "running": N_("In progress"),
    "failed": N_("Failed"),
    "done": N_("Done"),
}

#: A VAT mapping row for the customers of one area (``vat_mapping`` keys like ``0:EU``).
AREA_ROW_LABELS = {
    "IT": N_("{rate}% — customers in Italy"),
    "EU": N_("{rate}% — customers in the EU"),
    "extra-EU": N_("{rate}% — customers outside the EU"),
    "EU-business:goods": N_("{rate}% — goods to EU businesses"),
    "EU-business:services": N_("{rate}% — services to EU businesses"),
    "extra-EU:goods": N_("{rate}% — goods exported outside the EU"),
    "extra-EU:services": N_("{rate}% — services to customers outside the EU"),
}
#: The row of an OSS key (``19:DE``): a rate of another EU country.
OSS_ROW_LABEL = N_("{rate}% — OSS sales to {country}")

#: What the activity log and the job list call each action (``fic_audit.action``, ``fic_jobs.kind``).
ACTIVITY_LABELS = {
    "fic_request": N_("Request to Fatture in Cloud"),
    "create": N_("Document creation"),
    "auto_document": N_("Automatic document"),
    "convert": N_("Conversion"),
    "delete": N_("Deletion"),
    "payments": N_("Payments"),
    "totals": N_("Totals"),
    "sync_payments": N_("Payment update"),
    "order_refunded": N_("Refund"),
    "credit_note": N_("Credit note"),
    "send": N_("Sending"),
    "send_fic_email": N_("Email through Fatture in Cloud"),
    "send_smtp": N_("Email"),
    "send_sms": N_("SMS"),
    "sdi_send": N_("Sending to the SdI"),
    "sdi_status": N_("SdI state"),
    "ei_refresh": N_("SdI state update"),
    "rewrite": N_("Correction from the order"),
}


#: Groups of the settings screen, in the order they are shown (``group`` metadata).
SETTING_GROUPS = {
    "connection": N_("Fatture in Cloud connection"),
    "documents": N_("Documents"),
    "automation": N_("Automatic sending of invoices"),
    "mappings": N_("Taxes and payments"),
    "email": N_("Email"),
    "sms": N_("SMS"),
    "smtp": N_("SMTP"),
    "sdi": N_("E-invoices (SdI)"),
    "screens": N_("Screens"),
}

#: Secrets the settings screen lets the owner type in (never shown back), by group.
SECRET_LABELS = {
    "fic_access_token": (N_("Manual token"), "connection"),
    "fic_client_secret": (N_("OAuth client secret"), "connection"),
    "twilio_auth_token": (N_("Twilio auth token"), "sms"),
    "skebby_password": (N_("Skebby password"), "sms"),
    "smtp_password": (N_("SMTP password"), "smtp"),
}


#: The usual codes a shop gives its payment methods (``Order.payment_method``), in words.
PAYMENT_METHOD_LABELS = {
    "bank_transfer": N_("Bank transfer"),
    "card": N_("Credit card"),
    "paypal": N_("PayPal"),
    "cash": N_("Cash"),
    "cash_on_delivery": N_("Cash on delivery"),
}

#: The setting a secret is drawn after (its account or user name); the others open their group.
SECRET_PLACES = {
    "fic_client_secret": "fic_client_id",
    "twilio_auth_token": "twilio_account_sid",
    "skebby_password": "skebby_username",
    "smtp_password": "smtp_username",
}


def document_type_label(document_type: str) -> str:
    return _(DOCUMENT_TYPE_LABELS.get(document_type, document_type))


def setting_label(key: str) -> str:
    """The setting's ``label`` metadata (declared with the setting), translated."""
    field = getattr(attrs_fields(), key, None)
    return _(field.metadata["label"]) if field is not None and "label" in field.metadata else key


def setting_help(key: str) -> str:
    """The field's help text, translated (``_meta``'s second argument is extracted for this)."""
    field = getattr(attrs_fields(), key, None)
    text = field.metadata.get("help", "") if field is not None else ""
    return _(text) if text else ""


def attrs_fields():
    import attrs

    return attrs.fields(settings_module.Settings)


#: ``fic_plugin.messages.BUILTIN_SHORTCODES`` describes the shortcodes in English inside a plain
#: dict, which extraction cannot see; these markers put the same texts in the catalog (a test
#: keeps the two lists equal).
SHORTCODE_DESCRIPTIONS = (
    N_("The customer's name (company name or first and last name)"),
    N_("The customer's email address"),
    N_("The order number"),
    N_("The link to the order in the shop"),
    N_("The order total, like 1.234,56 €"),
    N_("The order date, like 28/11/2026"),
    N_("The ordered products, like 2 x Pasta di Gragnano 500 g"),
    N_("The document type in Italian, like Fattura"),
    N_("The document type with its article, like la fattura or il preventivo"),
    N_("The document number with its suffix, like 12/A"),
    N_("The document date, like 28/11/2026"),
    N_("The document total, like 1.234,56 €"),
    N_("A link to the document's PDF for the customer, valid 60 days"),
    N_("The shop's name (setting shop_name)"),
)


def activity_label(action: str) -> str:
    return _(ACTIVITY_LABELS.get(action, action))


def activity_detail(row: dict) -> str:
    """What happened: for a FiC request the call and its answer (``POST /c/1/issued_documents:
    200, 84 ms``), else the outcome recorded with it."""
    if row.get("action") != "fic_request" or not row.get("method"):
        return row.get("outcome") or ""
    answer = str(row["status"]) if row.get("status") else _("no answer")
    if row.get("outcome") not in (None, "", "ok"):
        answer = f"{answer} ({row['outcome']})"
    return f"{row['method']} {row['path']}: {answer}, {row.get('duration_ms') or 0} ms"
