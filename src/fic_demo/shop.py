"""The reference shop: orders, customers and payments in SQLite, and the services fic-plugin asks for.

:class:`DemoShop` is a pluggy plugin (``pm.register(DemoShop(path))``). It answers the shop
services of :mod:`fic_plugin.hookspecs` from its ``demo_`` tables and fires ``payment_recorded``
and ``order_paid`` the way a real shop should: after the payment is committed, and ``order_paid``
exactly once, when the payments first cover the order's total.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from fic_plugin import hookimpl
from fic_plugin.errors import NotFound
from fic_plugin.i18n import _
from fic_plugin.model import Customer, Document, EmailMessage, Line, Order, Payment
from fic_plugin.settings import Settings, load_settings
from fic_plugin.store import Store

from .parse import CUSTOMER_KEYS, NewOrder
from .refunds import load_refunds
from .schema import create_tables
from .seed import demo_orders
from .totals import OrderTotals, order_totals

if TYPE_CHECKING:
    import pluggy

log = logging.getLogger(__name__)

SHIPPING_NAME = "Spedizione"
DEFAULT_SHIPPING_RATE = Decimal("22")
PAGE = 100
#: The shop's public address when it is not where the demo listens (behind a proxy, a tunnel).
PUBLIC_URL_ENV = "FIC_DEMO_PUBLIC_URL"
#: Who counts as the shop owner in the demo: requests from this machine (see shop_is_admin).
LOCAL_ADDRESSES = ("127.0.0.1", "::1", "::ffff:127.0.0.1")


def _iso(moment: datetime) -> str:
    """Stored times are naive local time, always with microseconds, so text order is time order."""
    if moment.tzinfo is not None:
        moment = moment.astimezone().replace(tzinfo=None)
    return moment.isoformat(timespec="microseconds")


@attrs.frozen
class PaymentResult:
    """What recording a payment did: the order as it is now, and whether it just became paid."""

    order: Order
    payment: Payment
    became_paid: bool
    warnings: tuple[str, ...] = ()
    #: A plugin failed on payment_recorded or order_paid (the payment itself is saved).
    events_failed: bool = False


class DemoShop:
    """The demo shop's data and its answers to fic-plugin's shop services.

    ``base_url`` is the shop's public address, used for ``{order_url}`` in messages: the
    argument, else ``FIC_DEMO_PUBLIC_URL``, else the address the demo server listens on.
    """

    def __init__(self, db_path: str | Path, *, base_url: str | None = None, seed: bool = True):
        self.db_path = Path(db_path)
        self.base_url = (base_url or os.environ.get(PUBLIC_URL_ENV) or "http://127.0.0.1:8000").rstrip("/")
        self.store = Store(self.db_path)
        self.pm: pluggy.PluginManager | None = None
        #: Where the test SMS provider's messages are shown: the sandbox's ``/__sandbox__/sms``.
        self.sms_log_url: str | None = None
        #: Orders per query when the plugin walks the paid orders.
        self.page_size = PAGE
        # The plugin's tables too: the JSON API reads fic_documents even before the plugin runs.
        self.store.migrate()
        with self.store.transaction() as db:
            fresh = create_tables(db)
            if fresh and seed:
                self._seed()
        # The key of the customers' order links exists from the start, so that a send refused
        # for a bad address (which renders {order_url} first) writes nothing at all.
        self.customer_key("0")

    def _seed(self) -> None:
        """Add the demo orders. Called once, inside the transaction that creates the tables."""
        now = datetime.now().replace(microsecond=0)
        for new, days_ago, payments in demo_orders():
            order = self.create_order(new, created_at=now - timedelta(days=days_ago, hours=2))
            for amount, method, paid_days_ago in payments:
                value = self.totals(order).to_pay if amount == "all" else Decimal(amount)
                self.record_payment(order.id, value, method, now - timedelta(days=paid_days_ago), fire=False)

    # --- shop services (hooks) ------------------------------------------------------------------

    @hookimpl
    def shop_ready(self, pm: pluggy.PluginManager) -> None:
        self.pm = pm

    @hookimpl
    def shop_database(self) -> str:
        return str(self.db_path)

    @hookimpl
    def shop_orders_in_database(self) -> bool:
        """The demo shop's orders are in the same file as the plugin's tables."""
        return True

    @hookimpl
    def shop_release(self) -> None:
        # A worker serving many shops is done with this one for now: its connection (a few
        # hundred kilobytes of SQLite caches) is not kept open until the next job.
        self.store.close()

    @hookimpl
    def shop_get_order(self, order_id: str) -> Order | None:
        try:
            number = int(str(order_id))
        except ValueError:
            return None
        orders = self._load(self.store.db.execute("SELECT * FROM demo_orders WHERE id = ?", [number]))
        return orders[0] if orders else None

    @hookimpl
    def shop_paid_orders(self, since: datetime | None) -> Iterator[Order]:
        return self._paid_orders(since)

    @hookimpl
    def shop_order_url(self, order: Order) -> str:
        """The customer's page of the order (``{order_url}`` in emails), not the owner's."""
        return f"{self.base_url.rstrip('/')}/i-miei-ordini/{order.id}/{self.customer_key(order.id)}"

    def admin_order_url(self, order: Order) -> str:
        """The owner's page of the order: the ``url`` of the JSON API, which scripts follow."""
        return f"{self.base_url}/orders/{order.id}"

    def customer_key(self, order_id: str) -> str:
        """The key in the customer's link: an HMAC of the order id, so links cannot be guessed."""
        import hashlib
        import hmac

        from fic_plugin.web.csrf import shop_secret

        return hmac.new(shop_secret(self.store), f"customer-order|{order_id}".encode(),
                        hashlib.sha256).hexdigest()[:24]

    def customer_key_matches(self, order_id: str, key: str) -> bool:
        import hmac

        return hmac.compare_digest(self.customer_key(order_id), key)

    @hookimpl
    def shop_send_email(self, message: EmailMessage) -> bool:
        from .mailer import send_email

        return send_email(self.store, message)

    @hookimpl
    def fic_send_sms(self, message: Any) -> Any:
        """With the "test" SMS provider, the demo shows each SMS in its sandbox's log (``GET
        /__sandbox__/sms``), like the emails; any other provider is not the demo's business."""
        if self.sms_log_url is None or self.pm is None:
            return None
        context = self.pm.get_plugin("fic-core").context
        if context.settings.sms_provider != "test":
            return None
        from .mailer import log_sms

        return log_sms(self.sms_log_url, message)

    @hookimpl
    def shop_is_admin(self, environ: dict[str, Any]) -> bool:
        """The demo has no login: whoever browses from this machine is the owner.

        A real shop answers from its own session (an admin cookie, a staff flag); binding the demo
        to another address does not make remote visitors owners.
        """
        return environ.get("REMOTE_ADDR") in LOCAL_ADDRESSES

    # --- orders ------------------------------------------------------------------------------------

    def create_order(self, new: NewOrder, *, created_at: datetime | None = None) -> Order:
        """Write the customer, the order and its lines in one transaction; nothing half-written."""
        created = created_at or datetime.now()
        lines = new.lines + _shipping_lines(new.lines, new.shipping)
        total = order_totals(lines, new.prices_include_vat, customer=new.customer,
                             settings=self.settings()).to_pay
        with self.store.transaction() as db:
            customer = {k: getattr(new.customer, k) for k in CUSTOMER_KEYS}
            customer_id = db["demo_customers"].insert({**customer, "created_at": _iso(created)}).last_pk
            order_id = db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM demo_orders").fetchone()[0]
            db["demo_orders"].insert({
                "id": order_id, "number": f"{created.year}-{order_id:04d}", "customer_id": customer_id,
                "created_at": _iso(created), "prices_include_vat": int(new.prices_include_vat),
                "payment_method": new.payment_method, "currency": "EUR", "shipping": str(new.shipping),
                "oss": int(new.oss),
                "total": str(total), "paid_at": None, "cig": new.cig, "cup": new.cup,
                "po_number": new.po_number, "po_date": new.po_date.isoformat() if new.po_date else None,
            })
            db["demo_lines"].insert_all(
                {"order_id": order_id, "position": i, "name": line.name, "code": line.code,
                 "qty": str(line.qty), "unit_price": str(line.unit_price), "vat_rate": str(line.vat_rate),
                 "discount": str(line.discount), "kind": line.kind}
                for i, line in enumerate(new.lines)
            )
        order = self.shop_get_order(str(order_id))
        assert order is not None
        return order

    def record_payment(self, order_id: str, amount: Decimal, method: str,
                       paid_at: datetime | None = None, *, fire: bool = True) -> PaymentResult:
        """Add a payment, then tell fic-plugin (after the commit, so a job never sees a rollback).

        ``order_paid`` fires only on the payment that first covers the total: the decision is taken
        inside the write transaction, so two payments arriving together cannot both fire it.
        Overpaying is allowed (the customer did pay) and reported as a warning.
        """
        moment = paid_at or datetime.now()
        with self.store.transaction() as db:
            row = db.execute("SELECT total, paid_at FROM demo_orders WHERE id = ?", [_int(order_id)]).fetchone()
            if row is None:
                raise NotFound(_("Order {order_id} does not exist in the shop.").format(order_id=order_id),
                               order_id=str(order_id))
            total, already_paid_at = Decimal(row[0]), row[1]
            payment_id = db["demo_payments"].insert({
                "order_id": _int(order_id), "amount": str(amount), "method": method, "paid_at": _iso(moment),
            }).last_pk
            paid = sum((Decimal(a) for (a,) in db.execute(
                "SELECT amount FROM demo_payments WHERE order_id = ?", [_int(order_id)])), Decimal("0"))
            became_paid = already_paid_at is None and paid >= total
            if became_paid:
                db.execute("UPDATE demo_orders SET paid_at = ? WHERE id = ?", [_iso(moment), _int(order_id)])
        order = self.shop_get_order(str(order_id))
        assert order is not None
        payment = next(p for p in order.payments if p.id == str(payment_id))
        warnings = []
        if paid > total:
            warnings.append(_("Order {number} is overpaid: {paid} received for a total of {total}; "
                              "refund {extra} to the customer or keep it as credit.").format(
                number=order.number, paid=paid, total=total, extra=paid - total))
        event_errors = []
        if fire and self.pm is not None:
            event_errors += self._fire("payment_recorded", order=order, payment=payment)
            if became_paid:
                event_errors += self._fire("order_paid", order=order)
        return PaymentResult(order=order, payment=payment, became_paid=became_paid,
                             warnings=tuple(warnings + event_errors), events_failed=bool(event_errors))

    def _fire(self, hook: str, **kwargs: Any) -> list[str]:
        """Call a shop event; a failing plugin must not lose the payment, which is already saved."""
        try:
            getattr(self.pm.hook, hook)(**kwargs)
        except Exception as error:  # noqa: BLE001 - any plugin's failure is reported, not raised
            log.exception("%s failed for order %s", hook, kwargs["order"].id)
            return [_("The payment is saved, but the {hook} event failed: {error}").format(hook=hook, error=error)]
        return []

    def orders(self, *, limit: int = 50, offset: int = 0) -> list[Order]:
        """The newest orders first, for the shop's order list."""
        return self._load(self.store.db.execute(
            "SELECT * FROM demo_orders ORDER BY id DESC LIMIT ? OFFSET ?", [limit, offset]))

    def count_orders(self) -> int:
        return self.store.db.execute("SELECT COUNT(*) FROM demo_orders").fetchone()[0]

    def totals(self, order: Order) -> OrderTotals:
        return order_totals(order.lines, order.prices_include_vat, customer=order.customer,
                            settings=self.settings())

    def settings(self) -> Settings:
        """fic-plugin's settings: rivalsa, cassa, ritenuta and bollo decide what the shop charges."""
        return load_settings(self.store)

    def documents(self, order_id: str) -> list[Document]:
        """The fiscal documents fic-plugin keeps for the order (its ``fic_documents`` table)."""
        return self.store.documents(str(order_id))

    # --- reading -------------------------------------------------------------------------------------

    def _paid_orders(self, since: datetime | None) -> Iterator[Order]:
        # Keyset paging on (paid_at, id): constant memory, and no order skipped or repeated when
        # payments arrive while the plugin is still consuming the iterator.
        after_time, after_id = (_iso(since), -1) if since else ("", -1)
        while True:
            page = self._load(self.store.db.execute(
                "SELECT * FROM demo_orders WHERE paid_at IS NOT NULL AND "
                "(paid_at > ? OR (paid_at = ? AND id > ?)) ORDER BY paid_at, id LIMIT ?",
                [after_time, after_time, after_id, self.page_size]))
            yield from page
            if len(page) < self.page_size:
                return
            after_time, after_id = _iso(page[-1].paid_at), int(page[-1].id)

    def _load(self, cursor: Any) -> list[Order]:
        """Build orders from ``demo_orders`` rows, fetching their customers, lines and payments in bulk."""
        names = [c[0] for c in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        if not rows:
            return []
        db = self.store.db
        ids = [r["id"] for r in rows]
        marks = ", ".join("?" for _ in ids)
        customers = {r["id"]: r for r in db.query(
            f"SELECT * FROM demo_customers WHERE id IN ({', '.join('?' for _ in rows)})",
            [r["customer_id"] for r in rows])}
        lines: dict[int, list[Line]] = {i: [] for i in ids}
        for r in db.query(f"SELECT * FROM demo_lines WHERE order_id IN ({marks}) ORDER BY order_id, position", ids):
            lines[r["order_id"]].append(Line(name=r["name"], qty=r["qty"], unit_price=r["unit_price"],
                                             vat_rate=r["vat_rate"], discount=r["discount"], kind=r["kind"],
                                             code=r["code"]))
        payments: dict[int, list[Payment]] = {i: [] for i in ids}
        for r in db.query(f"SELECT * FROM demo_payments WHERE order_id IN ({marks}) ORDER BY id", ids):
            payments[r["order_id"]].append(Payment(amount=r["amount"], method=r["method"],
                                                   paid_at=datetime.fromisoformat(r["paid_at"]), id=str(r["id"])))
        refunds = load_refunds(self.store, ids)
        return [self._order(r, customers[r["customer_id"]], lines[r["id"]], payments[r["id"]], refunds[r["id"]])
                for r in rows]

    @staticmethod
    def _order(row: dict, customer: dict, lines: list[Line], payments: list[Payment], refunds: list) -> Order:
        paid = sum((p.amount for p in payments), Decimal("0"))
        status = "paid" if row["paid_at"] else ("partly_paid" if paid > 0 else "pending")
        return Order(
            id=row["id"], number=row["number"],
            customer=Customer(**{k: customer[k] for k in CUSTOMER_KEYS if customer.get(k) is not None}),
            lines=[*lines, *_shipping_lines(lines, Decimal(row["shipping"]))],
            created_at=datetime.fromisoformat(row["created_at"]),
            prices_include_vat=bool(row["prices_include_vat"]), payment_method=row["payment_method"],
            oss=bool(row.get("oss")),
            currency=row["currency"], payments=payments,
            paid_at=datetime.fromisoformat(row["paid_at"]) if row["paid_at"] else None, status=status,
            refunds=refunds,
            cig=row.get("cig"), cup=row.get("cup"), po_number=row.get("po_number"),
            po_date=date.fromisoformat(row["po_date"]) if row.get("po_date") else None,
        )


def _shipping_lines(lines: tuple[Line, ...] | list[Line], shipping: Decimal) -> tuple[Line, ...]:
    """The shipping as an order line, taxed at the highest rate of the products.

    Shipping is an accessory supply (art. 12 DPR 633/72): it follows the VAT of the main supply,
    and with mixed rates the shop applies the highest, the prudent reading. 22% without products.
    """
    if shipping <= 0:
        return ()
    rates = [line.vat_rate for line in lines if line.kind in ("goods", "service")]
    return (Line(name=SHIPPING_NAME, qty=1, unit_price=shipping, vat_rate=max(rates, default=DEFAULT_SHIPPING_RATE),
                 kind="shipping"),)


def _int(order_id: str | int) -> int:
    try:
        return int(str(order_id))
    except ValueError:
        raise NotFound(_("Order {order_id} does not exist in the shop.").format(order_id=order_id),
                       order_id=str(order_id)) from None
