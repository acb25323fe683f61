from django.core.management.base import BaseCommand, CommandError

from .....errors import FicError


class Command(BaseCommand):
    help = "Create or upgrade fic-plugin's tables (fic_*) in FIC['DATABASE']; safe to run again."

    def handle(self, *args, **options):
        from ...shop import migrate, reset

        try:
            where, applied = migrate()
        except FicError as error:
            raise CommandError(error.message) from None
        reset()  # a process that had opened the old schema opens the new one
        done = ", ".join(applied) if applied else "nothing to do"
        self.stdout.write(f"fic-plugin tables in {where}: {done}.")
