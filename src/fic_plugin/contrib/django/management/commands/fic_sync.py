from ..base import FicCommand


class Command(FicCommand):
    help = "The fic-plugin worker: due jobs, then invoice paid orders without a document (fic sync)."
    subcommand = "sync"

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="one round, then exit (cron, systemd timers)")
        parser.add_argument("--interval", type=float, default=60.0, help="seconds between rounds (default 60)")

    def fic_argv(self, options):
        return (["--once"] if options["once"] else []) + ["--interval", str(options["interval"]), "--no-progress"]
