"""The settings screen: every :class:`~fic_plugin.settings.Settings` field, grouped, in Italian.

The form comes from the settings' declaration (labels, help, groups), so a new setting shows up
without touching this module. The VAT and payment mappings are tables of selects filled from
FiC's own lists; a rate or method still unmapped is flagged, because documents cannot be issued
until it is. Secrets are write-only: the screen says "set", never shows them.
"""

from __future__ import annotations

import itertools
import logging
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from .. import messages
from ..connection import companies
from ..connection import lookups as fic_lookups
from ..errors import FicError
from ..i18n import _, ngettext
from ..labels import (
    AREA_ROW_LABELS,
    N_,
    OSS_ROW_LABEL,
    PAYMENT_METHOD_LABELS,
    SECRET_LABELS,
    SECRET_PLACES,
    SETTING_GROUPS,
    document_type_label,
    setting_help,
    setting_label,
)
from ..model import VAT_SCOPES
from ..sdi import check_mappings
from ..settings import Settings, rate_key, update_settings, vat_mapping_key
from ..settings_fields import choices_of
from .base import caught
from .oauth import redirect_uri as oauth_redirect_uri
from .panel import pop_flash

if TYPE_CHECKING:
    from ..context import Context
    from .base import Screens

log = logging.getLogger(__name__)

FLASH_KEY = "__settings__"
#: The rates every Italian shop meets, shown even before an order used them.
COMMON_RATES = ("22", "10", "5", "4", "0")
#: Fields drawn by their own widgets rather than a plain input.
SPECIAL = {"vat_mapping", "payment_mapping", "fic_company_id"}
TEXTAREAS = {"email_body", "default_notes", "sms_text"}
#: Help in the owner's words where the setting's own help speaks to the command line (``22=0,10=3``,
#: JSON, ids, environment variables): the screen has dropdowns for those.
SCREEN_HELP = {
    "vat_mapping": N_("For each VAT rate of your orders, choose the matching tax of Fatture in Cloud: without it, "
                      "documents with that rate cannot be issued. At 0% you can choose a different one for "
                      "customers in the EU (intra-community supply) and outside it (export)."),
    "payment_mapping": N_("For each payment method of your shop, choose the method and the account of Fatture in "
                          "Cloud where payments are recorded (the account with your IBAN for bank transfers)."),
    "fic_company_id": N_("The company of your Fatture in Cloud account in which documents are issued."),
    "fic_api_url": N_("Leave it as it is: only a test installation points it elsewhere."),
    "fic_redirect_uri": N_("Only for the connection from the command line (fic connect); the button above uses "
                           "the address shown next to it."),
    "sms_senders": N_("The names (at most 11 letters or digits) or phone numbers your SMS come from, separated by "
                      "commas."),
    "language": N_("The language of the plugin's pages."),
    "smtp_security": N_("How the connection to your mail server is protected: starttls (usually port 587), ssl "
                        "(port 465) or none."),
}
PROVIDER_LABELS = {"test": N_("Test (writes the SMS in the log, sends nothing)")}
CONNECTION_KEYS = {"fic_api_url", "fic_company_id", "fic_access_token"}


def settings_page(web: Screens, request: Request) -> Response:
    if request.method == "GET":
        return render_settings(web, request, values=None, errors={})
    typed = form_values(request)
    secrets = {k: request.form.get(k, "").strip() for k in SECRET_LABELS if request.form.get(k, "").strip()}
    errors = field_errors(web.context, typed)
    new_row = new_vat_row_error(request.form)
    if new_row:
        errors.setdefault("vat_mapping", new_row)
    before = web.context.settings
    if not errors:
        with caught("saving the settings") as failure:
            check_mappings(web.context, typed)
            update_settings(web.context.store, {**typed, **secrets},
                            shortcodes=messages.known_shortcodes(web.context.pm))
        if failure:
            errors[failure.field or "_form"] = failure.message
    if errors:
        return render_settings(web, request, values=typed, errors=errors, status=400)
    if CONNECTION_KEYS & (set(typed) | set(secrets)):
        web.context.reset_client()
    warnings = save_warnings(web.context, before)
    web.flash(FLASH_KEY, " ".join([_("Settings saved."), *warnings]), "warn" if warnings else "ok")
    return redirect(f"{request.script_root}/settings", code=303)


