"""The converters and validators of the settings' fields: what a value typed on the settings
screen or with ``fic settings set`` becomes, and why it is refused (in the owner's words)."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import attrs

from .errors import SettingsError
from .i18n import _
from .model import EU_COUNTRIES, VAT_SCOPES


def _rate_key(rate: Any) -> str:
    """Normalise a VAT rate to the mapping's key: ``22``, ``10``, ``5.5``, ``0``."""
    try:
        value = Decimal(str(rate).strip().rstrip("%").replace(",", "."))
    except Exception:
        raise SettingsError(_("vat_mapping: {rate!r} is not a VAT rate (write it like 22 or 10)").format(rate=rate),
                            field="vat_mapping") from None
    if not value.is_finite() or value < 0 or value > 100:
        raise SettingsError(_("vat_mapping: {rate!r} is not a VAT rate between 0 and 100").format(rate=rate),
                            field="vat_mapping")
    normalized = value.normalize()
    return format(normalized, "f")


def rate_key(rate: Any) -> str:
    """The key a VAT rate has in ``vat_mapping`` (public: payload and screens use it)."""
    return _rate_key(rate)


def vat_mapping_key(key: Any) -> str:
    """A ``vat_mapping`` key: a rate (``0``); a rate for customers of one area and a kind of
    supply (``0:IT``, ``0:EU-business:goods``, ``0:extra-EU:services`` …; ``0:EU`` and
    ``0:extra-EU`` are still read), which wins over the plain rate for them; or an OSS rate of
    an EU country (``19:DE``, ``20:FR``), used for the orders the shop marks as OSS sales."""
    rate, _sep, scope = str(key).partition(":")
    if not _sep:
        return _rate_key(rate)
    scopes = {s.lower(): s for s in VAT_SCOPES}
    cleaned = scope.strip().replace(" ", "")
    if cleaned.lower() in scopes:
        return f"{_rate_key(rate)}:{scopes[cleaned.lower()]}"
    if cleaned.upper() in EU_COUNTRIES and cleaned.upper() != "IT":
        return f"{_rate_key(rate)}:{cleaned.upper()}"
    raise SettingsError(_("vat_mapping: {key!r} names no customer area; after the rate write :IT, "
                          ":EU-business:goods, :EU-business:services, :extra-EU:goods, :extra-EU:services, "
                          "or an EU country for OSS (19:DE)").format(key=str(key)), field="vat_mapping")


def _convert_vat_mapping(value: Any) -> dict[str, int]:
    if value in (None, ""):
        return {}
    if isinstance(value, str):
        value = _parse_pairs(value, "vat_mapping")
    if not isinstance(value, dict):
        raise SettingsError(_("vat_mapping must map VAT rates to FiC VAT ids, like 22=0,10=3"), field="vat_mapping")
    result = {}
    for rate, vat_id in value.items():
        result[vat_mapping_key(rate)] = _positive_int(vat_id, f"vat_mapping.{rate}", allow_zero=True)
    return result


def _convert_payment_mapping(value: Any) -> dict[str, dict[str, int | None]]:
    if value in (None, ""):
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise SettingsError(
                'payment_mapping must be JSON like {"bank_transfer": {"payment_method_id": 1, '
                '"payment_account_id": 2}}',
                field="payment_mapping",
            ) from None
    if not isinstance(value, dict):
        raise SettingsError(_("payment_mapping must map shop payment methods to FiC ids"), field="payment_mapping")
    result: dict[str, dict[str, int | None]] = {}
    for method, target in value.items():
        if not isinstance(target, dict):
            raise SettingsError(
                _("payment_mapping.{method} must be an object with payment_method_id and payment_account_id").format(
                    method=method),
                field="payment_mapping",
            )
        unknown = set(target) - {"payment_method_id", "payment_account_id", "ei_payment_method"}
        if unknown:
            raise SettingsError(
                _("payment_mapping.{method}: unknown key {key!r} (use payment_method_id, payment_account_id and "
                  "ei_payment_method)").format(method=method, key=sorted(unknown)[0]),
                field="payment_mapping",
            )
        entry: dict[str, Any] = {
            key: (None if target.get(key) in (None, "") else _positive_int(target[key], f"payment_mapping.{method}.{key}"))
            for key in ("payment_method_id", "payment_account_id")
        }
        code = str(target.get("ei_payment_method") or "").strip().upper()
        if code:
            if not re.fullmatch(r"MP(0[1-9]|1[0-9]|2[0-3])", code):
                raise SettingsError(
                    _("payment_mapping.{method}.ei_payment_method: {code!r} is not a ModalitaPagamento; use MP01 "
                      "to MP23 (MP05 bank transfer, MP08 card, MP01 cash).").format(method=method, code=code),
                    field="payment_mapping")
            # Overrides the FiC payment method's own ei_payment_method on e-invoices.
            entry["ei_payment_method"] = code
        result[str(method)] = entry
    return result


def _parse_pairs(text: str, name: str) -> dict[str, str]:
    text = text.strip()
    if text.startswith("{"):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            raise SettingsError(_("{name}: not valid JSON").format(name=name), field=name) from None
        return parsed
    pairs = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        if "=" not in part:
            raise SettingsError(_("{name}: {part!r} should look like RATE=ID, e.g. 22=0").format(name=name, part=part),
                                field=name)
        key, _sep, val = part.partition("=")
        pairs[key.strip()] = val.strip()
    return pairs


