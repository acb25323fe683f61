"""Secrets on the command line: typed without echo or piped in, never given as arguments."""

from __future__ import annotations

import sys

from .errors import NotAvailable
from .i18n import _


def read_secret(option: str, value: str | None, hint: str) -> str | None:
    """A secret the owner types without echo (a terminal) or pipes in (``-``); one given as a
    plain argument is refused: ps, the shell's history and process accounting would keep it."""
    if value is None:
        return None
    if value != "-":
        raise NotAvailable(_("{option}: a secret on the command line is visible to ps and kept in the shell's "
                             "history. Give {option} alone to type it without echo, {option} - to read it "
                             "from stdin, or {hint}.").format(option=option, hint=hint))
    if sys.stdin.isatty():
        import getpass

        secret = getpass.getpass(_("{option}: ").format(option=option.lstrip("-")))
    else:
        secret = sys.stdin.readline()
    secret = secret.strip()
    if not secret:
        raise NotAvailable(_("{option}: nothing was given.").format(option=option))
    return secret
