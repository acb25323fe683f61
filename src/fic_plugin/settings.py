"""Every setting of the plugin, declared once.

The settings screen, ``fic settings show|set``, the docs and the defaults all come from the
:class:`Settings` fields and their metadata (``label``, ``help``, ``group``; in English, the
Italian in the catalog). Values
live in the shop database (table ``fic_settings``); tokens and passwords live apart
(``fic_secrets``, see :data:`SECRET_KEYS`) and never appear in a dump.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs

from .errors import SettingsError
from .i18n import N_, _
from .settings_fields import (  # noqa: F401 - the fields' converters, and names callers import from here
    CASSA_TYPES,
    WITHHOLDING_CAUSALS,
    _at_least,
    _cassa_type,
    _convert_payment_mapping,
    _convert_vat_mapping,
    _http_url,
    _https_url,
    _max_len,
    _numeration,
    _one_of,
    _parse_pairs,
    _pem_public_key,
    _percent,
    _port,
    _positive_int,
    _rate_key,
    _to_bool,
    _to_optional_int,
    _to_str_list,
    _withholding_causal,
    is_loopback,
    rate_key,
    vat_mapping_key,
)
from .shortcodes import check_template

if TYPE_CHECKING:
    from .store import Store

DEFAULT_EMAIL_SUBJECT = "{document_type} n. {document_number} del {document_date} - {shop_name}"
# The defaults name the document with its article ({document_with_article}: "la fattura", "il
# preventivo"), so every type reads right; no adjective agrees with it.
DEFAULT_EMAIL_BODY = (
    "<p>Gentile {customer_name},</p>"
    "<p>in allegato trova {document_with_article} n. {document_number} del {document_date} "
    "per il suo ordine n. {order_number}, per un totale di {document_total}.</p>"
    "<p>{{allegati}}</p>"
    "<p>Grazie per il suo acquisto,<br>{shop_name}</p>"
)
DEFAULT_SMS_TEXT = (
    "{shop_name}: le abbiamo inviato per email {document_with_article} n. {document_number} "
    "dell'ordine {order_number}."
)

#: Where each secret is sent: changing the place forgets the secret (unless the same change gives
#: it again), so nobody who can edit settings can send the stored secret to a server of theirs.
SECRET_DESTINATIONS = {
    "fic_api_url": ("fic_access_token", "fic_refresh_token", "fic_client_secret"),
    "smtp_host": ("smtp_password",),
    "smtp_port": ("smtp_password",),
}

#: Settings kept in ``fic_secrets``: never printed, never rendered, never logged.
SECRET_KEYS = (
    "fic_access_token",
    "fic_refresh_token",
    "fic_client_secret",
    "smtp_password",
    "twilio_auth_token",
    "skebby_password",
)

AUTO_DOCUMENT_TYPES = ("invoice", "receipt", "proforma", "quote", "delivery_note")


def _meta(label: str, help: str, group: str) -> dict[str, str]:
    """``label`` is English marked with ``N_`` (the catalog gives the Italian: one source);
    ``help`` is extracted as ``_meta``'s second argument."""
    return {"label": label, "help": help, "group": group}


