"""The orders a brand-new demo shop starts with: the cases an Italian shop meets every week.

A company with Partita IVA and SDI code, a private customer with only a codice fiscale, an EU
company (intra-community supply, 0%), an American consumer (export, 0%), food at 4% and 10%,
wine and kitchenware at 22%, a discount, shipping, prices including VAT, and one order paid,
one partly paid. The identifiers are made up but pass their check digits.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from fic_plugin.model import Customer, Line

from .validate import NewOrder

if TYPE_CHECKING:
    from .shop import DemoShop

OLIO = ("Olio extravergine di oliva 1 L", "OLIO-1L", "4")
PASTA = ("Pasta di Gragnano 500 g", "PASTA-500", "4")
LIBRO = ("Libro: I Promessi Sposi", "LIB-PROMESSI", "4")
MIELE = ("Miele di acacia 500 g", "MIELE-500", "10")
PROSCIUTTO = ("Prosciutto di Parma DOP 200 g", "PARMA-200", "10")
VINO = ("Vino Chianti Classico DOCG 75 cl", "CHIANTI-75", "22")
CAFFE = ("Caffè macinato 250 g", "CAFFE-250", "22")
MOKA = ("Moka per caffè 3 tazze", "MOKA-3", "22")


def _line(product: tuple[str, str, str], qty: str, price: str, discount: str = "0", vat: str | None = None) -> Line:
    name, code, rate = product
    return Line(name=name, code=code, qty=qty, unit_price=price, vat_rate=vat or rate, discount=discount)


def demo_orders() -> list[tuple[NewOrder, int, list[tuple[str, str, int]]]]:
    """(order, days ago, payments as (amount, method, days ago)); a payment of "all" pays the total."""
    rossi = Customer(
        name="Rossi Forniture S.r.l.", type="company", vat_number="01234567897", tax_code="01234567897",
        email="amministrazione@rossiforniture.example", pec="rossiforniture@pec.example", sdi_code="M5UXCR1",
        phone="+390212345678", address_street="Via Torino 12", address_postal_code="20123",
        address_city="Milano", address_province="MI", country_iso="IT")
    bianchi = Customer(
        name="Laura Bianchi", type="person", first_name="Laura", last_name="Bianchi", tax_code="BNCLRA90D45F205B",
        email="laura.bianchi@example.it", phone="+393331234567", address_street="Corso Buenos Aires 5",
        address_postal_code="20124", address_city="Milano", address_province="MI", country_iso="IT")
    muller = Customer(
        name="Feinkost Müller GmbH", type="company", vat_number="DE123456788", email="einkauf@feinkost-mueller.example",
        address_street="Friedrichstraße 100", address_postal_code="10117", address_city="Berlin", country_iso="DE")
    johnson = Customer(
        name="Emily Johnson", type="person", first_name="Emily", last_name="Johnson", email="emily.johnson@example.com",
        phone="+12125550123", address_street="350 Fifth Avenue", address_postal_code="10118",
        address_city="New York", address_province="NY", country_iso="US")
    verdi = Customer(
        name="Giuseppe Verdi", type="person", first_name="Giuseppe", last_name="Verdi", tax_code="VRDGPP80A01F205X",
        email="giuseppe.verdi@example.it", phone="+393471234567", address_street="Via Roma 1",
        address_postal_code="43011", address_city="Busseto", address_province="PR", country_iso="IT")
    return [
        (NewOrder(customer=rossi, shipping=Decimal("9.90"), payment_method="bank_transfer", lines=(
            _line(OLIO, "12", "8.90"), _line(VINO, "6", "14.50", discount="10"), _line(PROSCIUTTO, "4", "5.20"),
        )), 6, [("all", "bank_transfer", 5)]),
        (NewOrder(customer=bianchi, shipping=Decimal("5.90"), payment_method="bank_transfer", lines=(
            _line(PASTA, "10", "1.80"), _line(LIBRO, "1", "12.00"), _line(CAFFE, "2", "6.50"),
        )), 4, [("20.00", "bank_transfer", 3)]),
        # Intra-community supply to a VAT-registered company: non imponibile (art. 41 DL 331/1993).
        (NewOrder(customer=muller, shipping=Decimal("25.00"), payment_method="bank_transfer", lines=(
            _line(OLIO, "24", "8.50", vat="0"), _line(MIELE, "12", "7.00", vat="0"),
        )), 3, []),
        # Goods shipped outside the EU: export, non imponibile (art. 8 DPR 633/1972).
        (NewOrder(customer=johnson, shipping=Decimal("19.00"), payment_method="paypal", lines=(
            _line(VINO, "3", "15.00", vat="0"), _line(LIBRO, "1", "12.00", vat="0"),
        )), 2, []),
        # A consumer shop shows prices with VAT included; FiC gets use_gross_prices.
        (NewOrder(customer=verdi, shipping=Decimal("4.90"), payment_method="card", prices_include_vat=True, lines=(
            _line(MOKA, "1", "29.90"), _line(CAFFE, "2", "7.90"), _line(MIELE, "1", "9.50"),
        )), 1, []),
    ]


def seed_orders(shop: DemoShop) -> None:
    """Add the demo orders. Called once, inside the transaction that creates the tables."""
    now = datetime.now().replace(microsecond=0)
    for new, days_ago, payments in demo_orders():
        order = shop.create_order(new, created_at=now - timedelta(days=days_ago, hours=2))
        for amount, method, paid_days_ago in payments:
            value = shop.totals(order).to_pay if amount == "all" else Decimal(amount)
            shop.record_payment(order.id, value, method, now - timedelta(days=paid_days_ago), fire=False)
