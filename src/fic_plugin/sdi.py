"""Sending e-invoices to the SdI through FiC, exactly once, and following what the SdI does.

``e_invoice/send`` is not idempotent: a second call can hand the same invoice to the SdI twice
(the SdI then discards the copy as a duplicate, 00404, and the owner sees an error for an invoice
that was fine). So, like a create (see ``documents``):

1. ``sdi_attempted_at`` is committed on the document before the POST;
2. an answer that never came (timeout after FiC acted, a crash) leaves it set, and the next
   attempt first reads the document's ``ei_status`` in FiC: a state after sending means the send
   happened, and it is adopted instead of sent again;
3. only a document FiC still holds as unsent (``not_sent``, or the discarded state it had) is
   sent again.

The SdI's answer comes later: a webhook (``fic_plugin.webhooks``) or the worker's polling asks
:meth:`Sdi.refresh`, which reads the document in FiC and stores its state; events out of order
or twice change nothing, since the state is always read, never taken from the event.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from . import einvoice, leases
from .context import acting_for
from .document_intents import DocumentIntents, synced_document
from .errors import Busy, Conflict, FicError, InvalidInput, NotFound
from .fic.errors import FicNotFound, OutcomeUnknown, ValidationFailed
from .i18n import _
from .labels import ei_state
from .model import Document
from .outbox import enqueue, retry_jobs
from .settings import Settings
from .store import clock, now_iso
from .store.clock import iso, utc_now

if TYPE_CHECKING:
    from .context import Context

log = logging.getLogger(__name__)

LEASE_SECONDS = 120
#: An e-invoice the automatic job sends itself right after creating it still gets its send job,
#: in the creating transaction, but due only this late: it is the fallback for a worker that died
#: in between, and is settled without running once the automatic job has sent it (a worker
#: serving many shops ran a second, empty job for every invoice).
FALLBACK_SECONDS = 60


def send_job_key(document: Document) -> str:
    """One send job per document and per send: a re-send after a discard gets its own."""
    return f"sdi:{document.id}:{document.ei_status_at or 'first'}"


def enqueue_send(context: Context, document: Document, *, fallback: bool = False) -> bool:
    """Queue verify + send for an e-invoice not yet at the SdI (called inside the creating
    transaction). ``fallback``: the caller sends it itself at once; the job waits
    :data:`FALLBACK_SECONDS` in case the caller dies first."""
    if not document.e_invoice or not einvoice.needs_send(document.ei_status):
        return False
    return enqueue(context, "sdi_send", send_job_key(document), order_id=document.order_id,
                   document_id=document.id, run_after=clock.in_seconds(FALLBACK_SECONDS) if fallback else None)


def queue_send(context: Context, document_id: int, *, resend: bool = False) -> None:
    """The panel's "Invia allo SdI" / "Correggi e reinvia": checked now, done by the worker."""
    sdi = Sdi(context)
    document = sdi._e_invoice(document_id)
    if resend and document.ei_status not in einvoice.RESENDABLE_STATES:
        raise Conflict(_("The e-invoice n. {number} is {state}: there is nothing to correct.").format(
            number=document.full_number, state=sdi._state_words(document.ei_status)), order_id=document.order_id)
    if not resend and not einvoice.needs_send(document.ei_status):
        raise Conflict(_("The e-invoice n. {number} is already at the SdI ({state}).").format(
            number=document.full_number, state=sdi._state_words(document.ei_status)), order_id=document.order_id)
    key = send_job_key(document) + (":resend" if resend else "")
    if not enqueue(context, "sdi_send", key, order_id=document.order_id, document_id=document.id,
                   args={"resend": resend}):
        for job in context.store.jobs.list(document_id=document.id, states=("failed",)):
            if job.key == key:
                retry_jobs(context, job_id=job.id)


