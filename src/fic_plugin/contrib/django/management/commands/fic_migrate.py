from django.core.management.base import BaseCommand, CommandError

from .....errors import FicError


class Command(BaseCommand):
    help = "Create or upgrade fic-plugin's tables (fic_*) in FIC['DATABASE']; safe to run again."

    def handle(self, *args, **options):
        from ...shop import get_context, reset

        reset()
        try:
            context = get_context()  # opening the store migrates it, all or nothing per step
        except FicError as error:
            raise CommandError(error.message) from None
        self.stdout.write(f"fic-plugin tables are up to date in {context.store.path}.")
