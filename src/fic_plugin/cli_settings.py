"""The shop's settings and secrets on the command line: ``fic settings show|set|suggest-mappings``
and ``fic secrets rotate-key``."""

from __future__ import annotations

import argparse
import json
from typing import Any

from .cli_secrets import read_secret
from .cli_shop import emit, open_context
from .connection import apply_suggested_mappings, describe_suggestion, suggested_mappings
from .errors import FicError
from .i18n import _
from .messages import known_shortcodes
from .sdi import check_mappings
from .secret_box import rotate_key
from .settings import SECRET_KEYS, describe, update_settings


def add_commands(sub: Any) -> None:
    """``fic secrets`` and ``fic settings``."""
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


def cmd_secrets_rotate_key(args: argparse.Namespace) -> int:
    message = rotate_key(open_context(args).store)
    emit(args, {"rotated": True}, message)
    return 0


def cmd_settings_show(args: argparse.Namespace) -> int:
    context = open_context(args)
    rows = describe(context.settings, context.store)
    emit(args, {r["key"]: r["value"] for r in rows},
         lambda: "\n".join(f"{r['key']} = {json.dumps(r['value'], ensure_ascii=False)}" for r in rows))
    return 0


def cmd_settings_suggest(args: argparse.Namespace) -> int:
    """Print FiC's matches for the shop's rates and methods; save only with --apply."""
    context = open_context(args)
    suggestion = suggested_mappings(context)
    applied = apply_suggested_mappings(context, suggestion) if args.apply else None
    emit(args, {**suggestion, "applied": applied or []}, describe_suggestion(suggestion, applied))
    return 0


def cmd_settings_set(args: argparse.Namespace) -> int:
    if len(args.pairs) % 2:
        raise FicError(_("Give KEY VALUE pairs: '{key}' has no value.").format(key=args.pairs[-1]))
    pairs = list(zip(args.pairs[::2], args.pairs[1::2], strict=True))
    pairs = [(key, read_secret(key, value, _("the settings screen")) if key in SECRET_KEYS else value)
             for key, value in pairs]
    context = open_context(args)
    changes = _settings_changes(context, pairs)
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


