"""What the plugin's state looks like to a person: ``fic status``, ``fic doc list``, the JSON API.

The worker records facts (jobs, documents, the activity log); this module turns them into
sentences in the owner's language, for the CLI and the screens. It reads, it never changes.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs

from .formatting import format_money, moment, total_difference
from .i18n import _
from .labels import activity_detail, activity_label
from .model import DOCUMENT_TYPES
from .outbox import job_counts, jobs

if TYPE_CHECKING:
    from .context import Context
    from .model import Document


def status_report(context: Context, order_id: str | None = None) -> dict[str, Any]:
    """What ``fic status`` prints: the queue, the failures, and for one order its history (an
    order neither the shop nor the plugin knows is NotFound)."""
    if order_id is not None and not context.store.documents(order_id) and not list(jobs(context, order_id=order_id)):
        context.order(order_id)  # raises NotFound when the shop does not know it either
    counts = job_counts(context)
    failed = [attrs.asdict(j) for j in jobs(context, order_id=order_id, states=("failed",))]
    lines = [_("Jobs: {pending} pending, {running} running, {done} done, {failed} failed.").format(
        pending=counts.get("pending", 0), running=counts.get("running", 0), done=counts.get("done", 0),
        failed=counts.get("failed", 0))]
    for job in failed:
        lines.append("  " + _("job {id} ({kind}), order {order}: {error}").format(
            id=job["id"], kind=activity_label(job["kind"]), order=job["order_id"], error=job["last_error"]))
    report: dict[str, Any] = {"jobs": counts, "failed": failed}
    if order_id is not None:
        documents = [describe_document(d) for d in context.store.documents(order_id)]
        audit = context.store.audit_log(order_id)
        report.update(documents=documents, audit=audit,
                      order_jobs=[attrs.asdict(j) for j in jobs(context, order_id=order_id)])
        lines.append(_("Documents of order {order}:").format(order=order_id))
        lines.extend(f"  {d['summary']}" for d in documents)
        lines.append(_("History:"))
        lines.extend(f"  {moment(row['at'])}  {activity_label(row['action'])}: {activity_detail(row)}"
                     for row in reversed(audit))
    report["text"] = "\n".join(lines)
    return report




def describe_document(document: Document) -> dict[str, Any]:
    """The document as the CLI and the JSON API show it."""
    state = {"not_paid": _("not paid"), "partly_paid": _("partly paid"), "paid": _("paid")}.get(document.status,
                                                                                                document.status)
    if document.is_synced:
        summary = _("[doc {id}] {label} n. {number} of {date} for order {order}: {amount}, {state}").format(
            id=document.id, label=document.type_label, number=document.full_number,
            date=document.date.strftime("%d/%m/%Y") if document.date else "-", order=document.order_id,
            amount=format_money(document.amount_due, document.currency), state=state)
        if document.total_differs:
            summary += " (" + total_difference(document) + ")"
    else:
        summary = _("[doc {id}] {label} for order {order}: being created").format(
            id=document.id, label=document.type_label, order=document.order_id)
    return {
        "id": document.id,
        "order_id": document.order_id,
        "type": document.type,
        "fic_id": document.fic_id,
        "number": document.number,
        "numeration": document.numeration,
        "date": document.date.isoformat() if document.date else None,
        "status": document.status,
        "amount_due": str(document.amount_due) if document.amount_due is not None else None,
        "amount_paid": str(document.amount_paid),
        "amount_gross": str(document.amount_gross) if document.amount_gross is not None else None,
        "charged": str(document.charged) if document.charged is not None else None,
        "sent_at": document.sent_at.isoformat() if document.sent_at else None,
        "sent_to": document.sent_to,
        "converted_from": document.converted_from,
        "last_error": document.last_error,
        "e_invoice": document.e_invoice,
        "ei_status": document.ei_status,
        "ei_status_at": document.ei_status_at,
        "ei_error": document.ei_error,
        "summary": summary,
    }


def describe_preview(preview: dict[str, Any], document_type: str) -> str:
    """One sentence of FiC's preview: total, amount due, VAT, and a difference if there is one."""
    fic = preview["fic"]
    total = Decimal(str(fic.get("amount_gross", 0)))
    text = _("Preview of the {label}: FiC total {total}, amount due {due}, VAT {vat}.").format(
        label=DOCUMENT_TYPES.get(document_type, document_type), total=format_money(total),
        due=format_money(Decimal(str(fic.get("amount_due", 0)))), vat=format_money(Decimal(str(fic.get("amount_vat", 0)))))
    if total != preview["charged"]:
        text += " " + _("FiC total {fic} — order total {charged}").format(
            fic=format_money(total), charged=format_money(preview["charged"]))
    return text
