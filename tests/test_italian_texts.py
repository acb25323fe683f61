"""What the customer and the owner read, for every document type, in Italian that agrees.

Every default text (email subject and body, SMS) is rendered for every type, and the messages
about one document (created, converted, deleted, sent, not sent) are checked against the Italian
sentences a shop owner expects: la fattura, il preventivo, la proforma, il documento di
trasporto, la nota di credito, la ricevuta.
"""

from __future__ import annotations

import re
from datetime import date

import pytest

from fic_plugin import messages, wording
from fic_plugin.i18n import language, pgettext
from fic_plugin.model import DOCUMENT_TYPES, Document
from fic_plugin.settings import DEFAULT_EMAIL_BODY, DEFAULT_EMAIL_SUBJECT, DEFAULT_SMS_TEXT
from fic_plugin.web.panel import converted_from, sent_state
from shoptest import make_order

ARTICLES = {
    "invoice": "la fattura",
    "quote": "il preventivo",
    "proforma": "la proforma",
    "delivery_note": "il documento di trasporto",
    "credit_note": "la nota di credito",
    "receipt": "la ricevuta",
}
FEMININE = {"invoice", "proforma", "credit_note", "receipt"}


def document(document_type: str, **values) -> Document:
    defaults = dict(id=1, order_id="1", type=document_type, fic_id=9, number=3, numeration="/A",
                    date=date(2026, 11, 29), amount_due="14.50")
    return Document(**{**defaults, **values})


@pytest.mark.parametrize("document_type", list(DOCUMENT_TYPES))
def test_default_email_and_sms_read_right_for_every_type(document_type):
    order = make_order("1")
    doc = document(document_type)
    values = {**messages.builtin_values(order, doc, shop_name="Bottega Rossi S.r.l.")}
    subject = messages.render(DEFAULT_EMAIL_SUBJECT, order, doc, html=False, values=values)
    body = messages.html_to_text(messages.render(DEFAULT_EMAIL_BODY, order, doc, html=True, values=values))
    sms = messages.render(DEFAULT_SMS_TEXT, order, doc, html=False, values=values)
    label = DOCUMENT_TYPES[document_type]
    article = ARTICLES[document_type]
    assert subject == f"{label} n. 3/A del 29/11/2026 - Bottega Rossi S.r.l."
    assert f"in allegato trova {article} n. 3/A del 29/11/2026 per il suo ordine n. 101, per un totale di " \
           "14,50 €." in body
    assert sms == f"Bottega Rossi S.r.l.: le abbiamo inviato per email {article} n. 3/A dell'ordine 101."
    for text in (subject, body, sms):
        assert ".." not in text.replace("...", "")
        # No article of the other gender before the type's name ("la Preventivo", "il fattura").
        wrong = "il" if document_type in FEMININE else "la"
        assert not re.search(rf"\b{wrong} {re.escape(label)}\b", text, re.IGNORECASE), text


@pytest.mark.parametrize(("document_type", "created", "not_sent", "sent", "converted"), [
    ("invoice", "Fattura n. 3/A creata.", "Non inviata", "Inviata il 29/11/2026 alle 23:22 ad amministrazione@x.it",
     "Convertita da Proforma n. 2"),
    ("quote", "Preventivo n. 3/A creato.", "Non inviato", "Inviato il 29/11/2026 alle 23:22 ad amministrazione@x.it",
     "Convertito da Proforma n. 2"),
    ("proforma", "Proforma n. 3/A creata.", "Non inviata", "Inviata il 29/11/2026 alle 23:22 ad amministrazione@x.it",
     "Convertita da Proforma n. 2"),
    ("delivery_note", "Documento di trasporto n. 3/A creato.", "Non inviato",
     "Inviato il 29/11/2026 alle 23:22 ad amministrazione@x.it", "Convertito da Proforma n. 2"),
    ("credit_note", "Nota di credito n. 3/A creata.", "Non inviata",
     "Inviata il 29/11/2026 alle 23:22 ad amministrazione@x.it", "Convertita da Proforma n. 2"),
])
def test_panel_messages_agree_with_the_document(document_type, created, not_sent, sent, converted):
    from datetime import datetime

    doc = document(document_type)
    with language("it"):
        message = wording.agree(document_type, pgettext("masculine", "{doc} created."),
                                pgettext("feminine", "{doc} created.")).format(doc=wording.document_name(doc))
        assert message == created
        assert sent_state(doc) == not_sent
        sent_doc = document(document_type, sent_at=datetime(2026, 11, 29, 23, 22), sent_to="amministrazione@x.it")
        assert sent_state(sent_doc) == sent
        assert converted_from(document(document_type, converted_from=5,
                                       converted_from_label="Proforma n. 2")) == converted


def test_conversion_messages_name_both_documents_in_their_gender():
    from fic_plugin.web.actions import already_converted

    with language("it"):
        assert already_converted(document("quote"), document("invoice", number=3, numeration="")) == \
            "Il preventivo è già stato convertito nella Fattura n. 3."
        assert already_converted(document("proforma"), document("delivery_note", number=1, numeration="")) == \
            "La proforma è già stata convertita nel Documento di trasporto n. 1."


def test_ad_before_a_vowel_and_one_full_stop():
    with language("it"):
        assert wording.to_recipients("amministrazione@x.it") == "ad amministrazione@x.it"
        assert wording.to_recipients("mario@x.it") == "a mario@x.it"
        assert wording.full_stop("Connesso a Fatture in Cloud: azienda Negozio Demo S.r.l..") == \
            "Connesso a Fatture in Cloud: azienda Negozio Demo S.r.l."
        assert wording.full_stop("Attendi...") == "Attendi..."
    with language("en"):
        assert wording.to_recipients("amministrazione@x.it") == "to amministrazione@x.it"


def test_plurals_in_italian():
    from fic_plugin.i18n import ngettext

    with language("it"):
        assert ngettext("{count} job queued again.", "{count} jobs queued again.", 1).format(count=1) == \
            "1 operazione rimessa in coda."
        assert ngettext("{count} job queued again.", "{count} jobs queued again.", 2).format(count=2) == \
            "2 operazioni rimesse in coda."
