"""The ``fic`` command's subcommands as Django management commands, on the project's own context."""

from __future__ import annotations

import os

from django.core.management.base import BaseCommand, CommandError

from ....errors import FicError


class FicCommand(BaseCommand):
    """Runs ``fic <subcommand>`` with the Django project's context (its settings, adapter, store)."""

    subcommand: str = ""

    def fic_argv(self, options: dict) -> list[str]:
        return []

    def handle(self, *args, **options) -> None:
        from ....cli import build_parser
        from ....i18n import language
        from ..shop import get_context

        argv = (["--json"] if options.get("json") else []) + [self.subcommand, *self.fic_argv(options)]
        parsed = build_parser().parse_args(argv)
        try:
            parsed.context = get_context()
            with language(os.environ.get("FIC_LANGUAGE")):
                code = parsed.handler(parsed) or 0
        except FicError as error:
            raise CommandError(error.message) from None
        if code:
            raise CommandError(f"fic {self.subcommand} ended with exit code {code}", returncode=code)
