"""The texts a shop owner writes for emails and SMS: shortcodes, safe rendering, SMS length.

Owners write ``{customer_name}``; developers add shortcodes with the ``fic_shortcodes`` hook.
Owner text is never parsed as a template: it is split into literal pieces and shortcodes, and
only a skeleton of our own (``{{ _lit[0] }}{{ _v['customer_name'] }}...``) is rendered, in a
:class:`jinja2.sandbox.SandboxedEnvironment` with autoescape for HTML. So ``{{ ''.__class__ }}``
or ``{% for %}`` typed by an owner can never run; :func:`check_template` refuses them at save
with a readable reason anyway. FiC's own ``{{allegati}}`` placeholder (where FiC draws the
document buttons) passes through verbatim.
"""

from __future__ import annotations

import html as html_lib
import logging
import math
import re
from collections.abc import Mapping
from decimal import Decimal
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any, Protocol

import nh3
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from .errors import InvalidInput
from .formatting import format_money
from .i18n import _
from .model import WITH_ARTICLE, Customer, Document, Order
from .payload import expected_totals
from .settings import Settings
from .shortcodes import ALLEGATI, BUILTIN_SHORTCODES, TOKEN, check_template
from .signing import document_url

if TYPE_CHECKING:
    import pluggy

log = logging.getLogger(__name__)


class ShopContext(Protocol):
    """What the texts need of a shop (a :class:`fic_plugin.context.Context` is one): its plugins,
    for their shortcodes, its settings, and its store, whose secret signs ``{document_url}``. A
    protocol, so the texts sit below the context."""

    pm: Any
    settings: Any
    store: Any


#: The most a text may be once its shortcodes are filled: FiC takes an email body of 50 KiB, a
#: subject is one line, an SMS is sent in at most 10 parts (each billed).
MAX_RENDERED_BODY = 51_200
MAX_RENDERED_SUBJECT = 1_000
MAX_RENDERED_SMS = 1_600
MAX_SMS_PARTS = 10

#: Formatting tags an editor produces; everything else (scripts, handlers, styles) is dropped.
ALLOWED_TAGS = frozenset({
    "p", "br", "b", "strong", "i", "em", "u", "ul", "ol", "li", "a",
    "h1", "h2", "h3", "h4", "blockquote", "span",
})
ALLOWED_ATTRIBUTES = {"a": {"href"}}
URL_SCHEMES = frozenset({"http", "https", "mailto"})

_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")


# --- HTML ---------------------------------------------------------------------------------------------


def sanitize_html(text: str) -> str:
    """Keep the formatting an editor makes (bold, lists, links); drop scripts, handlers, styles."""
    return nh3.clean(text or "", tags=set(ALLOWED_TAGS), attributes=ALLOWED_ATTRIBUTES,
                     url_schemes=set(URL_SCHEMES), link_rel=None)


def html_to_text(text: str) -> str:
    """A plain-text twin of an HTML body, for mail clients that do not show HTML."""
    text = re.sub(r"(?i)<br\s*/?>", "\n", text or "")
    text = re.sub(r"(?i)</(p|h[1-4]|li|blockquote)>", "\n", text)
    text = re.sub(r"(?i)<li[^>]*>", "- ", text)
    plain = html_lib.unescape(nh3.clean(text, tags=set()))
    return re.sub(r"\n{3,}", "\n\n", plain).strip()


# --- values -------------------------------------------------------------------------------------------


def format_quantity(qty: Decimal) -> str:
    """``2`` for 2.000, ``0,5`` for 0.50: quantities as people write them."""
    text = format(Decimal(qty).normalize(), "f")
    return text.replace(".", ",")


def customer_name(customer: Customer) -> str:
    if customer.type == "person" and (customer.first_name or customer.last_name):
        return " ".join(p for p in (customer.first_name, customer.last_name) if p)
    return customer.name


def order_total(order: Order, settings: Settings | None = None) -> Decimal:
    """What the order costs the customer: its invoice's gross by docs/totals.md, read by the
    plugin's one totals function (``payload.expected_totals``), so rivalsa and cassa charged on
    top of the prices and a bollo the customer pays are in it, as at the shop's checkout."""
    return expected_totals(order, settings or Settings()).amount_gross


