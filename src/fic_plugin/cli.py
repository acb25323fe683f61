"""The ``fic`` command: the demo, the sandbox, the worker, documents and settings.

Global options: ``--db PATH`` (env ``FIC_SHOP_DB``) names the shop's SQLite file; the FiC
connection comes from the settings, overridden by ``FIC_API_URL``, ``FIC_ACCESS_TOKEN`` and
``FIC_COMPANY_ID``. ``--json`` prints machine-readable answers. Errors print one line on stderr
and exit with 1 (or 2 for usage errors and commands not available yet).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__, cli_documents, cli_sdi, cli_settings, cli_worker
from .cli_checks import check_arguments
from .cli_secrets import read_secret
from .cli_shop import DEFAULT_DB, emit, named_database, open_context
from .connection import connect
from .errors import FicError, NotAvailable
from .i18n import _, language
from .store import Store

EPILOG = """\
examples:
  fic demo                                  the reference shop + local FiC sandbox on :8000
  fic sandbox --port 8765                   only the local FiC sandbox
  fic doc create 3 --type invoice           issue an invoice for order 3
  fic doc send 5 --to mario@example.it      email document 5 (through FiC when synced)
  fic settings set rivalsa_inps yes numeration /A
  fic settings set vat_mapping 22=0,10=3,4=4,0=6
  fic sync --once                           run due jobs and invoice paid orders, then exit
  fic sync --all-shops --shops shops.toml   serve every shop of a platform, round-robin
  fic doc send-sdi 5                        verify e-invoice 5 and send it to the SdI
  fic webhooks subscribe https://shop.example/fic/webhooks
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fic",
        description="Fatture in Cloud documents for your shop's orders.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"fic-plugin {__version__}")
    parser.add_argument("--db", default=os.environ.get("FIC_SHOP_DB") or None,
                        help="the shop database: a SQLite file (PATH or sqlite:///PATH) or "
                             "postgresql://USER@HOST/DB?schema=NAME (env FIC_SHOP_DB); required unless an "
                             f"installed shop plugin names it (fic demo: default {DEFAULT_DB})")
    parser.add_argument("--json", action="store_true", help="print answers as JSON")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    demo = sub.add_parser("demo", help="run the reference shop with the local FiC sandbox")
    demo.add_argument("--port", type=int, default=8000, help="shop port (default 8000)")
    demo.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    demo.add_argument("--fic-url", default=None,
                      help="use this FiC API instead of starting the local sandbox")
    demo.add_argument("--sandbox-port", type=int, default=8765, help="port of the embedded sandbox (default 8765)")
    demo.add_argument("--worker-interval", type=float, default=2.0,
                      help="seconds between worker rounds in the demo (default 2)")
    demo.set_defaults(handler=cmd_demo)

    migrate = sub.add_parser("migrate", help="create or upgrade the plugin's fic_ tables in the shop database")
    migrate.set_defaults(handler=cmd_migrate)

    sandbox = sub.add_parser("sandbox", help="run the local Fatture in Cloud sandbox API")
    sandbox.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    sandbox.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    sandbox.add_argument("--state", default=":memory:", help="SQLite file for the sandbox's state (default: memory)")
    sandbox.add_argument("--token", default=None, help="accept only this bearer token (default: any)")
    sandbox.add_argument("--many-companies", action="store_true",
                         help="every /c/{id} is a company of its own (books, numbering, quota); default: only one")
    sandbox.set_defaults(handler=cmd_sandbox)

    connect = sub.add_parser("connect", help="connect the shop to Fatture in Cloud (OAuth or manual token)")
    connect.add_argument("--token", nargs="?", const="-", default=None, metavar="-",
                         help="a manual token (token manuale) made in FiC: asked without echo, or read from "
                              "stdin with --token - (never on the command line: ps and history would show it)")
    connect.add_argument("--company", type=int, default=None, help="FiC company id to use")
    connect.add_argument("--client-id", default=None, help="your FiC app's client id (OAuth)")
    connect.add_argument("--client-secret", nargs="?", const="-", default=None, metavar="-",
                         help="your FiC app's client secret (OAuth): asked without echo, read from stdin with "
                              "--client-secret -, or FIC_CLIENT_SECRET")
    connect.add_argument("--port", type=int, default=8977, help="local port that catches the OAuth redirect")
    connect.set_defaults(handler=cmd_connect)

    cli_worker.add_worker_commands(sub)
    cli_sdi.add_doc_commands(cli_documents.add_commands(sub))
    cli_sdi.add_commands(sub)
    cli_worker.add_queue_commands(sub)
    cli_settings.add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with language(os.environ.get("FIC_LANGUAGE")):
            check_arguments(args)
            return args.handler(args) or 0
    except sqlite3.Error as error:
        # The database went wrong under the command (locked, corrupt, full disk): one line.
        print(f"fic: {args.db}: {error}", file=sys.stderr)
        return 1
    except NotAvailable as error:
        print(f"fic: {error}", file=sys.stderr)
        return 2
    except FicError as error:
        print(f"fic: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


# --- commands ---------------------------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> int:
    from fic_demo.server import run_demo

    return run_demo(db_path=Path(args.db or DEFAULT_DB), host=args.host, port=args.port, fic_url=args.fic_url,
                    sandbox_port=args.sandbox_port, worker_interval=args.worker_interval)


def cmd_migrate(args: argparse.Namespace) -> int:
    store = Store(named_database(args.db))
    applied = store.migrate()
    emit(args, {"database": store.describe(), "applied": applied},
         _("{db}: applied {names}.").format(db=store.describe(), names=", ".join(applied)) if applied
         else _("{db}: already up to date.").format(db=store.describe()))
    return 0


def cmd_sandbox(args: argparse.Namespace) -> int:
    from fic_sandbox.server import run_sandbox

    return run_sandbox(host=args.host, port=args.port, state=args.state, token=args.token,
                       many_companies=args.many_companies)


def cmd_connect(args: argparse.Namespace) -> int:
    args.token = read_secret("--token", args.token, _("set FIC_ACCESS_TOKEN"))
    args.client_secret = read_secret("--client-secret", args.client_secret, _("set FIC_CLIENT_SECRET"))
    return connect(open_context(args), args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
