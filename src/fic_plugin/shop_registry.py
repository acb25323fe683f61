"""The shops registry: a platform that hosts many shops tells the workers which ones to serve.

A TOML file (or JSON, by its extension)::

    [[shop]]
    id = "rossi"                                  # unique, the name in logs and ``fic status``
    db = "/srv/shops/rossi/shop.db"               # the shop database: a SQLite file or postgresql://…
    company_id = 1234                             # optional: the FiC company it must be connected to
    enabled = true                                # optional (default true)
    queue = "web-1"                               # optional: the engine queue of the machine holding a SQLite file
    plugin = "platform.fic:shop_plugin"           # optional: who answers for this shop's orders (below)

A platform's shops keep their orders in the platform's own tables (often one PostgreSQL schema per
shop), which one installed ``shop`` plugin cannot tell apart: it is given no shop. ``plugin``
names a factory, ``module:callable``, called with the :class:`Shop` each time the shop is opened
(:func:`fic_plugin.shops.shop_plugin`); the object it returns is registered in that shop's plugin
manager and answers its ``shop_*`` hooks (``shop_get_order``, ``shop_paid_orders``, …). A
top-level ``plugin`` is every shop's default.

Loading checks what can be checked without opening anything (ids unique, fields present and of
the right type, one database per shop, a factory written ``module:callable``); opening a shop and
checking its database is :mod:`fic_plugin.shops`' job.
"""

from __future__ import annotations

import json
import os
import socket
import tomllib
from pathlib import Path
from typing import Any

import attrs

from .errors import SettingsError
from .i18n import _

#: Where the registry is looked for when ``--shops`` is not given.
DEFAULT_SHOPS_FILE = "shops.toml"
SHOPS_ENV = "FIC_SHOPS"
#: The engines ``fic sync`` runs jobs on (``--engine``, ``FIC_ENGINE``, the ``engine`` setting).
ENGINES = ("embedded", "celery")


@attrs.frozen
class Shop:
    id: str
    db: str
    enabled: bool = True
    company_id: int | None = None
    queue: str | None = None
    #: ``module:callable`` making the plugin that answers for this shop's orders, or None (an
    #: installed ``shop`` plugin, or the reference shop's file, answers).
    plugin: str | None = None

    @property
    def is_sqlite(self) -> bool:
        return not self.db.startswith(("postgresql://", "postgres://"))

    def engine_queue(self) -> str:
        """The engine queue that serves this shop: a SQLite file is only reachable from the
        machine that holds it (its ``queue``, default this machine's name); PostgreSQL from any."""
        if self.is_sqlite:
            return "fic-" + (self.queue or socket.gethostname())
        return self.queue or "fic"


class RegistryError(SettingsError):
    """The registry file itself is wrong: nothing is served until it is fixed."""


def registry_path(path: str | Path | None = None) -> Path:
    return Path(path or os.environ.get(SHOPS_ENV) or DEFAULT_SHOPS_FILE)


def _read_registry(file: Path) -> Any:
    if not file.exists():
        raise RegistryError(_("The shops registry {file} does not exist: write it (see docs/scaling.md) or pass "
                              "--shops FILE.").format(file=file))
    try:
        text = file.read_text(encoding="utf-8")
        return json.loads(text) if file.suffix == ".json" else tomllib.loads(text)
    except (ValueError, UnicodeDecodeError) as error:
        raise RegistryError(_("The shops registry {file} cannot be read: {reason}.").format(
            file=file, reason=error)) from None


def registry_engine(path: str | Path | None = None) -> str | None:
    """The registry's ``engine`` (``embedded`` or ``celery``, a top-level key): the platform's
    setting for ``fic sync --all-shops`` when neither ``--engine`` nor ``FIC_ENGINE`` is given."""
    file = registry_path(path)
    data = _read_registry(file)
    engine = data.get("engine") if isinstance(data, dict) else None
    if engine is not None and engine not in ENGINES:
        raise RegistryError(_("The shops registry {file}: engine is embedded or celery, not {value}.").format(
            file=file, value=engine))
    return engine