def builtin_values(order: Order, document: Document | None, *, shop_name: str = "",
                   order_url: str = "", settings: Settings | None = None) -> dict[str, str]:
    """The built-in shortcodes for ``order`` (and ``document`` when there is one), as text;
    ``settings`` are the shop's (its totals rules), the defaults without a shop."""
    # "x", not "×": the sign is outside GSM-7 and would turn every SMS with {products} into
    # UCS-2, 70 characters a part instead of 160.
    products = ", ".join(f"{format_quantity(line.qty)} x {line.name}"
                         for line in order.lines if line.kind in ("goods", "service"))
    values = {
        "customer_name": customer_name(order.customer),
        "customer_email": order.customer.email or "",
        "order_number": order.number,
        "order_url": order_url or "",
        "order_total": format_money(order_total(order, settings), order.currency),
        "order_date": order.created_at.strftime("%d/%m/%Y") if order.created_at else "",
        "products": products,
        "document_type": "",
        "document_with_article": "",
        "document_number": "",
        "document_date": "",
        "document_total": "",
        "document_url": "",
        "shop_name": shop_name or "",
    }
    if document is not None:
        values.update({
            "document_type": document.type_label,
            "document_with_article": WITH_ARTICLE.get(document.type, document.type_label),
            "document_number": document.full_number,
            "document_date": document.date.strftime("%d/%m/%Y") if document.date else "",
            "document_total": format_money(document.amount_due, document.currency)
            if document.amount_due is not None else values["order_total"],
        })
    return values


def plugin_values(pm: pluggy.PluginManager, order: Order, document: Document | None) -> dict[str, str]:
    """Shortcodes added by plugins; a plugin cannot replace a built-in one (it is ignored)."""
    values: dict[str, str] = {}
    for answer in pm.hook.fic_shortcodes(order=order, document=document):
        for name, value in (answer or {}).items():
            if name in BUILTIN_SHORTCODES:
                log.warning("A plugin tried to replace the built-in shortcode {%s}: ignored", name)
            elif not _IDENTIFIER.match(str(name)):
                log.warning("A plugin returned the shortcode name %r: use letters, digits and _", name)
            else:
                values.setdefault(str(name), "" if value is None else str(value))
    return values


def shortcode_values(context: ShopContext | None, order: Order, document: Document | None) -> dict[str, str]:
    """Every shortcode for ``order``: built-ins (shop name from settings, URL from the shop), then
    the plugins' ones."""
    if context is None:
        return builtin_values(order, document)
    url = context.pm.hook.shop_order_url(order=order) or ""
    values = builtin_values(order, document, shop_name=context.settings.shop_name, order_url=url,
                            settings=context.settings)
    if document is not None and document.id is not None:
        values["document_url"] = document_url(context, document.id)
    return {**plugin_values(context.pm, order, document), **values}


def _sample_order() -> Order:
    return Order(id="0", number="0", customer=Customer(name="Mario Rossi"), lines=())


def known_shortcodes(pm: pluggy.PluginManager | None) -> list[str]:
    """Built-in names plus the ones plugins add, found by asking them about a sample order."""
    names = list(BUILTIN_SHORTCODES)
    if pm is None:
        return names
    try:
        extra = plugin_values(pm, _sample_order(), None)
    except Exception:  # a plugin that cannot handle the sample must not block saving texts
        log.exception("A fic_shortcodes plugin failed on a sample order; its shortcodes are unknown")
        return names
    return names + [n for n in extra if n not in names]


# --- rendering ----------------------------------------------------------------------------------------


@cache
def _environment(html: bool) -> SandboxedEnvironment:
    return SandboxedEnvironment(autoescape=html)


@lru_cache(maxsize=256)
def _compiled(html: bool, skeleton: str) -> Any:
    """The skeleton of a text compiled once: compiling it took more CPU than the rest of an
    invoice's work, and a shop sends the same few texts again and again."""
    return _environment(html).from_string(skeleton)


def render(text: str, order: Order, document: Document | None, *, html: bool,
           context: ShopContext | None = None, values: Mapping[str, Any] | None = None,
           field: str = "text") -> str:
    """Fill the shortcodes of ``text`` for ``order``; with ``html`` the text is sanitised and the
    values escaped. ``{{allegati}}`` stays as it is. Unknown shortcodes raise InvalidInput."""
    if values is None:
        values = shortcode_values(context, order, document)
    check_template(text, field, extra=values)
    source = sanitize_html(text) if html else text
    if source != text:
        # Entities decoded by the sanitiser (&#123;name&#125;) must not smuggle in a shortcode.
        check_template(source, field, extra=values)
    _check_rendered_size(source, values, field, html, order)
    skeleton: list[str] = []
    literals: list[Any] = []

    def literal(piece: str) -> None:
        if piece:
            literals.append(Markup(piece) if html else piece)
            skeleton.append(f"{{{{ _lit[{len(literals) - 1}] }}}}")

    position = 0
    for match in TOKEN.finditer(source):
        literal(source[position:match.start()])
        if match.group(1):
            literal(ALLEGATI)
        else:
            skeleton.append(f"{{{{ _v['{match.group(2)}'] }}}}")
        position = match.end()
    literal(source[position:])
    template = _compiled(html, "".join(skeleton))
    rendered = template.render(_lit=literals, _v={k: str(v) for k, v in values.items()})
    if html:
        # Sanitised again once filled: a customer named "javascript:alert(1)//" in an href, or
        # any markup a value brings, is dropped here (escaping alone keeps the scheme).
        rendered = sanitize_html(rendered)
    if field == "sms_text":
        encoding, length, parts = sms_parts(rendered)
        if parts > MAX_SMS_PARTS:
            raise InvalidInput(_("The SMS for order {order} would be {parts} SMS ({length} characters, {encoding}): "
                                 "at most {limit} are sent. Shorten the text or use fewer shortcodes.").format(
                order=order.number, parts=parts, length=length, encoding=encoding, limit=MAX_SMS_PARTS),
                field=field, order_id=order.id)
    return rendered


