"""Deleting a document in FiC and in the shop, refused once FiC has locked it or sent it to the SdI."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from . import leases, wording
from .context import acting_for
from .document_intents import (
    DocumentIntents,
    apply_fic_fields,
)
from .errors import Busy, Conflict, NotFound
from .fic.errors import FicNotFound
from .i18n import _, pgettext
from .model import Document

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

#: FiC e-invoice states after which a document can no longer be deleted.
EI_LOCKED_STATES = {"sent", "pending", "processing", "accepted", "manual_accepted", "no_response", "not_delivered"}


class Deletion(DocumentIntents):
    """Deleting one shop's documents; a document FiC already lost is only forgotten locally."""

    def delete(self, document_id: int) -> None:
        """Delete in FiC, then locally; a document FiC has locked or sent to SDI is refused."""
        document = self.store.document(document_id)
        if document is None:
            raise NotFound(_("Document {id} does not exist.").format(id=document_id))
        with acting_for(document.order_id, document.id):
            self._delete(document)

    def _delete(self, document: Document) -> None:
        if not document.is_synced:
            if not leases.is_free(self.store, *self.store.document_lease(document.id)):
                raise Busy(_("This document is being created right now: wait for it, then delete it."),
                           order_id=document.order_id)
            found = self._find_in_fic(document) if document.attempted_at else None
            if found is None:
                self._forget(document)
                return
            # FiC did create it (an answer was lost): delete that one, not just the intent.
            apply_fic_fields(document, found)
        try:
            fic = self.context.client.get_document(document.fic_id, fieldset="basic")
        except FicNotFound:
            self._forget(document)
            return
        ei_status = fic.get("ei_status")
        if fic.get("locked") or ei_status in EI_LOCKED_STATES:
            raise Conflict(wording.agree(
                document.type,
                pgettext("masculine", "FiC does not allow deleting {doc}: it is locked or was sent to the SDI. "
                                      "Issue a credit note (Nota di credito) instead."),
                pgettext("feminine", "FiC does not allow deleting {doc}: it is locked or was sent to the SDI. "
                                     "Issue a credit note (Nota di credito) instead."),
            ).format(doc=wording.document_name(document)), order_id=document.order_id)
        try:
            self.context.client.delete_document(document.fic_id)
        except FicNotFound:
            pass
        self._forget(document)