def new_vat_row_error(form) -> str | None:
    """A rate typed in the empty row without its FiC VAT type (or the other way round) used to be
    dropped without a word: it is refused with the reason, everything typed kept."""
    rate, vat_id = form.get("vat_new_rate", "").strip(), form.get("vat_new_id", "").strip()
    if rate and not vat_id:
        return _("The new rate {rate}% has no Fatture in Cloud VAT type: choose one next to it, or empty the "
                 "rate.").format(rate=rate.rstrip("%"))
    if vat_id and not rate:
        return _("A Fatture in Cloud VAT type was chosen in the last row without its rate: type the rate "
                 "(like 5) next to it.")
    return None


def save_warnings(context: Context, before: Settings) -> list[str]:
    """What was saved but will not work as the owner may think, in words."""
    after = context.settings
    warnings = []
    needed = sorted({"22"} | shop_rates(context), key=Decimal, reverse=True)
    unmapped = [f"{rate}%" for rate in needed if rate not in after.vat_mapping]
    if unmapped:
        warnings.append(ngettext(
            "The VAT rate {rates} is not linked to a Fatture in Cloud VAT type: documents with lines at this rate "
            "will be refused until you choose one.",
            "The VAT rates {rates} are not linked to a Fatture in Cloud VAT type: documents with lines at these "
            "rates will be refused until you choose them.", len(unmapped)).format(rates=", ".join(unmapped)))
    if after.numeration != before.numeration:
        old = before.numeration or _("(none)")
        new = after.numeration or _("(none)")
        warnings.append(_("The numbering suffix changed from {old} to {new}: in Fatture in Cloud each suffix has its "
                          "own numbering, so the next document starts again from 1{example}; the documents already "
                          "issued keep their numbers.").format(old=old, new=new,
                                                               example=f" ({1}{after.numeration})"
                                                               if after.numeration else ""))
    return warnings


def verify(web: Screens, request: Request) -> Response:
    """"Verifica connessione": ask FiC who we are and name the company the plugin works for."""
    with web.flashing(FLASH_KEY, "checking the FiC connection"):
        company_id = web.context.connection()[2]
        names = {c.get("id"): c.get("name") for c in companies(web.context)}
        if company_id in names:
            web.flash(FLASH_KEY, _("Connected to Fatture in Cloud: company {name}.").format(
                name=names[company_id]))
        else:
            web.flash(FLASH_KEY, _("The token works, but choose the company to use."), "error")
    return redirect(f"{request.script_root}/settings", code=303)


# --- reading the form ----------------------------------------------------------------------------------


def form_values(request: Request) -> dict[str, Any]:
    """The typed values, one per setting the form carries; mappings come back as dicts.

    A setting the form does not carry is left as it is: a form with only ``fic_api_url`` must not
    empty the VAT and payment mappings."""
    form = request.form
    values: dict[str, Any] = {}
    for field in Settings.fields():
        key = field.name
        if key == "vat_mapping":
            if any(name.startswith("vat_mapping.") or name in ("vat_new_rate", "vat_new_id") for name in form):
                values[key] = vat_mapping_from_form(form)
        elif key == "payment_mapping":
            if any(name.startswith("payment_mapping.") for name in form):
                values[key] = payment_mapping_from_form(form)
        elif key in form:
            items = form.getlist(key)
            # A checkbox posts a hidden "0" then, when ticked, "1": the last one wins.
            values[key] = items[-1] if isinstance(field.default, bool) else items[0]
    return values


