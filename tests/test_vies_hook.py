"""The VIES check is the host's: ``fic_vat_number_valid`` answers, the plugin calls no network."""

from __future__ import annotations

import pytest

from fic_plugin import hookimpl
from fic_plugin.documents import Documents
from fic_plugin.errors import InvalidInput
from fic_plugin.model import Customer, Line
from fic_plugin.settings import update_settings
from shoptest import fic_documents, make_order

pytestmark = pytest.mark.usefixtures("english")

FEINKOST = Customer(name="Feinkost Müller GmbH", type="company", vat_number="DE 136 695 976", country_iso="DE",
                    address_street="Hauptstraße 1", address_postal_code="10115", address_city="Berlin")


class Vies:
    def __init__(self, answer):
        self.answer, self.asked = answer, []

    @hookimpl
    def fic_vat_number_valid(self, country_iso, vat_number):
        self.asked.append((country_iso, vat_number))
        return self.answer


@pytest.fixture
def vies(fic):
    plugins = []

    def register(answer):
        plugin = Vies(answer)
        fic.pm.register(plugin)
        plugins.append(plugin)
        return plugin

    yield register
    for plugin in plugins:
        if fic.pm.is_registered(plugin):
            fic.pm.unregister(plugin)


def eu_order(shop):
    return shop.add(make_order("1", customer=FEINKOST, lines=(Line("Olio", "10", "8.50", "0"),)))


def test_hook_fic_vat_number_valid(fic, shop, sandbox, vies):
    update_settings(fic.store, {"vat_mapping": {**fic.settings.vat_mapping, "0:EU-business:goods": 28}})
    eu_order(shop)
    refusing = vies(False)
    with pytest.raises(InvalidInput) as error:
        Documents(fic).create("1", "invoice")
    assert refusing.asked == [("DE", "DE136695976")]
    assert error.value.field == "customer.vat_number" and "VIES" in error.value.message
    assert fic.store.documents() == [] and fic_documents(sandbox) == []
    fic.pm.unregister(refusing)
    confirming = vies(True)
    document = Documents(fic).create("1", "invoice")
    assert confirming.asked and document.fic_id
    [remote] = fic_documents(sandbox)
    assert remote["items_list"][0]["vat"]["id"] == 28  # N3.2: goods to an EU business


def test_no_answer_means_the_plugin_does_not_know_and_goes_on(fic, shop, sandbox, vies):
    update_settings(fic.store, {"vat_mapping": {**fic.settings.vat_mapping, "0:EU-business:goods": 28}})
    eu_order(shop)
    silent = vies(None)
    assert Documents(fic).create("1", "invoice").fic_id
    assert silent.asked == [("DE", "DE136695976")]


def test_not_asked_for_customers_who_are_not_eu_businesses(fic, shop, sandbox, vies):
    shop.add(make_order("1"))
    asked = vies(False)
    assert Documents(fic).create("1", "invoice").fic_id
    assert asked.asked == []
