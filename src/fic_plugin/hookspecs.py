"""The contract between a shop, fic-plugin and the developers who extend it.

Three families of hooks, all under the pluggy project name ``shop``:

* **Events the shop fires.** The shop calls ``pm.hook.order_paid(order=...)`` and friends; the plugin
  answers in milliseconds (it only writes a durable job; FiC is called by the worker).
* **Services the shop provides.** The host implements these so the plugin can read orders, find
  the database and send mail. They are ``firstresult``: the first non-``None`` answer wins, and
  ``None`` means "not mine, ask the next plugin".
* **Override points.** Developers implement these to change what the plugin does: the FiC payload,
  the type of automatic documents, shortcodes, the SMS provider, and notifications.

Every hook's full reference, with examples, is in ``docs/hooks.md``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from pluggy import PluginManager

    from .model import Document, EmailMessage, Order, Payment, Refund, SentMessage, SmsMessage

hookspec = pluggy.HookspecMarker("shop")
#: Marks a function as an implementation of a hook of the ``shop`` project (``fic_plugin.hookimpl``).
hookimpl = pluggy.HookimplMarker("shop")


# --- Start-up -----------------------------------------------------------------------------------


@hookspec(historic=True)
def shop_ready(pm: PluginManager) -> None:
    """The plugin manager is complete: every plugin is registered and checked.

    Fired once by :func:`fic_plugin.manager.get_plugin_manager` (and by a host that builds its own
    manager, with ``pm.hook.shop_ready.call_historic(kwargs={"pm": pm})``). It is *historic*: a
    plugin registered later is called too. Plugins that need to call the shop's services keep
    ``pm``. Return nothing.
    """


# --- Events the shop fires ------------------------------------------------------------------------


@hookspec
def order_paid(order: Order) -> None:
    """The order is fully paid.

    Fire it once when the payments cover the order's total; firing it again (a replayed webhook,
    a double click) is harmless. When *automatic invoices* is on, the plugin queues the invoice (or
    the type chosen by :func:`fic_auto_document_type`) and its email; a send configuration saved
    with "send when paid" is used for it. Returns at once, without calling FiC. Return nothing.
    """


@hookspec
def payment_recorded(order: Order, payment: Payment) -> None:
    """A payment, partial or total, was recorded on ``order``.

    ``order.payments`` already includes ``payment``. The plugin queues an update of the paid amount
    on the order's document (FiC ``payments_list``), marking it paid when covered. A payment that
    arrives before the document exists is applied when the document is created. Returns at once.
    Return nothing.
    """


@hookspec
def order_refunded(order: Order, refund: Refund) -> None:
    """Money was given back to the customer for ``order``.

    ``refund`` says what: refunded ``lines`` (``[RefundLine(line_index, qty)]``) or only an
    ``amount``, with a ``reason`` and an ``id`` unique to this refund; ``order.refunds`` includes
    it. The plugin queues a credit note (Nota di credito) for it: the refunded lines, or the amount
    spread over the invoice's VAT rates, naming the invoice it corrects, an e-invoice when the
    invoice was, emailed when automatic sending is on. Exactly once per refund id: firing it again
    is harmless. An order without an invoice gets no credit note (the refund is only recorded).
    Returns at once, without calling FiC. Return nothing.
    """


@hookspec(firstresult=True)
def order_panel_render(order: Order) -> str | None:
    """The shop is drawing the order page: return the HTML fragment to insert.

    The fragment is self-contained (its own CSS, no external assets) and shows the order's fiscal
    documents with their actions; its forms post to the plugin's WSGI app (mounted by the host at
    ``/fic/``). Return ``None`` to let another plugin draw it.
    """


@hookspec(firstresult=True)
def order_list_cell(order: Order) -> str | None:
    """The shop is drawing its list of orders: return the HTML of the order's fiscal-document cell.

    A short, self-contained fragment: each document's type and number with its paid, sent and
    SdI state ("Fattura 3/A · Pagata · Inviata"), or a dash. Return ``None`` to let another plugin
    draw it.
    """


# --- Services the shop provides -------------------------------------------------------------------


@hookspec(firstresult=True)
def shop_database() -> str | None:
    """Return where the plugin keeps its ``fic_`` tables: a SQLite file (a path or
    ``sqlite:///path``) or a PostgreSQL URL (``postgresql://user@host/db?schema=fic``).

    The plugin opens its own connections (one per thread and process, on first use). It never
    creates or upgrades its tables by itself: run ``fic migrate`` at install and after upgrades.
    """


@hookspec(firstresult=True)
def shop_get_order(order_id: str) -> Order | None:
    """Return the order with this id, with its customer, lines and payments, or ``None``."""


@hookspec(firstresult=True)
def shop_paid_orders(since: datetime | None) -> Iterable[Order] | None:
    """Return the orders fully paid at or after ``since`` (all paid orders when ``since`` is None).

    Used by the periodic check that invoices paid orders still without a document. An iterator is
    welcome on a big shop: the plugin consumes it lazily.
    """


@hookspec(firstresult=True)
def shop_order_url(order: Order) -> str | None:
    """Return the public URL where the customer sees ``order`` (the ``{order_url}`` shortcode)."""


@hookspec(firstresult=True)
def shop_send_email(message: EmailMessage) -> bool | None:
    """Send an email the plugin could not send through FiC (document not synced, plain messages).

    Return ``True`` once the shop's mailer accepted it; raise with a readable message when it
    refused. Return ``None`` when this plugin does not send mail.
    """


@hookspec(firstresult=True)
def shop_is_admin(environ: dict[str, Any]) -> bool | None:
    """Tell whether the WSGI request ``environ`` comes from someone allowed to act on documents.

    The plugin refuses every panel and settings action when this returns ``False`` or when no
    plugin answers. Return ``None`` when this plugin has no opinion.
    """


@hookspec
def shop_release() -> None:
    """The plugin is done with this shop for now: close what your plugin opened for it in this
    thread (its database connection), so nothing stays open per shop between jobs.

    Called by a worker serving many shops from one process (``fic worker``, ``fic sync
    --all-shops``) after each slice of a shop's work: it keeps up to ``FIC_OPEN_SHOPS`` shops
    ready, and a connection held by each would make its memory grow with the shops it serves
    (SQLite keeps a few hundred kilobytes per open connection). The next hook call opens again.
    A host serving one shop is never called.
    """


@hookspec(firstresult=True)
def shop_orders_in_database() -> bool | None:
    """Return True when the shop writes its orders and payments in the database of the plugin's
    tables (:func:`shop_database`), so that a SQLite file that did not change means no order was
    paid. A loop serving many shops (``fic sync --all-shops``, with or without ``--engine
    celery``) then leaves out its periodic check for paid orders without a document (a full
    opening of the shop) while the file stays as it was, checking anyway every ten
    ``--interval``. None (the default): always checked. The reference shop returns True.
    """


# --- Override points for developers ---------------------------------------------------------------


@hookspec
def fic_document_payload(order: Order, document_type: str, payload: dict[str, Any]) -> None:
    """Change the FiC document before it is sent to ``POST /issued_documents``.

    ``payload`` is the ``data`` object of FiC's create request, built from the order and the
    settings; change it in place (the return value is ignored). Implementations run last-registered
    first, after the plugin's own defaults. Keep ``payments_list`` consistent with any amount you
    change, or FiC will refuse the document.
    """


@hookspec(firstresult=True)
def fic_vat_number_valid(country_iso: str, vat_number: str) -> bool | None:
    """Say whether an EU business's VAT number is registered (VIES), before a document is issued.

    Called for customers in another EU country with a VAT number, whose 0% sales are
    intra-community (N3.2, N2.1). ``vat_number`` is in VIES's form, with its prefix
    (``DE136695976``, ``EL…`` for Greece); its shape and check digit are already checked. Return
    ``False`` to refuse the document (the owner is told to check the number), ``True`` when VIES
    confirms it, ``None`` when you do not know (the plugin itself never calls VIES).
    """


@hookspec(firstresult=True)
def fic_auto_document_type(order: Order) -> str | None:
    """Choose the type of the document created automatically for a paid order.

    Return one of ``invoice``, ``receipt``, ``proforma``, ``quote``, ``delivery_note``, or ``None``
    to use the setting ``auto_document_type`` (``invoice`` by default).
    """


@hookspec
def fic_shortcodes(order: Order, document: Document | None) -> dict[str, str] | None:
    """Return extra shortcodes for email subjects, bodies and SMS texts, as ``{name: value}``.

    Values are plain text (escaped where the text is HTML). The built-in ones (``customer_name``,
    ``order_number``, ...) cannot be replaced. Return ``None`` to add nothing.
    """


@hookspec(firstresult=True)
def fic_send_sms(message: SmsMessage) -> SentMessage | None:
    """Send an SMS through a provider and return what the provider answered.

    The built-in providers (Twilio, Skebby) answer when configured in the settings; a plugin that
    answers first replaces them. Raise :class:`fic_plugin.errors.FicError` when the provider
    refuses (never with the credentials in the message). Return ``None`` when not configured.
    """


@hookspec
def fic_document_issued(order: Order, document: Document) -> None:
    """A document was created in FiC for ``order`` and stored locally. Return nothing."""


@hookspec
def fic_document_converted(order: Order, document: Document, original: Document) -> None:
    """``original`` was converted into ``document`` (e.g. a proforma into an invoice)."""


@hookspec
def fic_document_deleted(order: Order, document: Document) -> None:
    """``document`` was deleted in FiC and locally. Return nothing."""


@hookspec
def fic_document_sent(order: Order, document: Document, sent: SentMessage) -> None:
    """``document`` was sent (email through FiC or the shop's mailer, or SMS). Return nothing."""