def _positive_int(value: Any, name: str, allow_zero: bool = False) -> int:
    try:
        if isinstance(value, bool):
            raise ValueError
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise SettingsError(_("{name}: {value!r} is not a whole number").format(name=name, value=value),
                            field=name.split(".")[0]) from None
    if number < 0 or (number == 0 and not allow_zero):
        raise SettingsError(_("{name}: must be a positive number, not {number}").format(name=name, number=number),
                            field=name.split(".")[0])
    return number


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on", "si", "sì"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(_("{value!r} is not yes/no").format(value=value))


def _to_optional_int(value: Any) -> int | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        raise ValueError(_("not a number"))
    return int(str(value).strip())


def _to_str_list(value: Any) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",")]
    return [str(v).strip() for v in value if str(v).strip()]


def _numeration(value: Any) -> str:
    text = "" if value is None else str(value).strip()
    if not text:
        return ""
    if not text.startswith("/"):
        text = "/" + text
    if not re.fullmatch(r"/[A-Za-z0-9_-]{1,10}", text):
        raise ValueError(_("use letters and digits after a slash, like /A or /WEB (at most 10)"))
    return text


def _percent(value: Any) -> Decimal:
    """A percentage between 0 and 100 (``20``, ``"20,5"``); 0 means "off"."""
    if value in (None, ""):
        return Decimal("0")
    try:
        if isinstance(value, (bool, float)):
            raise ValueError
        number = Decimal(str(value).strip().rstrip("%").replace(",", "."))
    except Exception:
        raise ValueError(_("{value!r} is not a percentage: write it like 20 or 4").format(value=value)) from None
    if not number.is_finite() or not 0 <= number <= 100:
        raise ValueError(_("{value} is not between 0 and 100").format(value=value))
    return number.normalize() if number else Decimal("0")


#: FatturaPA TipoCassa codes (TC01 Cassa nazionale previdenza avvocati … TC22 INPS).
CASSA_TYPES = tuple(f"TC{n:02d}" for n in range(1, 23))
#: FatturaPA CausalePagamento of the ritenuta (A: professional services, the usual one).
WITHHOLDING_CAUSALS = ("A", "B", "C", "D", "E", "G", "H", "I", "L", "L1", "M", "M1", "M2", "N", "O", "O1",
                       "P", "Q", "R", "S", "T", "U", "V", "V1", "V2", "W", "X", "Y", "ZO")


def _cassa_type(value: Any) -> str:
    text = "" if value is None else str(value).strip().upper()
    if text and text not in CASSA_TYPES:
        raise ValueError(_("{value!r} is not a cassa type: use TC01 … TC22 (FatturaPA TipoCassa)").format(
            value=value))
    return text


def _withholding_causal(value: Any) -> str:
    text = "A" if value in (None, "") else str(value).strip().upper()
    if text not in WITHHOLDING_CAUSALS:
        raise ValueError(_("{value!r} is not a FatturaPA CausalePagamento (A, B, C … ZO)").format(value=value))
    return text


def _max_len(limit: int):
    def check(instance: Any, attribute: attrs.Attribute, value: str) -> None:
        if len(value) > limit:
            raise ValueError(_("at most {limit} characters, this has {length}").format(limit=limit, length=len(value)))

    return check


def _one_of(*choices: str):
    def check(instance: Any, attribute: attrs.Attribute, value: str) -> None:
        if value not in choices:
            raise ValueError(_("{value!r} is not one of: {choices}").format(value=value, choices=", ".join(choices)))

    check.choices = choices  # type: ignore[attr-defined]  # the settings screen offers these
    return check


def choices_of(field: attrs.Attribute) -> tuple[str, ...]:
    """The values a setting accepts when its validator names them (a select on the screen), else ()."""
    return getattr(field.validator, "choices", ())


def _pem_public_key(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    if not value:
        return
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        key = load_pem_public_key(value.encode())
    except ValueError:
        raise ValueError(_("not a public key in PEM form (-----BEGIN PUBLIC KEY-----)")) from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError(_("FiC signs webhooks with ES256: give its elliptic-curve (P-256) public key"))


def _at_least(minimum: int):
    def check(instance: Any, attribute: attrs.Attribute, value: int) -> None:
        if value < minimum:
            raise ValueError(_("at least {minimum}").format(minimum=minimum))

    return check


def _http_url(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    if not re.match(r"^https?://[^\s/]+", value or ""):
        raise ValueError(_("{value!r} is not an http(s) URL").format(value=value))


def is_loopback(host: str) -> bool:
    import ipaddress

    host = (host or "").strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _https_url(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    """The shop's token travels to this URL: https, or plain http to this machine only."""
    from urllib.parse import urlsplit

    _http_url(instance, attribute, value)
    if urlsplit(value).scheme != "https" and not is_loopback(urlsplit(value).hostname or ""):
        raise ValueError(_("{value!r}: the access token is sent there, so it must be https (plain http only to "
                           "this machine: 127.0.0.1 or localhost)").format(value=value))


def _port(instance: Any, attribute: attrs.Attribute, value: int) -> None:
    if not 1 <= value <= 65535:
        raise ValueError(_("{value} is not a port: give a number from 1 to 65535").format(value=value))
