"""FiC's issued-document endpoints: list, create, get, modify, delete (to the bin), totals, info,
transform and join, with FiC's numbering, validation and payment rules."""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Request, Response

from . import documents, events, jsonio, seeds
from .query import only_fields, paginate, parse_q, sort_rows
from .responses import ApiError, data, json_response, validation
from .state import NumberTaken

LIST_FILTER_FIELDS = ("id", "type", "subject", "visible_subject", "number", "numeration", "date", "year",
                      "entity.name", "entity.vat_number", "entity.tax_code", "entity.email", "amount_net",
                      "amount_gross", "ei_status", "next_due_date")
#: With the SdI or issued for the tax office: FiC refuses to delete them and takes only payments.
LOCKING_EI_STATUSES = ("attempt", "sent", "pending", "processing", "accepted", "manual_accepted", "no_response",
                       "not_delivered")


def base_url(request: Request) -> str:
    return request.host_url.rstrip("/")


def read_body(request: Request) -> dict:
    """The JSON body as a dict (Decimals for numbers); a 422 like FiC's when it is not."""
    try:
        body = jsonio.loads(request.get_data() or b"{}")
    except (ValueError, RecursionError):  # RecursionError: nested 100,000 deep
        raise ApiError(422, "Il corpo della richiesta non è JSON valido.") from None
    if not isinstance(body, dict):
        raise ApiError(422, "Il corpo della richiesta deve essere un oggetto JSON.")
    return body


def live_document(sandbox: Any, document_id: int) -> dict:
    row = sandbox.state.get_document(document_id)
    if row is None:
        raise ApiError(404, f"Il documento {document_id} non esiste.", code="NOT_FOUND")
    return row


def _clash(error: NumberTaken, body: dict) -> ApiError:
    numeration = f" con numerazione {body['numeration']!r}" if body["numeration"] else ""
    return ApiError(409, f"Il numero {body['number']}{numeration} è già presente per il {body['year']} "
                    f"(documento {error.args[0]}).", code="DUPLICATE_NUMBER",
                    validation_result={"data.number": ["numero già utilizzato"]})


def announce(sandbox: Any, document_type: str, action: str, document_id: int) -> None:
    """Tell the webhook subscribers, as FiC does for every change (ours or by hand)."""
    sandbox.webhooks.emit(events.document_event(document_type, action), [document_id])


def list_documents(sandbox: Any, request: Request, cid: int) -> Response:
    args = request.args.to_dict()
    doc_type = args.get("type")
    if not doc_type:
        raise validation("type", "Il parametro type è obbligatorio.")
    if doc_type not in documents.DOCUMENT_TYPES:
        raise validation("type", f"Il tipo di documento {doc_type!r} non è valido.")
    url = base_url(request)
    rows = [documents.render(row, row["body"], url, cid, "detailed") for row in sandbox.state.documents(doc_type)]
    if args.get("q"):
        rows = [row for row in rows if parse_q(args["q"], LIST_FILTER_FIELDS)(row)]
    rows = sort_rows(rows, args.get("sort"))
    if args.get("fieldset", "basic") == "basic" and not args.get("fields"):
        for row in rows:
            row["items_list"] = row["payments_list"] = None
    rows = [only_fields(row, args.get("fields")) for row in rows]
    return json_response(paginate(rows, args, url, request.path))


def create_document(sandbox: Any, request: Request, cid: int) -> Response:
    payload = read_body(request)
    options = payload.get("options") or {}
    body = documents.normalise(payload.get("data"))
    documents.check_payments(body, bool(options.get("fix_payments")))
    create_from = [str(i) for i in options.get("create_from") or []]
    with sandbox.state.lock:
        originals = [live_document(sandbox, _int_id(i)) for i in create_from]
        try:
            row = sandbox.state.insert_document(body, create_from or None)
        except NumberTaken as error:
            raise _clash(error, body) from None
        if create_from and options.get("keep_copy") is False:
            for original in originals:
                if not original["locked"] and original["ei_status"] not in LOCKING_EI_STATUSES:
                    sandbox.state.set_deleted(original["id"], True)
                    announce(sandbox, original["body"]["type"], "delete", original["id"])
    announce(sandbox, body["type"], "create", row["id"])
    return data(documents.render(row, row["body"], base_url(request), cid))


