"""The ``fic`` commands of e-invoicing: ``fic doc send-sdi|sdi-status`` and ``fic webhooks``."""

from __future__ import annotations

import argparse
from typing import Any

from .cli_shop import emit, open_context
from .formatting import moment
from .i18n import _
from .labels import ei_state
from .reporting import describe_document
from .sdi import Sdi
from .webhooks import subscribe, subscriptions, unsubscribe


def add_doc_commands(docs: Any) -> None:
    send = docs.add_parser("send-sdi", help="verify an e-invoice's XML and send it to the SdI (once)")
    send.add_argument("doc_id", metavar="DOC_ID", type=int)
    send.set_defaults(handler=cmd_send_sdi)
    status = docs.add_parser("sdi-status", help="ask FiC the SdI state of an e-invoice and print it")
    status.add_argument("doc_id", metavar="DOC_ID", type=int)
    status.set_defaults(handler=cmd_sdi_status)


def add_commands(sub: Any) -> None:
    webhooks = sub.add_parser("webhooks", help="FiC webhook subscriptions (SdI states reach the shop at once)")
    actions = webhooks.add_subparsers(dest="webhooks_command", metavar="ACTION", required=True)
    subscribe = actions.add_parser("subscribe", help="ask FiC to post its events to URL (/fic/webhooks)")
    subscribe.add_argument("url", metavar="URL", help="the public address of the shop's /fic/webhooks")
    subscribe.set_defaults(handler=cmd_subscribe)
    listing = actions.add_parser("list", help="list the company's webhook subscriptions")
    listing.set_defaults(handler=cmd_list)
    delete = actions.add_parser("delete", help="delete a webhook subscription")
    delete.add_argument("subscription_id", metavar="ID")
    delete.set_defaults(handler=cmd_delete)


def _describe(context: Any, document: Any) -> dict[str, Any]:
    data = describe_document(document)
    order = context.pm.hook.shop_get_order(order_id=document.order_id)
    state = ei_state(document.ei_status, public_administration=order is not None and order.customer.type == "pa")
    data["ei_status_label"] = state
    text = _("[doc {id}] SdI: {state}").format(id=document.id, state=state)
    if document.ei_status_at:
        text += " " + _("(since {moment})").format(moment=moment(document.ei_status_at))
    if document.ei_error:
        text += "\n  " + _("Reason: {reason}").format(reason=document.ei_error)
    data["text"] = text
    return data


def cmd_send_sdi(args: argparse.Namespace) -> int:
    context = open_context(args)
    data = _describe(context, Sdi(context).send(args.doc_id))
    emit(args, data, data["text"])
    return 0


def cmd_sdi_status(args: argparse.Namespace) -> int:
    context = open_context(args)
    data = _describe(context, Sdi(context).refresh(args.doc_id))
    emit(args, data, data["text"])
    return 0


def cmd_subscribe(args: argparse.Namespace) -> int:
    created = subscribe(open_context(args), args.url)
    emit(args, created, _("Subscribed: {id} → {url}").format(id=created.get("id"), url=args.url))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    rows = subscriptions(open_context(args))
    lines = [f"{row.get('id')}  {row.get('sink')}  {', '.join(row.get('types') or [])}" for row in rows]
    emit(args, rows, "\n".join(lines) or _("No webhook subscription."))
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    unsubscribe(open_context(args), args.subscription_id)
    emit(args, {"deleted": args.subscription_id}, _("Subscription {id} deleted.").format(id=args.subscription_id))
    return 0
