"""A real Oscar 4.2 project for fic-plugin's Django and Oscar integration tests.

Django is configured here, when pytest collects this folder, and nowhere else: the rest of the
suite never sees Django settings (``pytest tests/test_web.py`` does not even import Django).
"""

from __future__ import annotations

import atexit
import gc
import io
import os
import secrets
import shutil
from decimal import Decimal
from urllib.parse import urlsplit

import django
import pytest
from django.conf import settings

from shoptest import SANDBOX_PAYMENT_MAPPING, SANDBOX_VAT_MAPPING, TEST_TOKEN, sandbox_call

#: ``FIC_TEST_DJANGO_DATABASE=postgres`` runs the project on PostgreSQL (FIC_TEST_POSTGRES_URL), in a
#: test database of its own that Django creates and drops; test_postgres.py runs it that way.
ON_POSTGRES = os.environ.get("FIC_TEST_DJANGO_DATABASE") == "postgres"

#: The outbox tests need the shop's PostgreSQL database: test_postgres.py runs them there.
collect_ignore = [] if ON_POSTGRES else ["test_outbox.py"]

if not settings.configured:
    from oscar_site import settings as site_settings

    values = {name: value for name, value in vars(site_settings).items() if name.isupper()}
    if ON_POSTGRES:
        url = urlsplit(os.environ.get("FIC_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"))
        values["DATABASES"] = {"default": {
            "ENGINE": "django.db.backends.postgresql", "NAME": url.path.lstrip("/") or "postgres",
            "USER": url.username or "", "PASSWORD": url.password or "", "HOST": url.hostname or "127.0.0.1",
            "PORT": url.port or 5432, "TEST": {"NAME": os.environ.get("FIC_TEST_DJANGO_DB_NAME") or f"fic_django_{secrets.token_hex(4)}"}}}
    settings.configure(**values)
    django.setup()
    # The project's temporary folder (its SQLite files), gone when the test process ends.
    atexit.register(shutil.rmtree, values["DATA"], True)


@pytest.fixture(scope="session")
def plugin_connections_closed(django_db_setup):
    """Torn down before Django drops its test database: no connection of the plugin keeps it open."""
    yield
    from fic_plugin.contrib.django.shop import reset

    reset()
    gc.collect()  # contexts replaced by a settings change close their connections when collected


@pytest.fixture
def fic_site(settings, tmp_path, sandbox, monkeypatch, plugin_connections_closed):
    """The project connected to a freshly reset sandbox, with its own plugin database."""
    sandbox_call(sandbox, "POST", "/__sandbox__/reset")
    sandbox_call(sandbox, "DELETE", "/__sandbox__/faults")
    for name in ("FIC_API_URL", "FIC_ACCESS_TOKEN", "FIC_COMPANY_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FIC_RATE_HOURLY", "1000000")
    monkeypatch.setenv("FIC_RATE_SHORT_TERM", "1000000")
    monkeypatch.setenv("FIC_TIMEOUT_READ", "1.5")
    schema = f"fic_{secrets.token_hex(4)}"
    settings.FIC = {
        **settings.FIC,
        # On PostgreSQL the plugin's tables go in the shop's own (test) database, a schema per test.
        "DATABASE": "default" if ON_POSTGRES else f"sqlite:///{tmp_path / 'fic.sqlite3'}",
        "SCHEMA": schema if ON_POSTGRES else None,
        "API_URL": sandbox.url, "ACCESS_TOKEN": TEST_TOKEN, "COMPANY_ID": 1,
        "VAT_MAPPING": SANDBOX_VAT_MAPPING,
        "PAYMENT_MAPPING": {**SANDBOX_PAYMENT_MAPPING, "carta": {"payment_method_id": 2, "payment_account_id": 2}},
        "SETTINGS": {"auto_invoice": True, "shop_name": "Bottega Oscar"},
    }
    from django.core.management import call_command

    from fic_plugin.contrib.django.shop import get_context, reset

    call_command("fic_migrate", stdout=io.StringIO())  # as a deployment does
    yield get_context()
    sandbox_call(sandbox, "DELETE", "/__sandbox__/faults")
    reset()
    if ON_POSTGRES:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def staff(django_user_model):
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user(username="anna", email="anna@example.it", password="pw",
                                                 is_staff=True)
    # Oscar's dashboard staff: sees and changes orders (which is what FIC["PERMISSION"] asks here).
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="order",
                                                         codename__in=("view_order", "change_order")))
    return user


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def italian_vat_strategy(rate: str = "0.22"):
    from oscar.apps.partner import strategy

    class ItalianVat(strategy.UseFirstStockRecord, strategy.StockRequired, strategy.FixedRateTax,
                     strategy.Structured):
        pass

    policy = ItalianVat()
    policy.rate = Decimal(rate)
    return policy


def place_order(*items: tuple[str, str, int], shipping: tuple[str, str] | None = ("5.00", "6.10"),
                fiscal: dict | None = None, currency: str = "EUR"):
    """An Oscar order placed from a basket, as checkout does: ``items`` are (title, price excl. VAT, qty)."""
    from oscar.apps.shipping.methods import FixedPrice, Free
    from oscar.core.loading import get_model
    from oscar.test import factories

    Basket = get_model("basket", "Basket")
    basket = Basket.objects.create()
    basket.strategy = italian_vat_strategy()
    for title, price, qty in items:
        product = factories.create_product(title=title, price=Decimal(price), num_in_stock=100)
        basket.add_product(product, quantity=qty)
    method = FixedPrice(Decimal(shipping[0]), Decimal(shipping[1])) if shipping else Free()
    method.name = "Corriere espresso"
    country = get_model("address", "Country").objects.get_or_create(
        iso_3166_1_a2="IT", defaults={"name": "Italia", "printable_name": "Italia"})[0]
    billing = get_model("order", "BillingAddress").objects.create(
        first_name="Maria", last_name="Bianchi", line1="Via Garibaldi 3", line4="Torino",
        state="TO", postcode="10122", country=country)
    order = factories.create_order(basket=basket, shipping_method=method, billing_address=billing,
                                   guest_email="maria.bianchi@example.it", currency=currency)
    if fiscal is not None:
        from fic_plugin.contrib.oscar.models import OrderFiscalData

        OrderFiscalData.objects.create(order=order, **fiscal)
    return order


def pay(order, amount=None, code: str = "carta"):
    """Payment as Oscar's checkout records it: a source with a debit transaction."""
    from oscar.core.loading import get_model

    SourceType = get_model("payment", "SourceType")
    Source = get_model("payment", "Source")
    source_type = SourceType.objects.get_or_create(code=code, defaults={"name": code.title()})[0]
    source = Source.objects.create(order=order, source_type=source_type, amount_allocated=order.total_incl_tax)
    source.debit(amount if amount is not None else order.total_incl_tax)
    return source