class Sdi:
    """The SdI operations of one shop; each is safe to call again after any failure."""

    def __init__(self, context: Context):
        self.context = context
        self.store = context.store

    # --- send ------------------------------------------------------------------------------------

    def send(self, document_id: int, *, resend: bool = False) -> Document:
        """Verify the XML, then send the e-invoice to the SdI; a sent one is returned as it is.

        ``resend`` is for an invoice the SdI discarded (or the customer rejected) that the owner
        corrected: it is sent once more.
        """
        document = self._e_invoice(document_id)
        job_key = send_job_key(document)
        with acting_for(document.order_id, document.id):
            self._lease(document)
            try:
                sent = self._send(document, resend=resend)
            finally:
                self.store.lease_document(document.id, None, None)
        if not resend and sent.ei_status in einvoice.SENT_STATES and self.store.jobs.settle_pending(job_key):
            log.debug("document %s: sent, its queued send job had nothing left to do", document.id)
        return sent

    def _send(self, document: Document, *, resend: bool) -> Document:
        client = self.context.client
        if document.sdi_attempted_at:
            # The last send's outcome is unknown: FiC's state says whether it happened.
            fic = client.get_document(document.fic_id, fieldset="detailed")
            status = fic.get("ei_status")
            if status in einvoice.SENT_STATES:
                log.info("document %s: the unanswered send did reach the SdI (%s)", document.id, status)
                return self._record(document, status, sent=True)
            document.sdi_attempted_at = None
        elif not einvoice.needs_send(document.ei_status):
            return document
        if document.ei_status in einvoice.RESENDABLE_STATES and not resend:
            raise Conflict(_("The e-invoice n. {number} was {state}: correct it, then use Correggi e reinvia.").format(
                number=document.full_number, state=self._state_words(document.ei_status)),
                order_id=document.order_id)
        self._verify(document)
        with self.store.transaction():
            document.sdi_attempted_at = now_iso()
            self.store.update_document(document)
        try:
            client.send_e_invoice(document.fic_id)
        except BaseException as error:
            if not isinstance(error, OutcomeUnknown | KeyboardInterrupt | SystemExit):
                with self.store.transaction():
                    document.sdi_attempted_at = None
                    self.store.update_document(document)
            raise
        return self._record(document, "sent", sent=True)

    def _verify(self, document: Document) -> None:
        try:
            self.context.client.verify_e_invoice_xml(document.fic_id)
        except ValidationFailed as error:
            reasons = xml_errors(error)
            document.ei_error = "; ".join(reasons) or error.fic_message or str(error)
            document.last_error = document.ei_error
            with self.store.transaction():
                self.store.update_document(document)
            raise InvalidInput(_("Fatture in Cloud refused the e-invoice n. {number}: {reasons}. Correct the order "
                                 "or the settings, then send it again.").format(
                number=document.full_number, reasons=document.ei_error), field="e_invoice",
                order_id=document.order_id) from None

    # --- correct and send again ------------------------------------------------------------------------

    def correct_and_resend(self, document_id: int) -> Document:
        """The owner fixed the order (or the settings): write the document again from the order,
        then send it once more. Only for a state FiC lets correct (discarded, rejected, error)."""
        document = self._e_invoice(document_id)
        if document.ei_status not in einvoice.RESENDABLE_STATES and not document.sdi_attempted_at:
            raise Conflict(_("The e-invoice n. {number} is {state}: there is nothing to correct.").format(
                number=document.full_number, state=self._state_words(document.ei_status)),
                order_id=document.order_id)
        if not document.sdi_attempted_at:
            DocumentIntents(self.context).rewrite(document)
        return self.send(document.id, resend=True)

    # --- the SdI's answer ------------------------------------------------------------------------------

    def refresh(self, document_id: int) -> Document:
        """Read the document's ``ei_status`` in FiC and store it (with the reason of a discard)."""
        document = self.store.document(document_id)
        if document is None or not document.is_synced:
            raise NotFound(_("Document {id} does not exist.").format(id=document_id))
        with acting_for(document.order_id, document.id):
            try:
                fic = self.context.client.get_document(document.fic_id, fieldset="detailed")
            except FicNotFound:
                log.info("document %s: deleted in Fatture in Cloud", document.id)
                DocumentIntents(self.context).forget(document)
                return document
            document.e_invoice = bool(fic.get("e_invoice", document.e_invoice))
            return self._record(document, fic.get("ei_status"), sent=False)

    def refresh_fic_ids(self, fic_ids: list[Any]) -> int:
        """Refresh the documents FiC named in an event; ids the shop does not know are a no-op."""
        done = 0
        for fic_id in fic_ids:
            try:
                document = self.store.document_by_fic_id(int(fic_id))
            except (TypeError, ValueError):
                log.warning("webhook: %r is not a FiC document id; ignored", fic_id)
                continue
            if document is None:
                log.info("webhook: FiC document %s is not one of this shop's; ignored", fic_id)
                continue
            self.refresh(document.id)
            done += 1
        return done

    def _record(self, document: Document, status: str | None, *, sent: bool) -> Document:
        now = now_iso()
        changed = status != document.ei_status
        if changed:
            document.ei_status = status
            document.ei_status_at = now
        document.ei_checked_at = now
        if sent:
            document.sdi_attempted_at = None
            document.ei_error = None
            document.last_error = None
        if changed and status in einvoice.FAILED_STATES:
            document.ei_error = self._error_reason(document)
        elif changed and status in einvoice.SENT_STATES and status != "not_delivered":
            document.ei_error = None
        with self.store.transaction():
            self.store.update_document(document)
        if changed:
            self.store.audit("sdi_status", self._state_words(status, document.order_id), order_id=document.order_id,
                             document_id=document.id)
        return document

    def _error_reason(self, document: Document) -> str | None:
        try:
            reason = self.context.client.e_invoice_error_reason(document.fic_id)
        except FicError as error:
            log.warning("document %s: FiC's error_reason is unavailable: %s", document.id, error)
            return None
        parts = [str(reason.get(k)).strip() for k in ("reason", "solution") if reason.get(k)]
        code = f"[{reason['code']}] " if reason.get("code") else ""
        return (code + " — ".join(parts)) or None

    # --- helpers --------------------------------------------------------------------------------------

    def _e_invoice(self, document_id: int) -> Document:
        document = synced_document(self.store, document_id)
        if not document.e_invoice:
            raise Conflict(_("The {label} n. {number} is not an e-invoice: only invoices and credit notes issued "
                             "with Fattura elettronica on go to the SdI.").format(
                label=document.type_label, number=document.full_number), order_id=document.order_id)
        return document

    def _lease(self, document: Document) -> None:
        with self.store.transaction():
            if not leases.is_free(self.store, *self.store.document_lease(document.id)):
                raise Busy(_("The e-invoice n. {number} is being sent right now.").format(
                    number=document.full_number), order_id=document.order_id)
            self.store.lease_document(document.id, leases.owner_id(self.store), leases.until(LEASE_SECONDS))
            fresh = self.store.document(document.id)
        for key in ("ei_status", "ei_status_at", "sdi_attempted_at", "ei_error"):
            setattr(document, key, getattr(fresh, key))

    def _state_words(self, status: str | None, order_id: str | None = None) -> str:
        return ei_state(status, public_administration=self._for_pa(order_id))

    def _for_pa(self, order_id: str | None) -> bool:
        if order_id is None:
            return False
        order = self.context.pm.hook.shop_get_order(order_id=order_id)
        return order is not None and order.customer.type == "pa"


