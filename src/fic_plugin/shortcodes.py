"""The shortcodes an owner may write in a subject, a body or an SMS, and the check of such a
text when it is saved (settings, a send's own texts): single braces, known names, no template
syntax. Filling them in is :mod:`fic_plugin.messages`' job.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

from .errors import InvalidInput
from .i18n import _

#: FiC replaces this with the document's buttons; it must reach FiC untouched.
ALLEGATI = "{{allegati}}"

#: The built-in shortcodes, with what they print (English source, shown translated).
BUILTIN_SHORTCODES: dict[str, str] = {
    "customer_name": "The customer's name (company name or first and last name)",
    "customer_email": "The customer's email address",
    "order_number": "The order number",
    "order_url": "The link to the order in the shop",
    "order_total": "The order total, like 1.234,56 €",
    "order_date": "The order date, like 28/11/2026",
    "products": "The ordered products, like 2 x Pasta di Gragnano 500 g",
    "document_type": "The document type in Italian, like Fattura",
    "document_with_article": "The document type with its article, like la fattura or il preventivo",
    "document_number": "The document number with its suffix, like 12/A",
    "document_date": "The document date, like 28/11/2026",
    "document_total": "The document total, like 1.234,56 €",
    "document_url": "A link to the document's PDF for the customer, valid 60 days",
    "shop_name": "The shop's name (setting shop_name)",
}


# `{{allegati}}` first, so its inner `{allegati}` is never read as a shortcode.
TOKEN = re.compile(r"(\{\{allegati\}\})|\{([A-Za-z][A-Za-z0-9_]*)\}")
JINJA_MARKERS = ("{{", "}}", "{%", "%}", "{#")


def shortcode_names(text: str) -> list[str]:
    """The shortcodes used in ``text``, in order of first use (``{{allegati}}`` is not one)."""
    names: list[str] = []
    for match in TOKEN.finditer(text or ""):
        name = match.group(2)
        if name and name not in names:
            names.append(name)
    return names


def check_template(text: str, field: str, *, extra: Iterable[str] = ()) -> None:
    """Refuse a subject, body or SMS text with template syntax or an unknown shortcode.

    ``extra`` are the names plugins add (see :func:`known_shortcodes`). Raises
    :class:`~fic_plugin.errors.InvalidInput` with ``field`` set; returns nothing when fine.
    """
    if not isinstance(text, str):
        raise InvalidInput(_("{field} must be text.").format(field=field), field=field)
    rest = text.replace(ALLEGATI, "")
    for marker in JINJA_MARKERS:
        if marker in rest:
            raise InvalidInput(
                _("Template syntax {marker} is not allowed in {field}: write shortcodes with single "
                  "braces, like {{customer_name}}; only {allegati} may use double braces.").format(
                    marker=marker, field=field, allegati=ALLEGATI),
                field=field)
    known = set(BUILTIN_SHORTCODES) | set(extra)
    for name in shortcode_names(text):
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = _(" Did you mean {{{name}}}?").format(name=close[0]) if close else ""
            raise InvalidInput(
                _("Unknown shortcode {{{name}}} in {field}: known ones are {known}.").format(
                    name=name, field=field, known=", ".join(f"{{{k}}}" for k in sorted(known))) + hint,
                field=field)