@attrs.frozen(kw_only=True)
class Settings:
    """The plugin's configuration. Build it with :func:`load_settings` or :meth:`from_mapping`."""

    # --- documents ---
    rivalsa_inps: bool = attrs.field(default=False, converter=_to_bool, metadata=_meta(
        N_("Apply INPS rivalsa 4%"),
        "Adds the 4% INPS rivalsa on the professional's fees (lines of kind service), not on goods, "
        "shipping or other fees.", "documents"))
    rivalsa_included_in_price: bool = attrs.field(default=True, converter=_to_bool, metadata=_meta(
        N_("Rivalsa and cassa included in the price"),
        "On: the price of a service already includes the rivalsa INPS and the cassa, which the "
        "invoice carves out of it (like VAT from a gross price). Off: the shop charges them on top.",
        "documents"))
    withholding_tax: Decimal = attrs.field(default=Decimal("0"), converter=_percent, metadata=_meta(
        N_("Withholding tax"),
        "Ritenuta d'acconto percent (usually 20) withheld by business customers on fees + rivalsa "
        "INPS; 0 = off.", "documents"))
    withholding_tax_causal: str = attrs.field(default="A", converter=_withholding_causal, metadata=_meta(
        N_("Withholding tax causal"), "FatturaPA CausalePagamento of the ritenuta (A: professional services).",
        "documents"))
    cassa_type: str = attrs.field(default="", converter=_cassa_type, metadata=_meta(
        N_("Pension fund type"), "FatturaPA TipoCassa TC01 … TC22 of your cassa; empty = none.",
        "documents"))
    cassa_rate: Decimal = attrs.field(default=Decimal("0"), converter=_percent, metadata=_meta(
        N_("Pension fund rate"),
        "Percent of the fees owed to the cassa (e.g. 4); subject to VAT, outside the ritenuta's base.",
        "documents"))
    ignore_required_fields: bool = attrs.field(default=False, converter=_to_bool, metadata=_meta(
        N_("Ignore required fields"),
        "Issue documents even for Italian customers without Partita IVA or codice fiscale.", "documents"))
    stamp_duty: bool = attrs.field(default=False, converter=_to_bool, metadata=_meta(
        N_("Apply stamp duty"),
        "Declares the €2.00 stamp duty on invoices, receipts and credit notes when the amount not "
        "subject to VAT (by natura: N1, N2.x, N3.4–N3.6, N4, N5; not N3.1, N3.2, N6.x) exceeds €77.47.",
        "documents"))
    stamp_duty_charged_to_customer: bool = attrs.field(default=False, converter=_to_bool, metadata=_meta(
        N_("Stamp duty charged to the customer"),
        "On: the €2.00 bollo is a 0% N1 line \"Rivalsa bollo\" the customer pays. Off: it is only "
        "declared on the document.", "documents"))
    numeration: str = attrs.field(default="", converter=_numeration, metadata=_meta(
        N_("Numbering suffix"), "Numbering suffix of every document but delivery notes (e.g. /A gives 1/A).",
        "documents"))
    default_notes: str = attrs.field(default="", validator=_max_len(5000), metadata=_meta(
        N_("Default notes"), "Text put in the Notes of every new document.", "documents"))
    e_invoice: bool = attrs.field(default=True, converter=_to_bool, metadata=_meta(
        N_("Electronic invoice"),
        "Issue invoices and credit notes as e-invoices and send them to the SdI (receipts, quotes, "
        "proformas and delivery notes never are).", "documents"))
    payment_due_days: int = attrs.field(default=0, converter=int, metadata=_meta(
        N_("Days to payment due date"), "Days between the document date and the payment due date.", "documents"))
    # --- automation ---
    auto_invoice: bool = attrs.field(default=False, converter=_to_bool, metadata=_meta(
        N_("Enable automatic sending"),
        "Create and email the invoice automatically when an order is paid.", "automation"))
    auto_document_type: str = attrs.field(default="invoice", validator=_one_of(*AUTO_DOCUMENT_TYPES),
        metadata=_meta(N_("Document type"), "Type of the document created automatically.", "automation"))
    engine: str = attrs.field(default="embedded", validator=_one_of("embedded", "celery"), metadata=_meta(
        N_("Job engine"),
        "embedded: fic sync runs the jobs itself; celery: fic sync sends them to Celery workers on Redis "
        "(FIC_REDIS_URL, see docs/scaling.md). fic sync --engine and the environment FIC_ENGINE win over it.",
        "automation"))
    # --- mappings ---
    vat_mapping: dict = attrs.field(factory=dict, converter=_convert_vat_mapping, metadata=_meta(
        N_("Tax settings"),
        "Shop VAT rate → FiC VAT type id, e.g. 22=0,10=3. Required to issue documents. A rate "
        "followed by a customer area and supply (0:IT, 0:EU-business:goods, 0:EU-business:services, "
        "0:extra-EU:goods, 0:extra-EU:services) applies to those sales only: at zero VAT goods to an "
        "EU business are N3.2, services N2.1, exported goods N3.1. OSS sales use a rate and an EU "
        "country (19:DE).",
        "mappings"))
    payment_mapping: dict = attrs.field(factory=dict, converter=_convert_payment_mapping, metadata=_meta(
        N_("Payment settings"),
        'Shop payment method → FiC ids, JSON: {"bank_transfer": {"payment_method_id": 1, '
        '"payment_account_id": 2}}.', "mappings"))
    # --- SdI (e-invoices) ---
    fic_webhook_public_key: str = attrs.field(default="", converter=lambda v: str(v or "").strip(),
        validator=_pem_public_key, metadata=_meta(
        N_("Webhook public key"),
        "FiC's public key (PEM, ES256) that signs its webhooks; events with another signature are refused.",
        "sdi"))
    sdi_poll_seconds: int = attrs.field(default=900, converter=int, validator=_at_least(1), metadata=_meta(
        N_("SdI state check (seconds)"),
        "Ask FiC the SdI state of an e-invoice still in flight when no webhook told it for this long.", "sdi"))
    # --- Fatture in Cloud connection ---
    fic_api_url: str = attrs.field(default="https://api-v2.fattureincloud.it", validator=_https_url,
        metadata=_meta(N_("API URL"), "Base URL of the FiC API (env FIC_API_URL overrides it).", "connection"))
    fic_company_id: int | None = attrs.field(default=None, converter=_to_optional_int, metadata=_meta(
        N_("Company"), "FiC company id (env FIC_COMPANY_ID overrides it).", "connection"))
    fic_client_id: str = attrs.field(default="", metadata=_meta(
        N_("OAuth client ID"), "Client id of your FiC app, for the OAuth connection.", "connection"))
    fic_redirect_uri: str = attrs.field(default="http://127.0.0.1:8977/callback", metadata=_meta(
        N_("OAuth redirect URI"), "Redirect URI registered in your FiC app.", "connection"))
    # --- email ---
    shop_name: str = attrs.field(default="", validator=_max_len(200), metadata=_meta(
        N_("Shop name"), "Your shop's name, for the {shop_name} shortcode.", "email"))
    public_url: str = attrs.field(default="", validator=_max_len(500), metadata=_meta(
        N_("Public address of the plugin"), "The address where customers reach the plugin's pages, like "
        "https://www.negozio.it/fic: the {document_url} link to the PDF starts with it.", "email"))
    email_subject: str = attrs.field(default=DEFAULT_EMAIL_SUBJECT, validator=_max_len(500), metadata=_meta(
        N_("Subject"), "Subject of the [DOCUMENTO] Nuovo Documento email; shortcodes allowed.", "email"))
    email_body: str = attrs.field(default=DEFAULT_EMAIL_BODY, validator=_max_len(50_000), metadata=_meta(
        N_("Email text"), "Body of the [DOCUMENTO] Nuovo Documento email (HTML); shortcodes allowed.", "email"))
    email_sender: str = attrs.field(default="", metadata=_meta(
        N_("Sender"), "FiC sender address for documents sent through FiC (empty: FiC's default).", "email"))
    email_attach_pdf: bool = attrs.field(default=True, converter=_to_bool, metadata=_meta(
        N_("Attach PDF"), "Attach the document's PDF to the email.", "email"))
    # --- SMS ---
    sms_enabled: bool = attrs.field(default=False, converter=_to_bool, metadata=_meta(
        N_("Custom SMS"), "Also send an SMS when a document is sent automatically.", "sms"))
    sms_provider: str = attrs.field(default="", validator=_one_of("", "twilio", "skebby", "test"), metadata=_meta(
        N_("SMS provider"), "twilio or skebby; test only writes each SMS in the log, to try SMS without an account "
        "(another provider can be a plugin).", "sms"))
    sms_senders: list = attrs.field(factory=list, converter=_to_str_list, metadata=_meta(
        N_("SMS senders"), "Allowed SMS senders: aliases (max 11 characters) or numbers, comma separated.", "sms"))
    sms_text: str = attrs.field(default=DEFAULT_SMS_TEXT, validator=_max_len(1600), metadata=_meta(
        N_("SMS text"), "Text of the SMS; shortcodes allowed.", "sms"))
    twilio_account_sid: str = attrs.field(default="", metadata=_meta(
        N_("Twilio Account SID"), "Account SID of your Twilio account.", "sms"))
    skebby_username: str = attrs.field(default="", metadata=_meta(
        N_("Skebby username"), "Username of your Skebby account.", "sms"))
    # --- SMTP (messages the shop sends itself) ---
    smtp_host: str = attrs.field(default="", metadata=_meta(N_("SMTP server"), "SMTP host for the shop's own mail.", "smtp"))
    smtp_port: int = attrs.field(default=587, converter=int, validator=_port, metadata=_meta(N_("SMTP port"), "SMTP port.", "smtp"))
    smtp_security: str = attrs.field(default="starttls", validator=_one_of("starttls", "ssl", "none"),
        metadata=_meta(N_("SMTP security"), "starttls, ssl or none.", "smtp"))
    smtp_username: str = attrs.field(default="", metadata=_meta(N_("SMTP username"), "SMTP username.", "smtp"))
    smtp_from: str = attrs.field(default="", metadata=_meta(N_("SMTP sender"), "From address of the shop's mail.", "smtp"))
    # --- screens ---
    language: str = attrs.field(default="it", validator=_one_of("it", "en"), metadata=_meta(
        N_("Language"), "Language of the plugin's screens: it or en.", "screens"))

    @classmethod
    def fields(cls) -> tuple[attrs.Attribute, ...]:
        return attrs.fields(cls)

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> Settings:
        """Build settings from stored or typed values; unknown keys and bad values name the key."""
        known = {f.name for f in cls.fields()}
        for key in values:
            if key not in known:
                raise SettingsError(_("Unknown setting {key!r}. Known settings: {known}").format(
                    key=key, known=", ".join(sorted(known))),
                                    field=key)
        kwargs = {}
        for field in cls.fields():
            if field.name in values:
                kwargs[field.name] = values[field.name]
        try:
            return cls(**kwargs)
        except SettingsError:
            raise
        except (ValueError, TypeError) as error:
            name = _failing_field(cls, kwargs)
            raise SettingsError(_("Setting {name!r}: {reason}").format(name=name, reason=_reason(error, name)),
                                field=name) from None

    def to_mapping(self) -> dict[str, Any]:
        # Percentages are stored as text: a JSON float would not keep 20.5 exactly.
        return attrs.asdict(self, value_serializer=lambda _i, _f, v: str(v) if isinstance(v, Decimal) else v)


