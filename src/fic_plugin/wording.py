"""Sentences about documents that agree with the document, in the owner's language.

Italian nouns have a gender: "la fattura è stata creata", "il preventivo è stato creato". A
message about one document is therefore written twice in the catalog, under the ``pgettext``
contexts ``masculine`` and ``feminine``, and :func:`agree` picks the one that fits the type (the
English of both is the same). The texts the customer reads are Italian whatever the screen's
language, so their articles come from :data:`fic_plugin.model.WITH_ARTICLE`, not from the catalog.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import attrs

from .i18n import _, current_language
from .labels import SETTING_GROUPS, document_type_label, setting_label
from .settings import Settings

if TYPE_CHECKING:
    from .model import Document

#: The grammatical gender of each document type's Italian name.
GENDER = {
    "invoice": "feminine",  # la fattura
    "quote": "masculine",  # il preventivo
    "proforma": "feminine",  # la proforma
    "delivery_note": "masculine",  # il documento di trasporto
    "credit_note": "feminine",  # la nota di credito
    "receipt": "feminine",  # la ricevuta
}

_VOWEL = re.compile(r"[aeiouàèéìòù]", re.IGNORECASE)
_DOUBLE_STOP = re.compile(r"(?<!\.)\.\.(?=\s|$)")


def is_feminine(document_type: str) -> bool:
    return GENDER.get(document_type) == "feminine"


def agree(document_type: str, masculine: str, feminine: str) -> str:
    """The variant of a message that agrees with ``document_type``'s gender.

    Callers pass both, translated with ``pgettext("masculine", ...)`` and ``pgettext("feminine",
    ...)`` (literal calls, so the extractor sees them).
    """
    return feminine if is_feminine(document_type) else masculine


def document_name(document: Document) -> str:
    """``Fattura n. 3/A`` (the type in the screen's language, the number as printed)."""
    label = document_type_label(document.type)
    number = document.full_number
    return _("{type} n. {number}").format(type=label, number=number) if number else label


def to_recipients(recipients: str) -> str:
    """"to x@y.it" in the screen's language; Italian writes "ad" before a vowel (ad amministrazione@)."""
    if current_language.get() == "it":
        return ("ad " if _VOWEL.match(recipients.strip()) else "a ") + recipients
    return _("to {recipients}").format(recipients=recipients)


def full_stop(text: str) -> str:
    """One full stop where a name that ends with one (``S.r.l.``) ends a sentence too."""
    return _DOUBLE_STOP.sub(".", text)


def setting_place(key: str) -> str:
    """Where the owner changes a setting, in the screen's words: ``Impostazioni > SMS > Mittenti
    SMS`` (messages name this, never the key ``sms_senders``)."""
    field = getattr(attrs.fields(Settings), key, None)
    group = field.metadata.get("group", "") if field is not None else ""
    parts = [_("Settings"), _(SETTING_GROUPS[group]) if group in SETTING_GROUPS else "", setting_label(key)]
    return " > ".join(p for p in parts if p)
