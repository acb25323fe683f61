"""``make bench-memory``: one worker's memory as it serves more and more shops.

The issue asks for worker memory "flat as shops are added". One ``fic worker`` process (the Celery
engine, 2 threads) serves N shops (SQLite files, one FiC company each, one paid order each: each
job opens another shop) against the many-company sandbox; every second the bench reads the
worker's resident memory (VmRSS) and the tasks it finished (its own count in Redis; every shop is
the same work, so a share of the tasks is that share of the shops). A worker keeps
at most ``FIC_OPEN_SHOPS`` shops open (the least recently used are closed): its memory should
grow with the first ones and stay level after, whatever the number of shops. The run is made for
each ``--open-shops`` value, each in a fresh worker.

Reported, in ``bench/RESULTS.md`` between its own markers: the worker's memory after each step of
shops served, per ``FIC_OPEN_SHOPS``, and the growth over the second half of the shops (after the
cap is passed: the "flat" figure).

    .venv/bin/python bench/bench_memory_shops.py [--shops 1024] [--open-shops 256,64] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_scale import (  # noqa: E402 - bench/ is a folder of scripts, not a package
    LATENCY_MS,
    TIME_SCALE,
    bench_sandbox,
    finished_tasks,
    make_templates,
    one_run,
    prepare_run,
    write_results,
)
from campaign import REPO  # noqa: E402

BEGIN, END = "<!-- bench-memory:begin -->", "<!-- bench-memory:end -->"


def at_shops(run: dict, shops: int) -> int | None:
    """The worker's resident KiB when it had served ``shops`` of the run's shops (the first reading
    at or past that share of the tasks it finished in all: each shop is the same work), None if no
    reading was taken there."""
    if shops >= len(run["finish"]):
        return next((rss for _finished, rss in reversed(run["curve"]) if rss), None)  # the last reading
    share = shops / len(run["finish"])
    return next((rss for finished, rss in run["curve"] if finished >= share * run["tasks"] and rss), None)


def steps(shops: int) -> list[int]:
    marks = [n for n in (32, 64, 128, 256, 384, 512, 768, 1024, 1536, 2048) if n < shops]
    return [*marks, shops]


def report(args: argparse.Namespace, runs: dict[int, dict], minutes: float) -> str:
    marks = steps(args.shops)
    rows = []
    for cap, run in runs.items():
        cells = [at_shops(run, n) for n in marks]
        rows.append(f"| {cap} | " + " | ".join("-" if c is None else f"{c / 1024:.0f}" for c in cells)
                    + f" | {run['rss_kib'][0] / 1024:.0f} | {run['invoices']} / {run['duplicates']} / {run['pending']} |")
    flat = []
    for cap, run in runs.items():
        half, end = at_shops(run, args.shops // 2), at_shops(run, args.shops)
        if half and end:
            flat.append(f"FIC_OPEN_SHOPS={cap}: {half / 1024:.0f} MiB at {args.shops // 2} shops, "
                        f"{end / 1024:.0f} MiB at {args.shops} ({(end - half) / 1024:+.1f} MiB, "
                        f"{(end / half - 1) * 100:+.1f} %)")
    return "\n".join([
        BEGIN,
        "## One worker's memory as shops are added (`make bench-memory`)", "",
        f"Run {datetime.now():%Y-%m-%d %H:%M} in {minutes:.1f} minutes on {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}. One `fic worker --concurrency "
        f"{args.concurrency}` process serves {args.shops} shops (SQLite files, one FiC company each, one paid "
        f"order each: every job opens another shop), sandbox latency {LATENCY_MS} ms, quotas compressed "
        f"{TIME_SCALE}x. Resident memory (VmRSS, MiB) when the worker had finished the jobs of that many "
        "shops (read every second beside its own count of finished tasks in Redis, each shop being the "
        "same work: one invoice, its SdI send and its email), for each number of "
        "shops it keeps open (`FIC_OPEN_SHOPS`, the least recently used closed first).", "",
        "| FIC_OPEN_SHOPS | " + " | ".join(f"{n} shops" for n in marks)
        + " | peak | invoices / duplicates / pending |",
        "|" + "---|" * (len(marks) + 3),
        *rows, "",
        "Over the second half of the shops (past the cap): " + "; ".join(flat) + ".",
        END])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shops", type=int, default=1024)
    parser.add_argument("--open-shops", default="256,64", help="FIC_OPEN_SHOPS values, one run each")
    parser.add_argument("--concurrency", type=int, default=os.cpu_count() or 1,
                        help="threads of the worker process (default: one per CPU, Celery's own default)")
    parser.add_argument("--no-write", action="store_true", help="print, do not touch RESULTS.md")
    args = parser.parse_args()
    begun = time.monotonic()
    runs: dict[int, dict] = {}
    with bench_sandbox("fic-bench-memory-") as (workdir, sandbox):
        template = make_templates(workdir, sandbox, args.shops + 1, 1, 0)
        for cap in (int(value) for value in args.open_shops.split(",") if value.strip()):
            os.environ["FIC_OPEN_SHOPS"] = str(cap)
            curve: list[tuple[int, int]] = []
            runs[cap] = one_run(prepare_run(workdir, template, args.shops), sandbox, 1,
                                concurrency=args.concurrency, rss_curve=curve)
            runs[cap]["curve"], runs[cap]["tasks"] = curve, finished_tasks()
            print(f"FIC_OPEN_SHOPS={cap}: peak {runs[cap]['rss_kib'][0] / 1024:.0f} MiB", flush=True)
    section = report(args, runs, (time.monotonic() - begun) / 60)
    print(section)
    if not args.no_write:
        write_results(section, BEGIN, END)
    exact = all(run["invoices"] == run["orders"] and not run["duplicates"] and not run["pending"]
                for run in runs.values())
    return 0 if exact else 1


if __name__ == "__main__":
    os.chdir(REPO)
    sys.exit(main())
