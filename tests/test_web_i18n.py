"""The gettext catalogs: complete, compiled, and in the words Italian shop owners know.

The first tests re-extract every message from the code and the templates, so a text another
engineer adds later without translating it fails here (see docs/i18n.md for the commands).
"""

from __future__ import annotations

import gettext
import io
import re
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from fic_plugin import labels, messages, model
from fic_plugin.formatting import day, money
from fic_plugin.i18n import LOCALE_DIR, language, translations
from fic_plugin.model import DOCUMENT_TYPES
from fic_plugin.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
KEYWORDS = {**DEFAULT_KEYWORDS, "N_": None, "_meta": (2,)}
PLACEHOLDER = re.compile(r"\{\{|\}\}|\{[^{}]*\}|%\(\w+\)s")


def extracted_ids() -> set[tuple[str, str | None]]:
    """Every (message, pgettext context) the extractor finds in the code and the templates."""
    with (ROOT / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    ids = set()
    for _filename, _lineno, message, _comments, context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=KEYWORDS):
        ids.add((message if isinstance(message, str) else message[0], context))
    return ids


def literal_calls_in_code() -> set[tuple[str, str | None]]:
    """``_("…")``, ``pgettext("…", "…")`` and ``ngettext("…", …)`` calls read from the code's
    syntax tree, including those inside f-strings, which Babel's extractor does not see (a
    ``{_('to')}`` in an f-string once left the English "to" in Italian sentences)."""
    import ast

    found = set()
    for path in (ROOT / "src").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
                continue
            args = [a.value if isinstance(a, ast.Constant) and isinstance(a.value, str) else None
                    for a in node.args]
            if node.func.id in ("_", "gettext", "N_") and args and args[0]:
                found.add((args[0], None))
            elif node.func.id == "ngettext" and args and args[0]:
                found.add((args[0], None))
            elif node.func.id == "pgettext" and len(args) == 2 and args[0] and args[1]:
                found.add((args[1], args[0]))
    return found


def catalog(lang: str):
    with (LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return read_po(po, locale=lang)


@pytest.fixture(scope="module")
def ids() -> set[tuple[str, str | None]]:
    found = extracted_ids() | literal_calls_in_code()
    assert len(found) > 200, "extraction found almost nothing: babel.cfg paths are wrong"
    return found


def test_the_syntax_tree_sees_calls_inside_f_strings():
    assert ("{doc} created.", "feminine") in literal_calls_in_code()
    source = "x = f\"{_('to')} y\""
    import ast

    calls = [n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Call)]
    assert calls and calls[0].args[0].value == "to"


@pytest.mark.parametrize("lang", ["it", "en"])
def test_every_message_in_code_and_templates_is_translated(ids, lang):
    po = catalog(lang)

    def translated(message: str, context: str | None) -> bool:
        entry = po.get(message, context=context)
        return bool(entry and entry.string and not entry.fuzzy)

    untranslated = sorted((i for i in ids if not translated(*i)), key=str)
    assert not untranslated, (
        f"{len(untranslated)} message(s) have no {lang} translation; run the commands of docs/i18n.md "
        f"(pybabel extract / update / compile) and translate them: {untranslated[:10]}")


@pytest.mark.parametrize("lang", ["it", "en"])
def test_compiled_catalog_matches_the_po(lang):
    po = catalog(lang)
    buffer = io.BytesIO()
    write_mo(buffer, po)
    buffer.seek(0)
    fresh = gettext.GNUTranslations(buffer)
    with (LOCALE_DIR / lang / "LC_MESSAGES" / "messages.mo").open("rb") as mo:
        committed = gettext.GNUTranslations(mo)
    assert committed._catalog == fresh._catalog, f"run pybabel compile: {lang} messages.mo is stale"


def test_english_is_the_identity_and_translations_keep_their_placeholders():
    for lang in ("it", "en"):
        problems = [(m.id, [str(e) for e in errors]) for m, errors in catalog(lang).check()]
        assert not problems, f"pybabel compile would refuse these {lang} messages: {problems}"
    for message in catalog("en"):
        if message.id:
            assert message.string == message.id
    for message in catalog("it"):
        if message.id:
            # A plural keeps the placeholders of its English forms in every Italian form.
            ids = message.id if isinstance(message.id, tuple) else (message.id,)
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            wanted = sorted(PLACEHOLDER.findall(ids[-1]))
            for string in strings:
                assert sorted(PLACEHOLDER.findall(string)) == wanted, message.id


def test_italian_words_are_the_ones_shop_owners_know():
    it = translations("it").gettext
    expected = {
        "Create document": "Genera documento",
        "Schedule sending when payment is received": "Programma l'invio alla ricezione del pagamento",
        "Choose a tax": "Seleziona imposta",
        "Choose a payment": "Seleziona pagamento",
        "Delete": "Elimina",
        "Send": "Invia",
        "Recipients": "Destinatari",
        "Sender": "Mittente",
        "Custom SMS": "SMS personalizzato",
        "Subject": "Oggetto",
        "Document type": "Tipologia documento",
        "Automatic sending of invoices": "Invio automatico delle fatture",
        "Paid": "Pagato", "Partly paid": "Parzialmente pagato", "Not paid": "Non pagato",
        "Fiscal documents": "Documenti fiscali",
        "Convert to %(type)s": "Converti in %(type)s",
    }
    assert {k: it(k) for k in expected} == expected


def test_each_label_is_written_once_and_comes_in_italian_from_the_catalog():
    """The Italian of document types and setting labels is the catalog's, not a second copy."""
    it = translations("it").gettext
    assert DOCUMENT_TYPES == {"invoice": "Fattura", "quote": "Preventivo", "proforma": "Proforma",
                              "delivery_note": "Documento di trasporto", "credit_note": "Nota di credito",
                              "receipt": "Ricevuta"}
    assert labels.DOCUMENT_TYPE_LABELS is model.DOCUMENT_TYPE_LABELS
    assert not hasattr(labels, "SETTING_LABELS")
    fields = Settings.fields()
    untranslated = [f.name for f in fields if it(f.metadata["label"]) == f.metadata["label"]
                    and f.metadata["label"] != "Twilio Account SID"]  # a product name, the same in Italian
    assert untranslated == []
    with language("it"):
        assert labels.setting_label("smtp_port") == "Porta SMTP"
        assert labels.setting_label("vat_mapping") == "Configurazione imposte"
    with language("en"):
        assert labels.setting_label("smtp_port") == "SMTP port"
    assert {f.metadata["group"] for f in fields} <= set(labels.SETTING_GROUPS)
    assert list(labels.SHORTCODE_DESCRIPTIONS) == list(messages.BUILTIN_SHORTCODES.values())
    from fic_plugin.settings import SECRET_KEYS

    assert set(labels.SECRET_LABELS) <= set(SECRET_KEYS)


def test_money_and_dates_in_italian_and_english():
    from datetime import date
    from decimal import Decimal

    with language("it"):
        assert money(Decimal("1234.56")) == "1.234,56\xa0€"
        assert day(date(2026, 11, 28)) == "28/11/2026"
        assert labels.document_type_label("delivery_note") == "Documento di trasporto"
    with language("en"):
        assert money(Decimal("1234.56")) == "€1,234.56"
        assert day(date(2026, 11, 28)) == "28/11/2026"
        assert labels.document_type_label("delivery_note") == "Delivery note"