def vat_mapping_from_form(form) -> dict[str, str]:
    mapping = {}
    for name, value in form.items(multi=True):
        if name.startswith("vat_mapping.") and value.strip() != "":
            mapping[name.split(".", 1)[1]] = value.strip()
    new_rate, new_id = form.get("vat_new_rate", "").strip(), form.get("vat_new_id", "").strip()
    if new_rate and new_id:
        mapping[new_rate] = new_id
    return mapping


def payment_mapping_from_form(form) -> dict[str, dict[str, str]]:
    mapping: dict[str, dict[str, str]] = {}
    for name, value in form.items(multi=True):
        if name.startswith("payment_mapping."):
            method, _, key = name[len("payment_mapping."):].rpartition(".")
            if method and key in ("payment_method_id", "payment_account_id", "ei_payment_method"):
                mapping.setdefault(method, {})[key] = value.strip()
    return {m: t for m, t in mapping.items() if any(t.values())}


def field_errors(context: Context, typed: dict[str, Any]) -> dict[str, str]:
    """Check each typed value on its own, so every wrong field gets its message at once."""
    current = context.settings.to_mapping()
    errors = {}
    for key, value in typed.items():
        try:
            Settings.from_mapping({**current, key: value})
        except FicError as error:
            errors[error.field or key] = error.message
    return errors


# --- drawing the form ------------------------------------------------------------------------------------


def render_settings(web: Screens, request: Request, *, values: dict[str, Any] | None,
                    errors: dict[str, str], status: int = 200) -> Response:
    context = web.context
    settings = context.settings
    shown = {**settings.to_mapping(), **(values or {})}
    lookups, lookup_error = fic_lookups(context)
    groups = []
    for group, title in SETTING_GROUPS.items():
        secrets = [{"key": key, "label": _(label), "is_set": bool(context.store.get_secret(key)),
                    "after": SECRET_PLACES.get(key)}
                   for key, (label, secret_group) in SECRET_LABELS.items() if secret_group == group]
        fields = [{**field_view(f, shown, errors), "secrets_after": [s for s in secrets if s["after"] == f.name]}
                  for f in Settings.fields() if f.metadata.get("group") == group]
        groups.append({"key": group, "title": _(title), "fields": fields,
                       "secrets": [s for s in secrets if s["after"] is None]})
    return web.page(
        request, "settings.html", status=status, groups=groups, errors=errors,
        flash=pop_flash(context, FLASH_KEY), lookups=lookups, lookup_error=lookup_error,
        vat_rows=vat_rows(context, shown.get("vat_mapping") or {}, lookups["vat_types"]),
        payment_rows=payment_rows(context, shown.get("payment_mapping") or {}),
        oauth_url=f"{request.script_root}/oauth/start" if settings.fic_client_id else None,
        callback_url=oauth_redirect_uri(web, request),
        company_id=shown.get("fic_company_id"),
        vat_new={"rate": request.form.get("vat_new_rate", ""), "id": request.form.get("vat_new_id", "")}
        if request.method == "POST" else {"rate": "", "id": ""},
    )


