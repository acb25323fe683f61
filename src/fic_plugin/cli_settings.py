"""``fic settings``: show, set, and the mappings suggested from FiC's lists (saved only when asked)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from . import connection
from .cli_shop import emit, open_context
from .errors import FicError
from .i18n import _
from .messages import known_shortcodes
from .settings import describe, update_settings


def cmd_settings_show(args: argparse.Namespace) -> int:
    context = open_context(args)
    rows = describe(context.settings, context.store)
    emit(args, {r["key"]: r["value"] for r in rows},
         lambda: "\n".join(f"{r['key']} = {json.dumps(r['value'], ensure_ascii=False)}" for r in rows))
    return 0


def cmd_settings_set(args: argparse.Namespace) -> int:
    if len(args.pairs) % 2:
        raise FicError(_("Give KEY VALUE pairs: '{key}' has no value.").format(key=args.pairs[-1]))
    context = open_context(args)
    changes = _settings_changes(context, list(zip(args.pairs[::2], args.pairs[1::2], strict=True)))
    update_settings(context.store, changes, shortcodes=known_shortcodes(context.pm))
    emit(args, {"updated": sorted(changes)}, _("Saved: {keys}").format(keys=", ".join(sorted(changes))))
    return 0


def cmd_settings_suggest(args: argparse.Namespace) -> int:
    context = open_context(args)
    suggestion = connection.suggested_mappings(context)
    settings = context.settings
    changes = {key: merged for key in ("vat_mapping", "payment_mapping")
               if (merged := {**suggestion[key], **getattr(settings, key)}) != getattr(settings, key)}
    lines = [f"vat_mapping.{rate} {vat_id}" for rate, vat_id in suggestion["vat_mapping"].items()]
    lines += [f"payment_mapping.{method} {ids['payment_method_id']}:{ids['payment_account_id'] or ''}"
              for method, ids in suggestion["payment_mapping"].items()]
    if suggestion["unmatched"]:
        lines.append(_("No match in Fatture in Cloud for: {what}").format(what=", ".join(suggestion["unmatched"])))
    if args.apply:
        if changes:
            update_settings(context.store, changes)
        lines.append(_("Saved: {keys}").format(keys=", ".join(sorted(changes))) if changes
                     else _("Nothing to save: every suggested mapping is set already."))
    else:
        lines.append(_("Nothing saved: run again with --apply to save what is not mapped yet."))
    emit(args, {**suggestion, "applied": sorted(changes) if args.apply else []}, "\n".join(lines))
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
