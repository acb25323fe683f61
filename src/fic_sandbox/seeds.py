"""What a fresh FiC company holds before anyone touches it: VAT types, payment methods and
accounts, the company and its senders. Ids follow FiC's habits (22% is id 0, 10% is id 3) so a
VAT mapping written for the sandbox looks like one written for a real account.
"""

from __future__ import annotations

from decimal import Decimal

COMPANY_ID = 1
COMPANY_NAME = "Negozio Demo S.r.l."
COMPANY_EMAIL = "amministrazione@negozio-demo.example"
NO_REPLY_SENDER = {"id": 0, "email": "no-reply@fattureincloud.it"}
COMPANY_SENDER = {"id": 888, "email": COMPANY_EMAIL}
#: What FiC keeps in the company's settings and writes as CedentePrestatore on every e-invoice.
COMPANY_PROFILE = {"name": COMPANY_NAME, "vat_number": "09876540015", "tax_code": "09876540015",
                   "regime_fiscale": "RF01", "person": False, "address_street": "Via Roma 1",
                   "address_postal_code": "00184", "address_city": "Roma", "address_province": "RM"}


def _vat(id: int, value: str, description: str, ei_type: str | None = None, notes: str = "",
         default: bool = False, disabled: bool = False) -> dict:
    return {"id": id, "value": Decimal(value), "description": description, "notes": notes,
            "e_invoice": True, "ei_type": ei_type, "ei_description": description if ei_type else None,
            "editable": False, "is_disabled": disabled, "default": default}


VAT_TYPES = [
    _vat(0, "22", "", default=True),
    _vat(3, "10", ""),
    _vat(54, "5", ""),
    _vat(4, "4", ""),
    _vat(21, "0", "N1 Escluso art. 15", "N1", "Escluso art. 15 D.P.R. 633/1972"),
    _vat(22, "0", "N2.1 Non soggetta art. 7", "N2.1", "Non soggetta ad IVA ai sensi degli artt. da 7 a 7-septies"),
    _vat(6, "0", "N2.2 Non soggetta", "N2.2",
         "Operazione effettuata ai sensi dell'art. 1, commi 54-89, L. 190/2014 (regime forfettario)"),
    _vat(23, "0", "N3.1 Non imponibile - esportazioni", "N3.1", "Non imponibile art. 8 D.P.R. 633/1972"),
    _vat(28, "0", "N3.2 Non imponibile - cessioni intracomunitarie", "N3.2",
         "Non imponibile art. 41 D.L. 331/1993"),
    _vat(24, "0", "N4 Esente", "N4", "Esente art. 10 D.P.R. 633/1972"),
    _vat(25, "0", "N5 Regime del margine", "N5", "Regime del margine art. 36 D.L. 41/1995"),
    _vat(26, "0", "N6.1 Inversione contabile", "N6.1", "Inversione contabile art. 17 D.P.R. 633/1972"),
    _vat(27, "0", "N7 IVA assolta in altro stato UE", "N7", "IVA assolta in altro stato UE"),
    # Old accounts still hold these (disabled): the SdI refuses them since 2021 (00400, 00445).
    _vat(60, "0", "0% senza natura", disabled=True),
    _vat(61, "0", "N2 Non soggetta (fino al 2020)", "N2", disabled=True),
    _vat(62, "0", "N3 Non imponibile (fino al 2020)", "N3", disabled=True),
    _vat(63, "0", "N6 Inversione contabile (fino al 2020)", "N6", disabled=True),
]

PAYMENT_ACCOUNTS = [
    {"id": 1, "name": "Banca Demo", "type": "bank", "iban": "IT60X0542811101000000123456", "sia": None,
     "cuc": None, "virtual": False},
    {"id": 2, "name": "Carta di credito", "type": "standard", "iban": None, "sia": None, "cuc": None,
     "virtual": False},
    {"id": 3, "name": "PayPal", "type": "standard", "iban": None, "sia": None, "cuc": None, "virtual": False},
    {"id": 4, "name": "Cassa", "type": "standard", "iban": None, "sia": None, "cuc": None, "virtual": False},
]


def _method(id: int, name: str, ei_payment_method: str, account: int | None, default: bool = False) -> dict:
    linked = next((a for a in PAYMENT_ACCOUNTS if a["id"] == account), None)
    return {"id": id, "name": name, "type": "standard", "is_default": default,
            "default_payment_account": dict(linked) if linked else None, "details": [],
            "bank_iban": linked["iban"] if linked and linked["iban"] else None,
            "bank_name": linked["name"] if linked and linked["iban"] else None,
            "bank_beneficiary": COMPANY_NAME if linked and linked["iban"] else None,
            "ei_payment_method": ei_payment_method}


PAYMENT_METHODS = [
    _method(1, "Bonifico bancario", "MP05", 1, default=True),
    _method(2, "Carta di credito", "MP08", 2),
    _method(3, "PayPal", "MP08", 3),
    _method(4, "Contanti", "MP01", 4),
    _method(5, "Rimessa diretta", "MP01", 1),
]

CURRENCIES = [
    {"id": "EUR", "symbol": "€", "exchange_rate": "1.00000", "html_symbol": "&euro;"},
    {"id": "USD", "symbol": "$", "exchange_rate": "1.08000", "html_symbol": "&#36;"},
    {"id": "GBP", "symbol": "£", "exchange_rate": "0.85000", "html_symbol": "&pound;"},
    {"id": "CHF", "symbol": "CHF", "exchange_rate": "0.95000", "html_symbol": "CHF"},
]

TEMPLATES = [{"id": 1, "name": "Standard"}, {"id": 2, "name": "Light Smoke"}]
LANGUAGES = [{"code": "it", "name": "Italiano"}, {"code": "en", "name": "English"}]


def company(company_id: int) -> dict:
    """The one company the sandbox serves, as ``/user/companies`` lists it."""
    return {"id": company_id, "name": COMPANY_NAME, "type": "company", "access_token": None,
            "controlled_companies": [], "fic_license_expire": "2099-12-31", "fic_plan": "premium",
            "connection_id": 1, "tax_code": COMPANY_PROFILE["tax_code"],
            "vat_number": COMPANY_PROFILE["vat_number"]}


def company_info(company_id: int) -> dict:
    """``/c/{cid}/company/info``: enough for the plugin to show which company it is connected to."""
    return {"id": company_id, "name": COMPANY_NAME, "email": COMPANY_EMAIL, "type": "company",
            "access_info": {"role": "master", "permissions": {}, "through_accountant": False},
            "fic_license_expire": "2099-12-31", "fic_plan_name": "premium",
            "plan_info": {"limits": {"clients": 10000, "suppliers": 10000, "products": 10000, "documents": 100000},
                          "functions": {}, "functions_status": {}},
            "accountant_id": None, "is_accountant": False}
