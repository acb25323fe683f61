"""``make bench-scale-full``: the issue's size, once. 1,000 shops (SQLite files, one FiC company
each) x 20 paid orders: 20,000 invoices and 20,000 emails, against the many-company sandbox (150 ms
latency, quotas compressed 60x), on 4 ``fic worker`` processes. A quarter of the way (10,000 of the
40,000 jobs: each invoice's job and its SdI send job) one worker gets a ``kill -9`` and a new one
takes its place, as systemd's ``Restart=always`` would (docs/scaling.md):
the figures are those of a run that lost a worker, and the end state must still be one invoice and
one email per order, nothing pending.

Reported, in ``bench/RESULTS.md`` between its own markers: invoices/s, each company's requests per
window against its quota (and every 429/403), the spread of the shops' completion times, the
workers' peak memory, CPU per invoice, and the ``invoices``/``duplicates``/``pending jobs`` lines of
``make chaos``. ``make bench-scale`` keeps the 1/2/4-process ratios, the noisy tenant and the
PostgreSQL store at a size that runs in half an hour: at 2.5 invoices/s for one process (the 150 ms
waits of 2 threads), 20,000 invoices would take over two hours for that row alone.

    .venv/bin/python bench/bench_scale_full.py [--shops 1000] [--orders 20] [--workers 4] [--no-write]

``--workers 1`` and ``--workers 2`` (over two hours and about 90 minutes on this machine) write
sections of their own, for the ratio to one process at the issue's size.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_scale import (  # noqa: E402 - bench/ is a folder of scripts, not a package
    LATENCY_MS,
    TIME_SCALE,
    bench_sandbox,
    make_templates,
    one_run,
    prepare_run,
    spread,
    write_results,
)
from campaign import REPO  # noqa: E402

BEGIN, END = "<!-- bench-scale-full:begin -->", "<!-- bench-scale-full:end -->"


def markers(workers: int) -> tuple[str, str]:
    """Where a run's section goes in RESULTS.md: one section per number of worker processes (the
    default 4 keeps the first section's markers)."""
    if workers == 4:
        return BEGIN, END
    return f"<!-- bench-scale-full-{workers}:begin -->", f"<!-- bench-scale-full-{workers}:end -->"


def report(args: argparse.Namespace, run: dict, minutes: float, made_in: float) -> str:
    rate = run["invoices"] / run["seconds"]
    median, last = spread(run["finish"])
    per_invoice = {part: run["cpu"][part] * 1000 / max(1, run["invoices"]) for part in run["cpu"]}
    exact = run["invoices"] == run["orders"] == run["emails"] and not run["duplicates"] and not run["pending"]
    quota_ok = (not run["refused"] and run["max_hour"] <= run["hourly_limit"]
                and run["max_short"] <= run["short_limit"])
    yes = {True: "yes", False: "**no**"}
    begin, end = markers(args.workers)
    title = ("## The issue's size, once (`make bench-scale-full`)" if args.workers == 4 else
             f"## The issue's size on {args.workers} worker process{'es' if args.workers > 1 else ''} "
             f"(`bench/bench_scale_full.py --workers {args.workers}`)")
    return "\n".join([
        begin, title, "",
        f"Run {datetime.now():%Y-%m-%d %H:%M} in {minutes:.1f} minutes ({made_in:.1f} of them making the "
        f"{len(run['finish'])} shop files) on the same machine. **{args.shops} shops x {args.orders} paid orders** "
        f"(SQLite files, one FiC company each), sandbox latency {LATENCY_MS} ms, quotas compressed "
        f"{TIME_SCALE}x, {args.workers} `fic worker --concurrency {args.concurrency}` processes. Once "
        f"{args.shops * args.orders // 2:,} jobs were done (of {2 * args.shops * args.orders:,}: each order has its "
        "invoice job and the SdI send job written with it as its outbox) one worker got a `kill -9` and a new one "
        "was started in its place (systemd's `Restart=always`), so the figures include the 30 s its jobs waited "
        "before being sent again (their in-flight marks expiring).", "",
        "| invoices | seconds | invoices/s | 429/403 | peak RSS per worker MiB (the last one: started after "
        "the kill) | CPU ms per invoice: workers / dispatcher / sandbox | FiC requests per invoice |",
        "|---|---|---|---|---|---|---|",
        f"| {run['invoices']} | {run['seconds']:.1f} | {rate:.2f} | {run['refused']} | "
        f"{', '.join(f'{k / 1024:.0f}' for k in run['rss_kib'])} | "
        + " / ".join(f"{per_invoice[part]:.0f}" for part in ("workers", "dispatcher", "sandbox"))
        + f" | {run['requests'] / max(1, run['invoices']):.1f} |", "",
        f"Per company: at most {run['max_hour']}/{run['hourly_limit']} requests in one hourly window and "
        f"{run['max_short']}/{run['short_limit']} in one short-term window; {run['refused']} refused (429/403).", "",
        f"Completion (seconds from the start to each shop's last job): median {median:.1f} s, last {last:.1f} s, "
        f"last/median {last / median if median else 0:.2f} (goal <= 2).", "",
        f"kill -9 of one of {args.workers} worker processes mid-run (killed: {run['killed']}), replaced at once:",
        "", "```", f"invoices: {run['invoices']}", f"orders: {run['orders']}", f"emails: {run['emails']}",
        f"duplicates: {run['duplicates']}", f"pending jobs: {run['pending']}", f"seconds: {run['seconds']:.0f}",
        "```", "",
        f"Goals: every invoice and email once, nothing pending: {yes[exact]}; 0 x 429/403, no company above its "
        f"limit: {yes[quota_ok]}; last shop <= 2x the median: {yes[bool(median) and last <= 2 * median]}."
        + (f" Problems: {run['problems'][:5]}." if run["problems"] else ""),
        end])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shops", type=int, default=1000)
    parser.add_argument("--orders", type=int, default=20)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=os.cpu_count() or 1,
                        help="threads per worker process (default: one per CPU, Celery's own default)")
    parser.add_argument("--no-write", action="store_true", help="print, do not touch RESULTS.md")
    args = parser.parse_args()
    begun = time.monotonic()
    with bench_sandbox("fic-bench-scale-full-") as (workdir, sandbox):
        template = make_templates(workdir, sandbox, args.shops + 1, args.orders, 0)
        made_in = (time.monotonic() - begun) / 60
        print(f"{args.shops} shop files made in {made_in:.1f} min", flush=True)
        run = one_run(prepare_run(workdir, template, args.shops), sandbox, args.workers,
                      kill_after=args.shops * args.orders // 2, restart=True, concurrency=args.concurrency)
    section = report(args, run, (time.monotonic() - begun) / 60, made_in)
    print(section)
    if not args.no_write:
        write_results(section, *markers(args.workers))
    return 1 if (run["duplicates"] or run["pending"] or run["problems"]) else 0


if __name__ == "__main__":
    os.chdir(REPO)
    sys.exit(main())