def xml_errors(error: Any) -> list[str]:
    """The XML errors of FiC's 422 on xml_verify (``validation_result.xml_errors``, ``extra.errors``)."""
    found: list[str] = []
    for source in (getattr(error, "validation_result", None), getattr(error, "extra", None)):
        if isinstance(source, dict):
            for key in ("xml_errors", "errors"):
                for item in source.get(key) or []:
                    text = item if isinstance(item, str) else (item.get("message") if isinstance(item, dict) else None)
                    if text and str(text) not in found:
                        found.append(str(text))
    return found


def stale_in_flight(context: Context, *, seconds: int) -> list[Document]:
    """E-invoices still moving at the SdI that nobody asked about for ``seconds``: to poll."""
    horizon = iso(utc_now() - timedelta(seconds=seconds))
    return [d for d in context.store.documents() if d.e_invoice and d.is_synced
            and d.ei_status in einvoice.IN_FLIGHT_STATES
            and (d.ei_checked_at or "") <= horizon]


def check_mappings(context: Context, changes: dict[str, Any]) -> None:
    """Refuse, on save, VAT and payment mappings that would leave an e-invoice for the SdI to
    discard (a 0% VAT type without a valid natura, a method without ModalitaPagamento).

    Needs FiC's lists; when FiC cannot be reached the check is left to the moment a document is
    issued (the payload refuses the same things, naming the order).
    """
    if not {"vat_mapping", "payment_mapping", "e_invoice"} & set(changes):
        return
    settings = Settings.from_mapping({**context.settings.to_mapping(), **changes})
    if not settings.e_invoice:
        return
    try:
        client = context.client
        lookups = {"vat_types": {int(t["id"]): t for t in client.vat_types()},
                   "payment_methods": {int(m["id"]): m for m in client.payment_methods()},
                   "payment_accounts": {int(a["id"]): a for a in client.payment_accounts()}}
    except FicError as error:
        log.info("mappings not checked against FiC's lists: %s", error)
        return
    problems = einvoice.mapping_problems(settings.vat_mapping, settings.payment_mapping, **lookups)
    if problems:
        raise problems[0]
