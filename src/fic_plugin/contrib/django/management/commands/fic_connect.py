from ..base import FicCommand


class Command(FicCommand):
    help = "Connect the shop to Fatture in Cloud: OAuth in the browser, or a manual token (fic connect)."
    subcommand = "connect"

    def add_arguments(self, parser):
        parser.add_argument("--token", help="a manual token (token manuale) made in FiC")
        parser.add_argument("--company", type=int, help="the FiC company id to use")
        parser.add_argument("--client-id", help="your FiC app's client id (OAuth)")
        parser.add_argument("--client-secret", help="your FiC app's client secret (OAuth; env FIC_CLIENT_SECRET)")
        parser.add_argument("--port", type=int, default=8977, help="local port that catches the OAuth redirect")

    def fic_argv(self, options):
        argv = []
        for name in ("token", "company", "client_id", "client_secret"):
            if options.get(name) not in (None, ""):
                argv += [f"--{name.replace('_', '-')}", str(options[name])]
        return argv + ["--port", str(options["port"])]
