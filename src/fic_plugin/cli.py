"""The ``fic`` command: the demo, the sandbox, the worker, documents and settings.

Global options: ``--db PATH`` (env ``FIC_SHOP_DB``) names the shop's SQLite file; the FiC
connection comes from the settings, overridden by ``FIC_API_URL``, ``FIC_ACCESS_TOKEN`` and
``FIC_COMPANY_ID``. ``--json`` prints machine-readable answers. Errors print one line on stderr
and exit with 1 (or 2 for usage errors and commands not available yet).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .cli_secrets import read_secret
from .cli_shop import DEFAULT_DB, named_database
from .errors import FicError, NotAvailable
from .i18n import _, ngettext

#: The reference shop's file, where ``fic demo`` and the other commands look without ``--db``.
DOCUMENT_TYPE_CHOICES = ("invoice", "quote", "proforma", "delivery_note", "credit_note", "receipt")

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

    sync = sub.add_parser("sync", help="run the worker: due jobs, then invoice paid orders without one")
    sync.add_argument("--once", action="store_true", help="do one round and exit (for cron/systemd timers)")
    sync.add_argument("--interval", type=float, default=60.0, help="seconds between rounds (default 60)")
    sync.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")
    sync.add_argument("--all-shops", action="store_true",
                      help="serve every enabled shop of the shops registry, round-robin (see docs/scaling.md)")
    sync.add_argument("--shops", default=None, metavar="FILE",
                      help="the shops registry (env FIC_SHOPS; default shops.toml)")
    sync.add_argument("--concurrency", type=int, default=4,
                      help="with --all-shops: shops served at the same time (default 4)")
    sync.add_argument("--engine", choices=("embedded", "celery"), default=os.environ.get("FIC_ENGINE", "embedded"),
                      help="embedded: this process runs the jobs; celery: send them to Celery workers on Redis "
                           "(FIC_REDIS_URL) (env FIC_ENGINE; default embedded)")

    worker = sub.add_parser("worker", help="a Celery worker for fic sync --engine celery (see docs/scaling.md)")
    worker.add_argument("--concurrency", type=int, default=16, help="jobs at the same time (threads; default 16)")
    worker.add_argument("--queues", default=None,
                        help="comma-separated queues (default: fic and this machine's fic-HOSTNAME)")
    worker.set_defaults(handler=cmd_worker)
    sync.set_defaults(handler=cmd_sync)

    doc = sub.add_parser("doc", help="create, list, view, convert, delete, send documents")
    docs = doc.add_subparsers(dest="doc_command", metavar="ACTION", required=True)
    create = docs.add_parser("create", help="issue a document for an order now")
    create.add_argument("order_id", metavar="ORDER_ID")
    create.add_argument("--type", default="invoice", choices=DOCUMENT_TYPE_CHOICES[:4],
                        help="document type (default invoice)")
    create.set_defaults(handler=cmd_doc_create)
    preview = docs.add_parser("preview", help="FiC's totals of the document the order would get (creates nothing)")
    preview.add_argument("order_id", metavar="ORDER_ID")
    preview.add_argument("--type", default="invoice", choices=DOCUMENT_TYPE_CHOICES[:4],
                         help="document type (default invoice)")
    preview.set_defaults(handler=cmd_doc_preview)
    listing = docs.add_parser("list", help="list documents (of one order, or all)")
    listing.add_argument("order_id", metavar="ORDER_ID", nargs="?")
    listing.set_defaults(handler=cmd_doc_list)
    view = docs.add_parser("view", help="print a fresh link to the document's PDF in FiC")
    view.add_argument("doc_id", metavar="DOC_ID", type=int)
    view.set_defaults(handler=cmd_doc_view)
    convert = docs.add_parser("convert", help="convert a document into another type")
    convert.add_argument("doc_id", metavar="DOC_ID", type=int)
    convert.add_argument("--to", required=True, choices=DOCUMENT_TYPE_CHOICES[:4], dest="to_type",
                         help="the new type")
    convert.set_defaults(handler=cmd_doc_convert)
    delete = docs.add_parser("delete", help="delete a document in FiC and in the shop")
    delete.add_argument("doc_id", metavar="DOC_ID", type=int)
    delete.set_defaults(handler=cmd_doc_delete)
    for name, target, help_text in (
        ("send", "doc_id", "send a document now by email (and SMS)"),
        ("schedule", "order_id", "send the order's invoice when the order is paid"),
    ):
        command = docs.add_parser(name, help=help_text)
        if target == "doc_id":
            command.add_argument("doc_id", metavar="DOC_ID", type=int)
        else:
            command.add_argument("order_id", metavar="ORDER_ID")
        command.add_argument("--to", action="append", default=[], metavar="EMAIL",
                             help="recipient email (repeat for more; default: the customer's)")
        command.add_argument("--sms", action="append", default=[], metavar="PHONE",
                             help="also text this number, E.164 like +393331234567 (repeatable)")
        command.add_argument("--sender", default=None, help="SMS sender, one of the configured ones")
        command.add_argument("--subject", default=None, help="email subject; shortcodes like {customer_name}")
        command.add_argument("--body", default=None, help="email body (HTML); shortcodes allowed")
        command.add_argument("--sms-text", default=None, help="SMS text; shortcodes allowed")
        command.set_defaults(handler=cmd_doc_send if name == "send" else cmd_doc_schedule)

    from .cli_sdi import add_commands, add_doc_commands

    add_doc_commands(docs)
    add_commands(sub)

    status = sub.add_parser("status", help="queue, failures and quota; with ORDER_ID its documents and audit log")
    status.add_argument("order_id", metavar="ORDER_ID", nargs="?")
    status.add_argument("--all-shops", action="store_true",
                        help="queued, running and failed jobs of every shop in the registry, and time to drain")
    status.add_argument("--shops", default=None, metavar="FILE",
                        help="the shops registry (env FIC_SHOPS; default shops.toml)")
    status.set_defaults(handler=cmd_status)

    retry = sub.add_parser("retry", help="retry a failed job after fixing its cause")
    retry.add_argument("job_id", metavar="JOB_ID", type=int, nargs="?")
    retry.add_argument("--all-failed", action="store_true", help="retry every failed job")
    retry.set_defaults(handler=cmd_retry)

    secrets = sub.add_parser("secrets", help="the key that encrypts stored tokens and passwords")
    secrets_sub = secrets.add_subparsers(dest="secrets_command", metavar="ACTION", required=True)
    rotate = secrets_sub.add_parser(
        "rotate-key", help="re-encrypt every stored secret with a new key (key file, or FIC_SECRET_KEY_NEW)")
    rotate.set_defaults(handler=cmd_secrets_rotate_key)

    settings = sub.add_parser("settings", help="show or change settings")
    settings_sub = settings.add_subparsers(dest="settings_command", metavar="ACTION", required=True)
    show = settings_sub.add_parser("show", help="print every setting (secrets only say whether set)")
    show.set_defaults(handler=cmd_settings_show)
    set_ = settings_sub.add_parser(
        "set", help="set KEY VALUE pairs",
        description="Set one or more settings: fic settings set KEY VALUE [KEY VALUE ...]. "
        "Booleans take yes/no. vat_mapping takes RATE=FIC_VAT_ID pairs (22=0,10=3) or JSON; "
        "vat_mapping.22 0 sets one rate; a rate followed by :EU, :extra-EU or :IT (vat_mapping.0:EU 28) "
        "applies to the customers of that area only. payment_mapping takes JSON "
        '{"bank_transfer": {"payment_method_id": 1, "payment_account_id": 2}}; '
        "payment_mapping.card 5:2 sets one method (method id:account id). Secrets (smtp_password, "
        "twilio_auth_token, ...) take - as their value: typed without echo, or read from stdin "
        "(printf %s \"$PASSWORD\" | fic settings set smtp_password -), never on the command line.")
    set_.add_argument("pairs", nargs="+", metavar="KEY VALUE")
    set_.set_defaults(handler=cmd_settings_set)
    suggest = settings_sub.add_parser(
        "suggest-mappings", help="match the shop's VAT rates and payment methods with FiC's; --apply saves")
    suggest.add_argument("--apply", action="store_true", help="save the suggestion for what is not mapped yet")
    suggest.set_defaults(handler=cmd_settings_suggest)
    return parser


# --- plumbing -------------------------------------------------------------------------------------


def open_context(args: argparse.Namespace):
    """The plugin context for the shop database named by ``--db`` (or the host's, under Django)."""
    if getattr(args, "context", None) is not None:
        return args.context
    from .cli_checks import check_database_path
    from .cli_shop import cli_context

    if args.db:
        check_database_path(args.db)
    return cli_context(args.db)



def emit(args: argparse.Namespace, data: Any, text: str | Callable[[], str]) -> None:
    if args.json:
        print(json.dumps(data, indent=2, default=str, ensure_ascii=False))
    else:
        print(text() if callable(text) else text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from .i18n import language

    try:
        with language(os.environ.get("FIC_LANGUAGE")):
            from .cli_checks import check_arguments

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
    from .store import Store

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
    from .connection import connect

    args.token = read_secret("--token", args.token, _("set FIC_ACCESS_TOKEN"))
    args.client_secret = read_secret("--client-secret", args.client_secret, _("set FIC_CLIENT_SECRET"))
    return connect(open_context(args), args)


def cmd_sync(args: argparse.Namespace) -> int:
    from .jobs import run_worker

    if args.engine == "celery":
        return _sync_with_celery(args)
    if args.all_shops:
        return _sync_all_shops(args)
    return run_worker(open_context(args), once=args.once, interval=args.interval,
                      progress=not args.no_progress and sys.stderr.isatty())


def cmd_doc_create(args: argparse.Namespace) -> int:
    from .documents import Documents
    from .reporting import describe_document

    context = open_context(args)
    document = Documents(context).create(args.order_id, args.type)
    emit(args, describe_document(document), lambda: describe_document(document)["summary"])
    return 0


def cmd_doc_preview(args: argparse.Namespace) -> int:
    from .documents import Documents
    from .reporting import describe_preview

    preview = Documents(open_context(args)).preview_totals(args.order_id, args.type)
    data = {"fic": preview["fic"], "local": preview["local"], "charged": preview["charged"]}
    emit(args, data, lambda: describe_preview(preview, args.type))
    return 0


def cmd_doc_list(args: argparse.Namespace) -> int:
    from .reporting import describe_document

    context = open_context(args)
    documents = context.store.documents(args.order_id)
    rows = [describe_document(d) for d in documents]
    emit(args, rows, lambda: "\n".join(r["summary"] for r in rows) or _("No documents."))
    return 0


def cmd_doc_view(args: argparse.Namespace) -> int:
    from .documents import Documents

    url = Documents(open_context(args)).view_url(args.doc_id)
    emit(args, {"url": url}, url)
    return 0


def cmd_doc_convert(args: argparse.Namespace) -> int:
    from .documents import Documents
    from .reporting import describe_document

    document = Documents(open_context(args)).convert(args.doc_id, args.to_type)
    emit(args, describe_document(document), lambda: describe_document(document)["summary"])
    return 0


def cmd_doc_delete(args: argparse.Namespace) -> int:
    from .documents import Documents

    Documents(open_context(args)).delete(args.doc_id)
    emit(args, {"deleted": args.doc_id}, _("Document {id} deleted.").format(id=args.doc_id))
    return 0


def _send_options(args: argparse.Namespace) -> dict[str, Any]:
    return {"emails": args.to, "phones": args.sms, "sms_sender": args.sender, "subject": args.subject,
            "body": args.body, "sms_text": args.sms_text}


def cmd_doc_send(args: argparse.Namespace) -> int:
    from .sending import Sending

    result = Sending(open_context(args)).send_now(args.doc_id, **_send_options(args))
    emit(args, result, result["summary"])
    return 0


def cmd_doc_schedule(args: argparse.Namespace) -> int:
    from .sending import Sending

    result = Sending(open_context(args)).schedule_on_paid(args.order_id, **_send_options(args))
    emit(args, result, result["summary"])
    return 0


def _sync_all_shops(args: argparse.Namespace) -> int:
    import attrs

    from .multishop import run_all_shops, summary
    from .shops import load_registry

    shops = load_registry(args.shops)
    tallies = run_all_shops(shops, once=args.once, interval=args.interval, concurrency=args.concurrency,
                            out=lambda line: print(line, file=sys.stderr, flush=True))
    emit(args, {shop_id: attrs.asdict(tally) for shop_id, tally in tallies.items()}, lambda: summary(tallies))
    return 1 if any(tally.error for tally in tallies.values()) else 0


def _sync_with_celery(args: argparse.Namespace) -> int:
    from .engine_celery import SINGLE_SHOP, sync_with_engine
    from .shops import Shop, load_registry

    shops = load_registry(args.shops) if args.all_shops else [Shop(id=SINGLE_SHOP, db=named_database(args.db))]
    result = sync_with_engine(shops, once=args.once, interval=args.interval,
                              out=lambda line: print(line, file=sys.stderr, flush=True))
    if result is None:  # Redis does not answer: said on stderr, the embedded engine goes on
        args.engine = "embedded"
        return cmd_sync(args)
    emit(args, result, _("{sent} jobs sent to the Celery workers.").format(sent=result["sent"]))
    return 1 if result["errors"] else 0


def cmd_worker(args: argparse.Namespace) -> int:
    from .engine_celery import run_worker

    queues = [q.strip() for q in args.queues.split(",") if q.strip()] if args.queues else None
    return run_worker(concurrency=args.concurrency, queues=queues)


def cmd_status(args: argparse.Namespace) -> int:
    from .reporting import status_report

    if args.all_shops:
        from .multishop import all_shops_status
        from .shops import load_registry

        report = all_shops_status(load_registry(args.shops))
        emit(args, report["shops"], report["text"])
        return 0
    report = status_report(open_context(args), args.order_id)
    emit(args, report, report["text"])
    return 0


def cmd_retry(args: argparse.Namespace) -> int:
    from .outbox import retry_jobs

    if args.job_id is None and not args.all_failed:
        raise FicError(_("Say which job to retry (fic retry JOB_ID) or use --all-failed."))
    count = retry_jobs(open_context(args), job_id=args.job_id, all_failed=args.all_failed)
    emit(args, {"retried": count}, ngettext("{count} job queued again.", "{count} jobs queued again.", count).format(count=count))
    return 0


def cmd_secrets_rotate_key(args: argparse.Namespace) -> int:
    from .secret_box import rotate_key

    message = rotate_key(open_context(args).store)
    emit(args, {"rotated": True}, message)
    return 0


def cmd_settings_show(args: argparse.Namespace) -> int:
    from .settings import describe

    context = open_context(args)
    rows = describe(context.settings, context.store)
    emit(args, {r["key"]: r["value"] for r in rows},
         lambda: "\n".join(f"{r['key']} = {json.dumps(r['value'], ensure_ascii=False)}" for r in rows))
    return 0


def cmd_settings_suggest(args: argparse.Namespace) -> int:
    """Print FiC's matches for the shop's rates and methods; save only with --apply."""
    from .connection import apply_suggested_mappings, describe_suggestion, suggested_mappings

    context = open_context(args)
    suggestion = suggested_mappings(context)
    applied = apply_suggested_mappings(context, suggestion) if args.apply else None
    emit(args, {**suggestion, "applied": applied or []}, describe_suggestion(suggestion, applied))
    return 0


def cmd_settings_set(args: argparse.Namespace) -> int:
    from .messages import known_shortcodes
    from .settings import SECRET_KEYS, update_settings

    if len(args.pairs) % 2:
        raise FicError(_("Give KEY VALUE pairs: '{key}' has no value.").format(key=args.pairs[-1]))
    pairs = list(zip(args.pairs[::2], args.pairs[1::2], strict=True))
    pairs = [(key, read_secret(key, value, _("the settings screen")) if key in SECRET_KEYS else value)
             for key, value in pairs]
    context = open_context(args)
    changes = _settings_changes(context, pairs)
    from .sdi import check_mappings

    check_mappings(context, changes)
    update_settings(context.store, changes, shortcodes=known_shortcodes(context.pm))
    emit(args, {"updated": sorted(changes)}, _("Saved: {keys}").format(keys=", ".join(sorted(changes))))
    return 0


def _settings_changes(context: Any, pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Turn CLI pairs into setting values; dotted keys change one entry of a mapping."""
    settings = context.settings
    changes: dict[str, Any] = {}
    for key, value in pairs:
        if key.startswith("vat_mapping."):
            mapping = dict(changes.get("vat_mapping", settings.vat_mapping))
            mapping[key.split(".", 1)[1]] = value
            changes["vat_mapping"] = mapping
        elif key.startswith("payment_mapping."):
            mapping = dict(changes.get("payment_mapping", settings.payment_mapping))
            method_id, _, account_id = value.partition(":")
            mapping[key.split(".", 1)[1]] = {"payment_method_id": method_id or None,
                                             "payment_account_id": account_id or None}
            changes["payment_mapping"] = mapping
        else:
            changes[key] = value
    return changes


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
