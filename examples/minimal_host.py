"""A complete shop host in plain WSGI: its orders, an order page with the panel, a "paid" button.

Run it, with ``fic sandbox`` (the local FiC API) on :8765 in another terminal::

    FIC_API_URL=http://127.0.0.1:8765 FIC_ACCESS_TOKEN=demo FIC_COMPANY_ID=1 python examples/minimal_host.py

then open http://127.0.0.1:8080/orders/1, map the VAT rate and the payment method on the
settings screen it links to, press "Pagato" and wait for the worker. ``tests/test_example_host.py``
runs it end to end.
"""

from __future__ import annotations

import html
import threading
from datetime import datetime

import attrs
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.wrappers import Request, Response

import fic_plugin
from fic_plugin import hookimpl
from fic_plugin.model import Customer, Line, Order, Payment
from fic_plugin.payload import expected_totals
from fic_plugin.settings import Settings

MARIO = Customer(name="Mario Rossi", first_name="Mario", last_name="Rossi", tax_code="RSSMRA85M01H501Q",
                 email="mario.rossi@example.it", address_street="Via Roma 1", address_postal_code="00100",
                 address_city="Roma", address_province="RM")


class Shop:
    """The shop's side of the contract: where its orders are and who may act on documents."""

    def __init__(self) -> None:
        self.orders = {"1": Order(id="1", number="2026-001", customer=MARIO, payment_method="bank_transfer",
                                  lines=[Line(name="Olio extravergine 1 L", qty="2", unit_price="12.50", vat_rate="22")])}

    @hookimpl
    def shop_get_order(self, order_id: str) -> Order | None:
        return self.orders.get(order_id)

    @hookimpl
    def shop_is_admin(self, environ: dict) -> bool:
        return True  # a real shop asks its own session

    def pay(self, order_id: str) -> tuple[Order, Payment]:
        order = self.orders[order_id]
        # The plugin's totals of the order (docs/totals.md) with this shop's settings, the defaults.
        total = expected_totals(order, Settings()).amount_gross
        payment = Payment(amount=total, method=order.payment_method)
        order = attrs.evolve(order, payments=(*order.payments, payment), paid_at=datetime.now(), status="paid")
        self.orders[order_id] = order
        return order, payment


def make_host(database: str, *, mount: str = "/admin/fic") -> tuple[DispatcherMiddleware, fic_plugin.FicApp]:
    """The shop's WSGI app with fic-plugin mounted at ``mount``, and the plugin's handle."""
    shop = Shop()
    fic = fic_plugin.setup(shop, database=database, mount=mount)

    def shop_pages(environ: dict, start_response):
        request = Request(environ)
        parts = request.path.strip("/").split("/")  # orders/<id>[/paid]
        order = shop.orders.get(parts[1]) if len(parts) >= 2 and parts[0] == "orders" else None
        if order is None:
            response = Response("Ordine inesistente", status=404)
        elif request.method == "POST" and parts[2:] == ["paid"]:
            order, payment = shop.pay(order.id)
            fic.events.payment_recorded(order, payment)
            fic.events.order_paid(order)
            response = Response(status=303, headers={"Location": f"/orders/{order.id}"})
        else:
            response = Response(
                f"<h1>Ordine {html.escape(order.number)}</h1>"
                f"<form method='post' action='/orders/{order.id}/paid'><button>Pagato</button></form>"
                + fic.panel(order, request=environ), content_type="text/html; charset=utf-8")
        return response(environ, start_response)

    return DispatcherMiddleware(shop_pages, {mount: fic.wsgi}), fic


if __name__ == "__main__":
    from werkzeug.serving import run_simple

    app, fic = make_host("minimal-host.db")
    fic.migrate()  # creates the plugin's tables (once; `fic --db minimal-host.db migrate` does the same)
    stop = threading.Event()
    threading.Thread(target=fic.worker.run, kwargs={"interval": 2.0, "stop": stop}, daemon=True).start()
    print("Order page: http://127.0.0.1:8080/orders/1", flush=True)
    try:
        run_simple("127.0.0.1", 8080, app, threaded=True)
    finally:
        stop.set()