def field_view(field: attrs.Attribute, shown: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    key = field.name
    value = shown.get(key)
    choices = choices_of(field)
    if choices:
        widget = "select"
    elif isinstance(field.default, bool):
        widget = "checkbox"
    elif key in TEXTAREAS:
        widget = "textarea"
    elif key in SPECIAL:
        widget = key
    elif field.converter is int:
        widget = "number"
    else:
        widget = "text"
    if isinstance(value, list):
        value = ", ".join(value)
    return {
        "key": key, "label": setting_label(key), "help": _(SCREEN_HELP[key]) if key in SCREEN_HELP else setting_help(key),
        "widget": widget,
        "value": "" if value is None else value, "error": errors.get(key),
        "checked": str(value).lower() in ("true", "1", "on", "yes"),
        "choices": [(c, choice_label(key, c)) for c in choices],
    }


def choice_label(key: str, value: str) -> str:
    if key == "auto_document_type":
        return document_type_label(value)
    if key == "language":
        return {"it": "Italiano", "en": "English"}[value]
    if key == "sms_provider" and value in PROVIDER_LABELS:
        return _(PROVIDER_LABELS[value])
    return value or "—"


def vat_rows(context: Context, mapping: dict[str, Any], vat_types: list[dict]) -> list[dict[str, Any]]:
    """One row per rate, and for 0% one per customer area too (an EU sale and an export have
    different exemptions); an area's row left empty falls back to the rate's own row."""
    # Keys as the settings store them: a refused form may hold "0:eu" or "22.0" as typed.
    mapping = {key: value for raw, value in mapping.items() if (key := _mapping_key(raw))}
    rates = set(COMMON_RATES) | shop_rates(context)
    keys = set(mapping) | rates | {f"0:{area}" for area in ZERO_RATE_AREAS}
    known = {str(v.get("id")) for v in vat_types}
    rows = []
    for key in sorted(keys, key=_row_order):
        rate, _sep, area = key.partition(":")
        selected = mapping.get(key, "")
        selected = "" if selected in (None, "") else str(selected)
        rows.append({"key": key, "rate": rate, "area": area,
                     "label": _row_label(rate, area),
                     "selected": selected, "unmapped": selected == "" and not area,
                     "unknown": bool(selected and vat_types and selected not in known)})
    return rows


#: The scopes that get their own row for 0%: the natura depends on customer and supply (the
#: others, 0:IT and the older 0:EU / 0:extra-EU, show when set).
ZERO_RATE_AREAS = ("EU-business:goods", "EU-business:services", "extra-EU:goods", "extra-EU:services")


def _row_label(rate: str, area: str) -> str:
    if not area:
        return f"{rate}%"
    if area in AREA_ROW_LABELS:
        return _(AREA_ROW_LABELS[area]).format(rate=rate)
    return _(OSS_ROW_LABEL).format(rate=rate, country=area)


def _row_order(key: str) -> tuple[Decimal, int, str]:
    rate, _sep, area = key.partition(":")
    position = VAT_SCOPES.index(area) + 1 if area in VAT_SCOPES else len(VAT_SCOPES) + 1
    return -Decimal(rate), position if area else 0, area


def _mapping_key(value: Any) -> str | None:
    try:
        return vat_mapping_key(value)
    except FicError:
        return None


def shop_orders(context: Context, limit: int = 200) -> list:
    """A sample of the shop's paid orders, when the host offers them: enough to see its rates."""
    try:
        orders = context.pm.hook.shop_paid_orders(since=None)
        return list(itertools.islice(orders or (), limit))
    except Exception:
        log.warning("fic-plugin: shop_paid_orders failed; the settings screen shows common rates only")
        return []


def shop_rates(context: Context) -> set[str]:
    return {rate_key(line.vat_rate) for order in shop_orders(context) for line in order.lines}


def payment_rows(context: Context, mapping: dict[str, Any]) -> list[dict[str, Any]]:
    methods = set(mapping) | {order.payment_method for order in shop_orders(context)} | {"bank_transfer"}
    rows = []
    for method in sorted(methods):
        target = mapping.get(method) or {}
        method_id = target.get("payment_method_id")
        account_id = target.get("payment_account_id")
        label = PAYMENT_METHOD_LABELS.get(method)
        rows.append({"method": method, "label": f"{_(label)} ({method})" if label else method,
                     "method_id": "" if method_id in (None, "") else str(method_id),
                     "account_id": "" if account_id in (None, "") else str(account_id),
                     "ei_payment_method": target.get("ei_payment_method") or "",
                     "unmapped": method_id in (None, "")})
    return rows


HANDLERS = {"settings": settings_page, "verify": verify}