def _reason(error: Exception, name: str) -> str:
    text = str(error)
    # attrs' own validator messages ("'language' must be in ...") are for developers; keep ours,
    # even those that start by quoting the value ("'ftp://x' is not an http(s) URL").
    return text if text and not text.startswith(f"'{name}'") else _("wrong value")


def _failing_field(cls: type[Settings], kwargs: dict[str, Any]) -> str:
    """Find which value made the constructor fail, by trying them one at a time."""
    for name, value in kwargs.items():
        try:
            cls(**{name: value})
        except (ValueError, TypeError, SettingsError):
            return name
    return "?"


def load_settings(store: Store) -> Settings:
    """The stored settings, with defaults for what was never set."""
    stored = store.raw_settings()
    known = {f.name for f in Settings.fields()}
    return Settings.from_mapping({k: v for k, v in stored.items() if k in known})


def update_settings(store: Store, changes: dict[str, Any], *, shortcodes: Iterable[str] = ()) -> Settings:
    """Validate ``changes`` against the current settings and store them; all or nothing.

    Secret keys go to the secrets table. Email and SMS texts are checked for unknown shortcodes
    before anything is written; ``shortcodes`` are the names plugins add
    (``fic_plugin.messages.known_shortcodes(pm)``), the built-in ones are always known.
    """
    changes = dict(changes)
    secrets = {k: changes.pop(k) for k in list(changes) if k in SECRET_KEYS}
    current = load_settings(store).to_mapping()
    merged = Settings.from_mapping({**current, **changes})
    _check_templates(merged, changes, shortcodes)
    normalized = merged.to_mapping()
    for setting, keys in SECRET_DESTINATIONS.items():
        if setting in changes and normalized[setting] != current.get(setting):
            secrets.update({key: None for key in keys if key not in secrets})
    with store.transaction():
        store.write_settings({k: normalized[k] for k in changes})
        for key, value in secrets.items():
            store.set_secret(key, str(value) if value not in (None, "") else None)
    return merged


def _check_templates(settings: Settings, changes: dict[str, Any], shortcodes: Iterable[str] = ()) -> None:
    templates = [k for k in ("email_subject", "email_body", "sms_text") if k in changes]
    if not templates:
        return
    for key in templates:
        check_template(getattr(settings, key), field=key, extra=shortcodes)


def describe(settings: Settings, store: Store | None = None) -> list[dict[str, Any]]:
    """Rows for ``fic settings show`` and the settings screen; secrets only say whether they are set."""
    rows = []
    for field in Settings.fields():
        value = getattr(settings, field.name)
        rows.append({
            "key": field.name,
            "value": str(value) if isinstance(value, Decimal) else value,
            "label": _(field.metadata["label"]) if "label" in field.metadata else field.name,
            "help": field.metadata.get("help", ""),
            "group": field.metadata.get("group", ""),
        })
    if store is not None:
        for key in SECRET_KEYS:
            rows.append({"key": key, "value": "(set)" if store.get_secret(key) else "(not set)",
                         "label": key, "help": "secret", "group": "secrets"})
    return rows
