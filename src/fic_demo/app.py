"""The demo shop's web app: its Italian back-office pages, its JSON API, and fic-plugin at ``/fic/``.

The order page is where a shop owner meets fic-plugin: it embeds the panel that
``order_panel_render`` returns and falls back to a small notice when the plugin cannot draw it,
so a broken plugin never takes the shop's own page down with it.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

import jinja2
import pluggy
from markupsafe import Markup
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.routing import Map, Rule
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from fic_plugin.errors import FicError, InvalidInput
from fic_plugin.errors import NotFound as OrderNotFound
from fic_plugin.formatting import format_money
from fic_plugin.i18n import _
from fic_plugin.web import csrf

from .api import order_json, payment_json
from .parse import amount, parse_method, parse_order, parse_payment
from .refunds import record_refund, refund_json
from .shop import DemoShop
from .totals import line_total

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024
PAGE_SIZE = 50
METHOD_LABELS = {"bank_transfer": "Bonifico bancario", "card": "Carta di credito", "paypal": "PayPal",
                 "cash": "Contanti"}
STATUS_LABELS = {"pending": "Da pagare", "partly_paid": "Pagato in parte", "paid": "Pagato"}

URLS = Map([
    Rule("/", endpoint="home"),
    Rule("/orders", endpoint="order_list"),
    Rule("/orders/<int:order_id>", endpoint="order_page"),
    Rule("/orders/<int:order_id>/payments", endpoint="payment_form", methods=["POST"]),
    Rule("/i-miei-ordini/<int:order_id>/<key>", endpoint="customer_order"),
    Rule("/api/orders", endpoint="api_orders", methods=["GET", "POST"]),
    Rule("/api/orders/<int:order_id>", endpoint="api_order", methods=["GET"]),
    Rule("/api/orders/<int:order_id>/payments", endpoint="api_payments", methods=["POST"]),
    Rule("/api/orders/<int:order_id>/refunds", endpoint="api_refunds", methods=["POST"]),
    Rule("/orders/<int:order_id>/refunds", endpoint="refund_form", methods=["POST"]),
], strict_slashes=False)


def euro(value: Decimal | str | None) -> str:
    """Italian money format, as the plugin's panel writes it on the same page: 1.234,56 €."""
    return format_money(Decimal(value or 0))


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("fic_demo", "templates"), autoescape=True)
    env.filters["euro"] = euro
    env.filters["line_total"] = line_total
    env.filters["date"] = lambda d: d.strftime("%d/%m/%Y") if d else ""
    env.filters["datetime"] = lambda d: d.strftime("%d/%m/%Y %H:%M") if d else ""
    env.filters["qty"] = lambda q: format(Decimal(q).normalize(), "f").replace(".", ",")
    env.globals.update(method_labels=METHOD_LABELS, status_labels=STATUS_LABELS)
    return env