def _int_id(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise validation("options.create_from", f"L'id {value!r} in create_from non è valido.") from None


def get_document(sandbox: Any, request: Request, cid: int, document_id: int) -> Response:
    row = live_document(sandbox, document_id)
    document = documents.render(row, row["body"], base_url(request), cid, request.args.get("fieldset", "detailed"))
    return data(only_fields(document, request.args.get("fields")))


def _refuse_if_locked(row: dict, action: str) -> None:
    if row["locked"]:
        raise ApiError(409, f"Il documento {row['id']} è bloccato e non può essere {action}.", code="LOCKED")
    if row["ei_status"] in LOCKING_EI_STATUSES:
        raise ApiError(409, f"Il documento {row['id']} è una fattura elettronica già inviata allo SDI "
                       f"(stato {row['ei_status']}) e non può essere {action}.", code="E_INVOICE_SENT")


def modify_document(sandbox: Any, request: Request, cid: int, document_id: int) -> Response:
    payload = read_body(request)
    changes = payload.get("data")
    if isinstance(changes, dict) and "number" in changes and changes["number"] is None:
        changes = {key: value for key, value in changes.items() if key != "number"}  # null keeps the number
    options = payload.get("options") or {}
    with sandbox.state.lock:
        row = live_document(sandbox, document_id)
        if isinstance(changes, dict) and (row["locked"] or row["ei_status"] in LOCKING_EI_STATUSES):
            # A locked document only takes payments: that is how a shop records that it was paid.
            touched = {key for key, value in changes.items()
                       if key not in documents.READ_ONLY and key != "payments_list" and row["body"].get(key) != value}
            if touched:
                _refuse_if_locked(row, "modificato")
        body = documents.normalise(changes, row["body"])
        documents.check_payments(body, bool(options.get("fix_payments")))
        try:
            row = sandbox.state.update_document(document_id, body)
        except NumberTaken as error:
            raise _clash(error, body) from None
    announce(sandbox, body["type"], "update", document_id)
    return data(documents.render(row, row["body"], base_url(request), cid))


def delete_document(sandbox: Any, request: Request, cid: int, document_id: int) -> Response:
    with sandbox.state.lock:
        row = live_document(sandbox, document_id)
        _refuse_if_locked(row, "eliminato")
        sandbox.state.set_deleted(document_id, True)
    announce(sandbox, row["body"]["type"], "delete", document_id)
    return Response(b"", status=200)


def new_totals(sandbox: Any, request: Request, cid: int) -> Response:
    body = documents.normalise(read_body(request).get("data"))
    return data(documents.totals_of(body))


def existing_totals(sandbox: Any, request: Request, cid: int, document_id: int) -> Response:
    row = live_document(sandbox, document_id)
    body = documents.normalise(read_body(request).get("data") or {}, row["body"])
    return data(documents.totals_of(body))


def document_info(sandbox: Any, request: Request, cid: int) -> Response:
    doc_type = request.args.get("type")
    if doc_type not in documents.DOCUMENT_TYPES:
        raise validation("type", "Il parametro type è obbligatorio e deve essere un tipo di documento valido.")
    default_method = next(m for m in seeds.PAYMENT_METHODS if m["is_default"])
    return data({
        "numerations": sandbox.state.numerations(doc_type),
        "dn_numerations": sandbox.state.numerations("delivery_note"),
        "default_values": {"default_template": seeds.TEMPLATES[0], "dn_template": seeds.TEMPLATES[0],
                           "ai_template": seeds.TEMPLATES[0], "notes": "", "rivalsa": 0, "cassa": 0,
                           "withholding_tax": 0, "withholding_tax_taxable": 100, "other_withholding_tax": 0,
                           "use_gross_prices": False, "payment_method": default_method},
        "countries_list": ["Italia", "Francia", "Germania", "Spagna", "Svizzera", "Regno Unito"],
        "currencies_list": seeds.CURRENCIES, "templates_list": seeds.TEMPLATES, "dn_templates_list": seeds.TEMPLATES,
        "ai_templates_list": seeds.TEMPLATES, "payment_methods_list": seeds.PAYMENT_METHODS,
        "payment_accounts_list": seeds.PAYMENT_ACCOUNTS, "vat_types_list": seeds.VAT_TYPES,
        "languages_list": seeds.LANGUAGES, "price_lists": [],
    })


def _flag(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.lower() in ("1", "true", "yes")


def transform(sandbox: Any, request: Request, cid: int) -> Response:
    args = request.args
    try:
        original_id = int(args.get("original_document_id", ""))
    except ValueError:
        raise validation("original_document_id", "Il parametro original_document_id è obbligatorio.") from None
    new_type = args.get("new_type")
    if not new_type:
        raise validation("new_type", "Il parametro new_type è obbligatorio.")
    original = live_document(sandbox, original_id)
    if args.get("type") and args["type"] != original["body"]["type"]:
        raise validation("type", f"Il documento {original_id} è di tipo {original['body']['type']}, "
                         f"non {args['type']}.")
    draft, options = documents.transform_draft(original, new_type, _flag(args.get("transform_keep_copy"), True),
                                               _flag(args.get("e_invoice"), False))
    return json_response({"data": documents.render(None, draft, base_url(request), cid), "options": options})


def join(sandbox: Any, request: Request, cid: int) -> Response:
    raw_ids = [part.strip() for part in (request.args.get("ids") or "").split(",") if part.strip()]
    if not raw_ids:
        raise validation("ids", "Il parametro ids è obbligatorio (id separati da virgola).")
    originals = [live_document(sandbox, _int_id(i)) for i in raw_ids]
    draft, options = documents.join_draft(originals, request.args.get("type") or "")
    return json_response({"data": documents.render(None, draft, base_url(request), cid), "options": options})


def list_bin(sandbox: Any, request: Request, cid: int) -> Response:
    url = base_url(request)
    rows = [documents.render(row, row["body"], url, cid, "basic") for row in sandbox.state.documents(deleted=True)]
    return data(rows)


def _binned(sandbox: Any, document_id: int) -> dict:
    row = sandbox.state.get_document(document_id, include_deleted=True)
    if row is None or not row["deleted"]:
        raise ApiError(404, f"Il documento {document_id} non è nel cestino.", code="NOT_FOUND")
    return row


def get_bin(sandbox: Any, request: Request, cid: int, document_id: int) -> Response:
    row = _binned(sandbox, document_id)
    return data(documents.render(row, row["body"], base_url(request), cid))


def purge_bin(sandbox: Any, request: Request, cid: int, document_id: int) -> Response:
    with sandbox.state.lock:
        _binned(sandbox, document_id)
        sandbox.state.purge(document_id)
    return Response(b"", status=200)


def recover_bin(sandbox: Any, request: Request, cid: int, document_id: int) -> Response:
    with sandbox.state.lock:
        row = _binned(sandbox, document_id)
        body = row["body"]
        try:  # its number may have been given to another document meanwhile
            sandbox.state.check_number(body["type"], body["numeration"], body["year"], body["number"], document_id)
        except NumberTaken as error:
            raise _clash(error, body) from None
        sandbox.state.set_deleted(document_id, False)
    return Response(b"", status=200)