def _check_rendered_size(source: str, values: Mapping[str, Any], field: str, html: bool, order: Order) -> None:
    """Refuse before rendering a text that would be too long once filled ({products} × 200 on
    a 500-line order is 50 MB): the estimate is the text plus each shortcode's value per use."""
    limit = MAX_RENDERED_BODY if html else MAX_RENDERED_SUBJECT if "subject" in field else MAX_RENDERED_SMS
    fills = [len(str(values.get(m.group(2), ""))) if m.group(2) else len(ALLEGATI) for m in TOKEN.finditer(source)]
    size = len(TOKEN.sub("", source)) + sum(fills)
    if size > limit:
        raise InvalidInput(_("The {field} for order {order} would be {size} characters once its shortcodes are "
                             "filled, more than the {limit} allowed: shorten it or use fewer shortcodes (like "
                             "{{products}} on a long order).").format(
            field=field, order=order.number, size=f"{size:,}".replace(",", "."), limit=f"{limit:,}".replace(",", ".")),
            field=field, order_id=order.id)


def preview(context: ShopContext, order: Order, document: Document | None, *, subject: str | None = None,
            body: str | None = None, sms_text: str | None = None,
            known: Mapping[str, str] | None = None) -> dict[str, Any]:
    """What the send screen shows: the subject, body and SMS as the customer will read them.

    ``known`` replaces values not known yet (a scheduled send's number, given by FiC later)."""
    settings = context.settings
    values = {**shortcode_values(context, order, document), **(known or {})}
    sms = render(sms_text if sms_text is not None else settings.sms_text, order, document,
                 html=False, values=values, field="sms_text")
    encoding, length, parts = sms_parts(sms)
    return {
        "subject": render(subject if subject is not None else settings.email_subject, order, document,
                          html=False, values=values, field="email_subject"),
        "body": render(body if body is not None else settings.email_body, order, document,
                       html=True, values=values, field="email_body"),
        "sms_text": sms,
        "sms": {"encoding": encoding, "length": length, "parts": parts, "warning": sms_warning(sms)},
    }


# --- SMS length ---------------------------------------------------------------------------------------

# GSM 03.38 default alphabet; the extension table's characters take two septets each.
_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")


def sms_parts(text: str) -> tuple[str, int, int]:
    """``(encoding, length, parts)``: GSM-7 fits 160 characters in one SMS (153 per part when
    concatenated); one character outside it (an emoji, ``ł``) makes the whole text UCS-2, 70
    per SMS (67 per part). Length counts septets (GSM-7) or UTF-16 units (UCS-2)."""
    text = text or ""
    if all(c in _GSM7_BASIC or c in _GSM7_EXTENSION for c in text):
        length = sum(2 if c in _GSM7_EXTENSION else 1 for c in text)
        single, part = 160, 153
        encoding = "GSM-7"
    else:
        length = len(text.encode("utf-16-le")) // 2
        single, part = 70, 67
        encoding = "UCS-2"
    if length == 0:
        return encoding, 0, 0
    return encoding, length, 1 if length <= single else math.ceil(length / part)


def sms_warning(text: str) -> str | None:
    """A warning when ``text`` needs more than one SMS (each part is billed), else ``None``."""
    encoding, length, parts = sms_parts(text)
    if parts <= 1:
        return None
    limit = 160 if encoding == "GSM-7" else 70
    return _("This SMS has {length} characters ({encoding}, at most {limit} per SMS): it will be sent "
             "as {parts} SMS, each billed.").format(length=length, encoding=encoding, limit=limit, parts=parts)
