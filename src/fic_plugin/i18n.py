"""Translations: source texts are English, shop owners read Italian by default.

Messages shown to people (errors, panel, screens, CLI) are wrapped in :func:`_`. The language is
a context variable, set from the ``language`` setting or the browser's ``Accept-Language``;
catalogs are gettext files in ``fic_plugin/locale`` made with Babel (see ``docs/i18n.md``).
"""

from __future__ import annotations

import contextvars
import gettext
from contextlib import contextmanager
from functools import cache
from pathlib import Path

LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES = ("it", "en")
DEFAULT_LANGUAGE = "it"

current_language: contextvars.ContextVar[str] = contextvars.ContextVar("fic_language", default=DEFAULT_LANGUAGE)


@cache
def translations(language: str) -> gettext.NullTranslations:
    return gettext.translation("messages", localedir=str(LOCALE_DIR), languages=[language], fallback=True)


def N_(message: str) -> str:
    """Mark ``message`` for extraction without translating it yet (it is translated when shown)."""
    return message


def _(message: str) -> str:
    """Translate ``message`` into the current language (English text when no translation)."""
    return translations(current_language.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(current_language.get()).ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    """Translate ``message`` in ``context``: Italian sentences about a document agree with its
    gender, so the same English text has a ``masculine`` and a ``feminine`` entry (see
    :mod:`fic_plugin.wording`)."""
    return translations(current_language.get()).pgettext(context, message)


@contextmanager
def language(code: str | None):
    """Run a block in ``code`` (``it`` or ``en``; anything else means the default)."""
    token = current_language.set(code if code in LANGUAGES else DEFAULT_LANGUAGE)
    try:
        yield
    finally:
        current_language.reset(token)
