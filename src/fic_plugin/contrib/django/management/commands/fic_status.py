from ..base import FicCommand


class Command(FicCommand):
    help = "The fic-plugin queue, its failures and, for one order, its documents and history (fic status)."
    subcommand = "status"

    def add_arguments(self, parser):
        parser.add_argument("order_id", nargs="?", help="the order (its id for the adapter; Oscar: the number)")
        parser.add_argument("--json", action="store_true", help="print JSON")

    def fic_argv(self, options):
        return [options["order_id"]] if options["order_id"] else []