def load_registry(path: str | Path | None = None) -> list[Shop]:
    """Every shop of the registry, in file order; RegistryError naming the file, shop and field."""
    file = registry_path(path)
    data = _read_registry(file)
    rows = data.get("shop", data.get("shops")) if isinstance(data, dict) else None
    if not isinstance(rows, list):
        raise RegistryError(_("The shops registry {file} has no list of shops ([[shop]] in TOML, "
                              '"shops": [...] in JSON).').format(file=file))
    default_plugin = data.get("plugin")
    if default_plugin is not None:
        _check_plugin_path(file, default_plugin, _("the top-level plugin"))
    shops: list[Shop] = []
    seen_ids: dict[str, int] = {}
    seen_dbs: dict[str, str] = {}
    for number, row in enumerate(rows, start=1):
        shop = _shop_from_row(file, number, row)
        if shop.plugin is None and default_plugin is not None:
            shop = attrs.evolve(shop, plugin=default_plugin)
        if shop.id in seen_ids:
            raise RegistryError(_("The shops registry {file}: shop id {id} appears twice (shops {first} and "
                                  "{second}); every shop needs its own id.").format(
                file=file, id=shop.id, first=seen_ids[shop.id], second=number))
        key = _database_key(shop.db)
        if key in seen_dbs:
            raise RegistryError(_("The shops registry {file}: shops {first} and {second} name the same database "
                                  "{db}; every shop has its own.").format(
                file=file, first=seen_dbs[key], second=shop.id, db=shop.db))
        seen_ids[shop.id], seen_dbs[key] = number, shop.id
        shops.append(shop)
    return shops


def _shop_from_row(file: Path, number: int, row: Any) -> Shop:
    if not isinstance(row, dict):
        raise RegistryError(_("The shops registry {file}: shop {number} is not a table of fields.").format(
            file=file, number=number))
    unknown = set(row) - {"id", "db", "enabled", "company_id", "queue", "plugin"}
    if unknown:
        raise RegistryError(_("The shops registry {file}: shop {number} has unknown field(s) {fields} "
                              "(known: id, db, enabled, company_id, queue, plugin).").format(
            file=file, number=number, fields=", ".join(sorted(unknown))))
    for field in ("id", "db"):
        if not isinstance(row.get(field), str) or not row[field].strip():
            raise RegistryError(_("The shops registry {file}: shop {number} needs a text field {field}.").format(
                file=file, number=number, field=field))
    if not isinstance(row.get("enabled", True), bool):
        raise RegistryError(_("The shops registry {file}: shop {id}: enabled is true or false.").format(
            file=file, id=row["id"]))
    company = row.get("company_id")
    if company is not None and (isinstance(company, bool) or not isinstance(company, int) or company <= 0):
        raise RegistryError(_("The shops registry {file}: shop {id}: company_id is FiC's company number "
                              "(a positive integer).").format(file=file, id=row["id"]))
    queue = row.get("queue")
    if queue is not None and not isinstance(queue, str):
        raise RegistryError(_("The shops registry {file}: shop {id}: queue is a text.").format(
            file=file, id=row["id"]))
    plugin = row.get("plugin")
    if plugin is not None:
        _check_plugin_path(file, plugin, _("shop {id}: plugin").format(id=row["id"]))
    return Shop(id=row["id"].strip(), db=row["db"].strip(), enabled=row.get("enabled", True),
                company_id=company, queue=queue, plugin=plugin)


def _check_plugin_path(file: Path, value: Any, where: str) -> None:
    """``module:callable`` in form only: importing it is the worker's job (the registry is also
    read where the platform's code is not installed, by ``fic status``)."""
    module, _sep, name = value.partition(":") if isinstance(value, str) else ("", "", "")
    if not (module and name and all(part.isidentifier() for part in [*module.split("."), *name.split(".")])):
        raise RegistryError(_("The shops registry {file}: {where} is {value!r}: write it as module:callable, "
                              "e.g. \"platform.fic:shop_plugin\".").format(file=file, where=where, value=value))


def _database_key(db: str) -> str:
    if db.startswith(("postgresql://", "postgres://")):
        return db
    return str(Path(db.removeprefix("sqlite:///")).resolve())
