"""The worker and its queue on the command line: ``fic sync`` (one shop, every shop of the
registry, or Celery), ``fic worker``, ``fic status`` and ``fic retry``."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import attrs

from .cli_shop import emit, named_database, open_context
from .errors import FicError, SettingsError
from .i18n import _, ngettext
from .jobs import run_worker
from .multishop import all_shops_status, run_all_shops, summary
from .outbox import retry_jobs
from .reporting import status_report
from .shop_registry import ENGINES, Shop, load_registry, registry_engine


def add_worker_commands(sub: Any) -> None:
    """``fic sync`` and ``fic worker``."""
    sync = sub.add_parser("sync", help="run the worker: due jobs, then invoice paid orders without one")
    sync.add_argument("--once", action="store_true", help="do one round and exit (for cron/systemd timers)")
    sync.add_argument("--interval", type=float, default=60.0, help="seconds between rounds (default 60)")
    sync.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")
    sync.add_argument("--all-shops", action="store_true",
                      help="serve every enabled shop of the shops registry, round-robin (see docs/scaling.md)")
    sync.add_argument("--shops", default=None, metavar="FILE",
                      help="the shops registry (env FIC_SHOPS; default shops.toml)")
    sync.add_argument("--concurrency", type=int, default=4,
                      help="with --all-shops: shops served at the same time (default 4)")
    sync.add_argument("--engine", choices=ENGINES, default=None,
                      help="embedded: this process runs the jobs; celery: send them to Celery workers on Redis "
                           "(FIC_REDIS_URL) (default: env FIC_ENGINE, else the setting engine — with --all-shops "
                           "the registry's engine —, else embedded)")
    sync.set_defaults(handler=cmd_sync)

    worker = sub.add_parser("worker", help="a Celery worker for fic sync --engine celery (see docs/scaling.md)")
    worker.add_argument("--concurrency", type=int, default=16, help="jobs at the same time (threads; default 16)")
    worker.add_argument("--queues", default=None,
                        help="comma-separated queues (default: fic and this machine's fic-HOSTNAME)")
    worker.set_defaults(handler=cmd_worker)


def add_queue_commands(sub: Any) -> None:
    """``fic status`` and ``fic retry``."""
    status = sub.add_parser("status", help="queue, failures and quota; with ORDER_ID its documents and audit log")
    status.add_argument("order_id", metavar="ORDER_ID", nargs="?")
    status.add_argument("--all-shops", action="store_true",
                        help="queued, running and failed jobs of every shop in the registry, and time to drain")
    status.add_argument("--shops", default=None, metavar="FILE",
                        help="the shops registry (env FIC_SHOPS; default shops.toml)")
    status.set_defaults(handler=cmd_status)

    retry = sub.add_parser("retry", help="retry a failed job after fixing its cause")
    retry.add_argument("job_id", metavar="JOB_ID", type=int, nargs="?")
    retry.add_argument("--all-failed", action="store_true", help="retry every failed job")
    retry.set_defaults(handler=cmd_retry)


def cmd_sync(args: argparse.Namespace) -> int:
    context = None
    if args.engine is None:
        args.engine = os.environ.get("FIC_ENGINE") or None
    if args.engine is None and args.all_shops:
        args.engine = registry_engine(args.shops) or "embedded"
    elif args.engine is None:
        context = open_context(args)
        args.engine = context.settings.engine
    if args.engine not in ENGINES:
        raise SettingsError(_("FIC_ENGINE is embedded or celery, not {value}.").format(value=args.engine),
                            field="engine")
    if args.engine == "celery":
        return _sync_with_celery(args)
    if args.all_shops:
        return _sync_all_shops(args)
    return run_worker(context or open_context(args), once=args.once, interval=args.interval,
                      progress=not args.no_progress and sys.stderr.isatty())


def _sync_all_shops(args: argparse.Namespace) -> int:
    shops = load_registry(args.shops)
    tallies = run_all_shops(shops, once=args.once, interval=args.interval, concurrency=args.concurrency,
                            out=lambda line: print(line, file=sys.stderr, flush=True))
    emit(args, {shop_id: attrs.asdict(tally) for shop_id, tally in tallies.items()}, lambda: summary(tallies))
    return 1 if any(tally.error for tally in tallies.values()) else 0


def _sync_with_celery(args: argparse.Namespace) -> int:
    from .engine_celery import SINGLE_SHOP  # optional: Celery is an extra
    from .engine_dispatch import sync_with_engine

    shops = load_registry(args.shops) if args.all_shops else [Shop(id=SINGLE_SHOP, db=named_database(args.db))]
    result = sync_with_engine(shops, once=args.once, interval=args.interval,
                              out=lambda line: print(line, file=sys.stderr, flush=True))
    if result is None:  # Redis does not answer: said on stderr, the embedded engine goes on
        args.engine = "embedded"
        return cmd_sync(args)
    emit(args, result, _("{sent} jobs sent to the Celery workers.").format(sent=result["sent"]))
    return 1 if result["errors"] else 0


def cmd_worker(args: argparse.Namespace) -> int:
    from .engine_celery import run_worker as run_celery_worker  # optional: Celery is an extra

    queues = [q.strip() for q in args.queues.split(",") if q.strip()] if args.queues else None
    return run_celery_worker(concurrency=args.concurrency, queues=queues)


def cmd_status(args: argparse.Namespace) -> int:
    if args.all_shops:
        report = all_shops_status(load_registry(args.shops))
        emit(args, report["shops"], report["text"])
        return 0
    report = status_report(open_context(args), args.order_id)
    emit(args, report, report["text"])
    return 0


def cmd_retry(args: argparse.Namespace) -> int:
    if args.job_id is None and not args.all_failed:
        raise FicError(_("Say which job to retry (fic retry JOB_ID) or use --all-failed."))
    count = retry_jobs(open_context(args), job_id=args.job_id, all_failed=args.all_failed)
    emit(args, {"retried": count}, ngettext("{count} job queued again.", "{count} jobs queued again.", count).format(count=count))
    return 0


