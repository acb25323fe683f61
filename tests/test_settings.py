import pytest

from fic_plugin.errors import SettingsError
from fic_plugin.settings import Settings, describe, load_settings, update_settings
from fic_plugin.store import Store


@pytest.fixture
def store(tmp_path):
    store = Store(tmp_path / "shop.db")
    store.migrate()
    return store


def test_defaults_match_the_seed(store):
    settings = load_settings(store)
    assert settings.rivalsa_inps is False and settings.stamp_duty is False and settings.auto_invoice is False
    assert settings.auto_document_type == "invoice"
    assert "[DOCUMENTO]" not in settings.email_subject  # the template's name is not its subject


def test_values_are_converted_and_stored(store):
    update_settings(store, {"rivalsa_inps": "yes", "numeration": "A", "vat_mapping": "22=0,10=3,4%=4",
                            "payment_mapping": '{"card": {"payment_method_id": 5, "payment_account_id": 2}}'})
    settings = load_settings(store)
    assert settings.rivalsa_inps is True
    assert settings.numeration == "/A"
    assert settings.vat_mapping == {"22": 0, "10": 3, "4": 4}
    assert settings.payment_mapping == {"card": {"payment_method_id": 5, "payment_account_id": 2}}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"rivalsa_inps": "maybe"}, "rivalsa_inps"),
        ({"numeration": "/A B C"}, "numeration"),
        ({"vat_mapping": "22=abc"}, "vat_mapping"),
        ({"vat_mapping": "150=1"}, "vat_mapping"),
        ({"auto_document_type": "letter"}, "auto_document_type"),
        ({"payment_mapping": "{not json"}, "payment_mapping"),
        ({"smtp_port": "twenty"}, "smtp_port"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_invalid_values_name_the_setting_and_write_nothing(store, changes, field):
    before = store.raw_settings()
    with pytest.raises(SettingsError) as error:
        update_settings(store, {"default_notes": "changed", **changes})
    assert error.value.field == field
    assert field in str(error.value)
    assert store.raw_settings() == before


def test_secrets_never_appear_in_settings_or_dumps(store):
    update_settings(store, {"fic_access_token": "a/secret-token-xyz", "smtp_password": "hunter2"})
    assert store.get_secret("fic_access_token") == "a/secret-token-xyz"
    dump = repr(describe(load_settings(store), store)) + repr(store.raw_settings())
    assert "secret-token-xyz" not in dump and "hunter2" not in dump
    assert {"key": "fic_access_token", "value": "(set)"}.items() <= next(
        r for r in describe(load_settings(store), store) if r["key"] == "fic_access_token").items()


def test_every_setting_has_an_italian_label_and_help():
    for field in Settings.fields():
        assert field.metadata.get("label"), field.name
        assert field.metadata.get("help"), field.name


def test_vat_mapping_keys_may_name_a_customer_area(store):
    update_settings(store, {"vat_mapping": "22=0, 0=6, 0:eu=28, 0.0:Extra-EU=23"})
    assert load_settings(store).vat_mapping == {"22": 0, "0": 6, "0:EU": 28, "0:extra-EU": 23}
    with pytest.raises(SettingsError) as error:
        update_settings(store, {"vat_mapping": "0:Mars=1"})
    assert "'0:Mars'" in str(error.value) and ":extra-EU" in str(error.value)
    assert error.value.field == "vat_mapping"
    assert load_settings(store).vat_mapping["0:EU"] == 28, "a refused change writes nothing"
