"""manage.py fic_sync / fic_status / fic_migrate on the project's own context."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from conftest import pay, place_order
from fic_plugin.contrib import django as fic
from fic_plugin.errors import FicError
from shoptest import fic_documents

pytestmark = pytest.mark.django_db(transaction=True)


def test_fic_sync_once_issues_the_paid_orders_invoice_and_fic_status_tells(fic_site, sandbox, capsys):
    order = place_order(("Olio extravergine 1 L", "10.00", 1), fiscal={"tax_code": "RSSMRA85M01H501Q"})
    pay(order)
    fic.order_paid(order)  # outside atomic(): on_commit fires at once (autocommit)
    call_command("fic_sync", "--once")
    assert [d["type"] for d in fic_documents(sandbox)] == ["invoice"]

    capsys.readouterr()
    call_command("fic_status", order.number)  # the fic command's own output, on stdout
    printed = capsys.readouterr().out
    assert f"order {order.number}" in printed or f"ordine {order.number}" in printed.lower()
    assert "Fattura" in printed


def test_fic_migrate_creates_the_tables_and_names_the_database(fic_site, capsys):
    out = io.StringIO()
    call_command("fic_migrate", stdout=out)
    assert out.getvalue().startswith("fic-plugin tables in ")
    assert "fic.sqlite3" in out.getvalue() or "postgresql://" in out.getvalue()


def test_a_postgres_url_that_does_not_connect_is_a_clear_command_error(fic_site, settings):
    settings.FIC = {**settings.FIC, "DATABASE": "postgresql://postgres:s3cret@127.0.0.1:1/negozio"}
    with pytest.raises(CommandError, match="127.0.0.1:1") as error:
        call_command("fic_migrate")
    assert "s3cret" not in str(error.value)


def test_a_database_at_an_older_schema_says_to_run_fic_migrate(fic_site, settings, tmp_path):
    from fic_plugin.contrib.django.shop import get_context, reset

    settings.FIC = {**settings.FIC, "DATABASE": f"sqlite:///{tmp_path / 'empty.sqlite3'}"}
    reset()
    with pytest.raises(FicError, match="manage.py fic_migrate"):
        get_context()