class ShopApp:
    """The WSGI app of the demo shop (build it with :func:`make_app`)."""

    def __init__(self, pm: pluggy.PluginManager, shop: DemoShop):
        self.pm = pm
        self.shop = shop
        self.templates = _environment()

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        request = Request(environ)
        request.max_content_length = MAX_BODY
        return self.dispatch(request)(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        is_api = request.path.startswith("/api/")
        try:
            endpoint, args = URLS.bind_to_environ(request.environ).match()
            # The customer's own order page ({order_url}) is opened from an email: its key is the pass.
            if endpoint != "customer_order" and not self.pm.hook.shop_is_admin(environ=request.environ):
                return self.error(request, 403, _("The demo shop only answers its owner: open it from this "
                                                  "computer (127.0.0.1)."))
            if request.method == "POST" and not _same_origin(request):
                return self.error(request, 403, _("This form was sent from another site: open the shop's own "
                                                  "page and try again."))
            return getattr(self, endpoint)(request, **args)
        except OrderNotFound as error:
            return self.error(request, 404, error.message, error)
        except FicError as error:
            return self.error(request, 400, error.message, error)
        except HTTPException as error:
            if is_api:
                return self.error(request, error.code or 500, error.description or error.name)
            return error.get_response(request.environ)
        except Exception:  # noqa: BLE001 - the log has the traceback, the page a plain sentence
            log.exception("demo shop: %s %s failed", request.method, request.path)
            return self.error(request, 500, _("Unexpected error in the demo shop: nothing was saved; "
                                              "see the log of fic demo."))

    def error(self, request: Request, status: int, message: str, error: FicError | None = None) -> Response:
        if request.path.startswith("/api/"):
            body = error.to_dict() if error else {"error": message}
            return _json(body, status)
        return self.render("error.html", status, message=message, status=status)

    def render(self, template: str, code: int = 200, **values: Any) -> Response:
        html = self.templates.get_template(template).render(**values)
        return Response(html, status=code, mimetype="text/html")

    # --- pages ------------------------------------------------------------------------------------

    def home(self, request: Request) -> Response:
        return redirect("/orders")

    def order_list(self, request: Request) -> Response:
        page = max(request.args.get("pagina", 1, type=int) or 1, 1)
        orders = self.shop.orders(limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
        rows = [(order, self.shop.totals(order), self._cell(order)) for order in orders]
        pages = max((self.shop.count_orders() + PAGE_SIZE - 1) // PAGE_SIZE, 1)
        return self.render("orders.html", rows=rows, page=page, pages=pages)

    def _cell(self, order: Any) -> Markup:
        """The order's fiscal documents in the list, drawn by the plugin (``order_list_cell``)."""
        try:
            html = self.pm.hook.order_list_cell(order=order)
        except Exception:  # the list still shows when the plugin cannot draw a cell
            log.exception("order_list_cell failed for order %s", order.id)
            html = None
        return Markup(html) if html else Markup("—")

    def order_page(self, request: Request, order_id: int, *, status: int = 200, form_error: str | None = None,
                   form: dict | None = None, refund_error: str | None = None) -> Response:
        order = self._order(order_id)
        totals = self.shop.totals(order)
        due = max(totals.to_pay - order.amount_paid, Decimal("0.00"))
        # The panel's forms work only from this browser: bound to its fic_csrf cookie, made here
        # when it has none yet (the plugin's own pages would make it only on a first visit there).
        nonce = request.cookies.get(csrf.COOKIE) or csrf.new_nonce()
        with csrf.browser(nonce):
            panel = self._panel(order)
        response = self.render(
            "order.html", status, order=order, totals=totals, due=due, panel=panel,
            form_error=form_error, form=form or {"amount": str(due) if due else "", "method": order.payment_method},
            recorded=request.args.get("registrato"), event_failed=request.args.get("avviso") == "evento",
            refund_error=refund_error, refunded=request.args.get("rimborsato"),
        )
        if nonce != request.cookies.get(csrf.COOKIE):
            response.set_cookie(csrf.COOKIE, nonce, httponly=True, samesite="Strict", path="/",
                                secure=request.is_secure)
        return response

    def customer_order(self, request: Request, order_id: int, key: str) -> Response:
        """What the customer sees behind ``{order_url}``: the order, its state and its documents,
        each with a link to its PDF (the plugin's signed ``{document_url}``)."""
        from fic_plugin.web.public_link import document_url
        from fic_plugin.wording import document_name

        order = self.shop.shop_get_order(str(order_id))
        if order is None or not self.shop.customer_key_matches(order.id, key):
            return self.render("error.html", 404, message="Ordine non trovato: controlla il link ricevuto.",
                               status=404)
        context = self.pm.get_plugin("fic-core").context
        documents = [{"name": document_name(d), "date": d.date, "url": document_url(context, d.id)}
                     for d in self.shop.documents(order.id) if d.fic_id is not None]
        response = self.render("customer_order.html", order=order, totals=self.shop.totals(order),
                               documents=documents)
        response.headers["Cache-Control"] = "no-store"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    def payment_form(self, request: Request, order_id: int) -> Response:
        form = {"amount": request.form.get("amount", "").strip(), "method": request.form.get("method", "")}
        try:
            value = amount(form["amount"].replace(",", "."), "amount", places=2, minimum=Decimal("0"))
            if value == 0:
                raise InvalidInput(_("amount must be more than zero, like \"12.50\"."), field="amount")
            result = self.shop.record_payment(str(order_id), value, parse_method(form["method"], "method"))
        except InvalidInput as error:
            return self.order_page(request, order_id, status=400, form_error=error.message, form=form)
        target = f"/orders/{order_id}?registrato={result.payment.id}"
        if result.events_failed:
            target += "&avviso=evento"
        return redirect(target, code=303)

    def refund_form(self, request: Request, order_id: int) -> Response:
        """"Rimborsa": an amount, or a quantity for each line (empty = not refunded)."""
        order = self._order(order_id)
        form = request.form
        lines = [{"index": i, "qty": form.get(f"qty_{i}", "").strip().replace(",", ".")}
                 for i in range(len(order.lines)) if form.get(f"qty_{i}", "").strip()]
        body: dict[str, Any] = {"lines": lines} if lines else {"amount": form.get("amount", "").strip().replace(",", ".")}
        if form.get("reason", "").strip():
            body["reason"] = form["reason"].strip()
        try:
            record_refund(self.shop, str(order_id), body)
        except InvalidInput as error:
            return self.order_page(request, order_id, status=400, refund_error=error.message)
        return redirect(f"/orders/{order_id}?rimborsato=1", code=303)

    def _panel(self, order: Any) -> Markup | None:
        """The plugin's fragment, or None when it has nothing or fails (the page shows a notice)."""
        try:
            html = self.pm.hook.order_panel_render(order=order)
        except Exception:  # noqa: BLE001 - the shop page must render whatever the plugin does
            log.exception("order_panel_render failed for order %s", order.id)
            return None
        return Markup(html) if html else None

    def _order(self, order_id: int) -> Any:
        order = self.shop.shop_get_order(str(order_id))
        if order is None:
            raise OrderNotFound(_("Order {order_id} does not exist in the shop.").format(order_id=order_id),
                                order_id=str(order_id))
        return order

    # --- JSON API --------------------------------------------------------------------------------------

    def api_orders(self, request: Request) -> Response:
        if request.method == "GET":
            limit = min(max(request.args.get("limit", 100, type=int) or 100, 1), 500)
            offset = max(request.args.get("offset", 0, type=int) or 0, 0)
            orders = self.shop.orders(limit=limit, offset=offset)
            return _json({"orders": [order_json(self.shop, o, documents=False) for o in orders],
                          "total": self.shop.count_orders(), "limit": limit, "offset": offset})
        order = self.shop.create_order(parse_order(_body(request)))
        return _json({"id": order.id, "number": order.number, "url": self.shop.admin_order_url(order),
                      "customer_url": self.shop.shop_order_url(order)}, 201)

    def api_order(self, request: Request, order_id: int) -> Response:
        return _json(order_json(self.shop, self._order(order_id)))

    def api_payments(self, request: Request, order_id: int) -> Response:
        self._order(order_id)  # 404 before 400: a payment for no order is the bigger mistake
        value, method = parse_payment(_body(request))
        result = self.shop.record_payment(str(order_id), value, method)
        order = result.order
        return _json({
            "order_id": order.id, "payment": payment_json(result.payment), "amount_paid": str(order.amount_paid),
            "total": str(self.shop.totals(order).gross), "status": order.status,
            "paid_at": order.paid_at.isoformat() if order.paid_at else None,
            "became_paid": result.became_paid, "warnings": list(result.warnings),
        }, 201)


    def api_refunds(self, request: Request, order_id: int) -> Response:
        self._order(order_id)
        order, refund = record_refund(self.shop, str(order_id), _body(request))
        return _json({"order_id": order.id, "refund": refund_json(refund),
                      "refunds": [refund_json(r) for r in order.refunds]}, 201)


def _body(request: Request) -> Any:
    try:
        return json.loads(request.get_data(as_text=False) or b"")
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InvalidInput(_("The body is not valid JSON ({reason}): send a JSON object.").format(
            reason=getattr(error, "msg", "bad encoding")), field="body") from None
    except RecursionError:  # [[[[…]]]] 100,000 deep: Python's parser gives up, the request is bad
        raise InvalidInput(_("The body is not valid JSON ({reason}): send a JSON object.").format(
            reason=_("nested too deep")), field="body") from None


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data, ensure_ascii=False), status=status, mimetype="application/json")


def _same_origin(request: Request) -> bool:
    """Refuse form posts from other sites (a page elsewhere cannot record payments in the shop)."""
    origin = request.headers.get("Origin")
    if not origin or origin == "null":
        return origin is None
    return origin.rstrip("/") == request.host_url.rstrip("/")


def make_app(pm: pluggy.PluginManager, shop: DemoShop | None = None, *, mount_plugin: bool = True,
             public_url: str | None = None) -> Callable:
    """The demo's WSGI app; fic-plugin's own app is mounted at ``/fic/`` when it is installed.

    Everything is behind :class:`~fic_demo.guard.Guard` (Host names, no framing, a password when
    published at ``public_url`` / ``FIC_DEMO_PUBLIC_URL``)."""
    from .guard import Guard
    from .shop import PUBLIC_URL_ENV

    shop = shop or next((p for p in pm.get_plugins() if isinstance(p, DemoShop)), None)
    if shop is None:
        raise FicError(_("The demo app needs a DemoShop registered in the plugin manager."))
    app: Callable = ShopApp(pm, shop)
    fic_app = _plugin_app(pm) if mount_plugin else None
    if fic_app is not None:
        app = DispatcherMiddleware(app, {"/fic": fic_app})
    return Guard(app, public_url=public_url or os.environ.get(PUBLIC_URL_ENV))


def _plugin_app(pm: pluggy.PluginManager) -> Callable | None:
    from fic_plugin.plugin import CORE_NAME

    core = pm.get_plugin(CORE_NAME)
    if core is None:
        return None
    try:
        from fic_plugin.web.app import make_wsgi_app
    except ImportError:
        log.warning("fic_plugin.web.app is not available: the plugin's pages are not mounted at /fic/")
        return None
    return make_wsgi_app(core.context)
