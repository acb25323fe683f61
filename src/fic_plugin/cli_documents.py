"""The ``fic doc`` commands of a document's life: create, preview, list, view, convert, delete,
send now and send when paid (the SdI's are in :mod:`fic_plugin.cli_sdi`)."""

from __future__ import annotations

import argparse
from typing import Any

from .cli_shop import emit, open_context
from .documents import Documents
from .i18n import _
from .reporting import describe_document, describe_preview
from .sending import Sending

DOCUMENT_TYPE_CHOICES = ("invoice", "quote", "proforma", "delivery_note", "credit_note", "receipt")


def add_commands(sub: Any) -> Any:
    """``fic doc`` and its actions; returns the actions' subparsers, for the SdI's to join them."""
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
    return docs


def cmd_doc_create(args: argparse.Namespace) -> int:
    context = open_context(args)
    document = Documents(context).create(args.order_id, args.type)
    emit(args, describe_document(document), lambda: describe_document(document)["summary"])
    return 0


def cmd_doc_preview(args: argparse.Namespace) -> int:
    preview = Documents(open_context(args)).preview_totals(args.order_id, args.type)
    data = {"fic": preview["fic"], "local": preview["local"], "charged": preview["charged"]}
    emit(args, data, lambda: describe_preview(preview, args.type))
    return 0


def cmd_doc_list(args: argparse.Namespace) -> int:
    context = open_context(args)
    documents = context.store.documents(args.order_id)
    rows = [describe_document(d) for d in documents]
    emit(args, rows, lambda: "\n".join(r["summary"] for r in rows) or _("No documents."))
    return 0


def cmd_doc_view(args: argparse.Namespace) -> int:
    url = Documents(open_context(args)).view_url(args.doc_id)
    emit(args, {"url": url}, url)
    return 0


def cmd_doc_convert(args: argparse.Namespace) -> int:
    document = Documents(open_context(args)).convert(args.doc_id, args.to_type)
    emit(args, describe_document(document), lambda: describe_document(document)["summary"])
    return 0


def cmd_doc_delete(args: argparse.Namespace) -> int:
    Documents(open_context(args)).delete(args.doc_id)
    emit(args, {"deleted": args.doc_id}, _("Document {id} deleted.").format(id=args.doc_id))
    return 0


def _send_options(args: argparse.Namespace) -> dict[str, Any]:
    return {"emails": args.to, "phones": args.sms, "sms_sender": args.sender, "subject": args.subject,
            "body": args.body, "sms_text": args.sms_text}


def cmd_doc_send(args: argparse.Namespace) -> int:
    result = Sending(open_context(args)).send_now(args.doc_id, **_send_options(args))
    emit(args, result, result["summary"])
    return 0


def cmd_doc_schedule(args: argparse.Namespace) -> int:
    result = Sending(open_context(args)).schedule_on_paid(args.order_id, **_send_options(args))
    emit(args, result, result["summary"])
    return 0


