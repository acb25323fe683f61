"""``make bench``: every benchmark of issue 8 in one run, printed as tables with their ratios and
targets, and written to ``bench/RESULTS.md`` with the machine and the date.

    .venv/bin/python bench/run_all.py [--quick] [--only hook,client,per_order,backlog,rate,panel]

``--quick`` uses smaller N (a minute or two); the full run takes a few minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_backlog  # noqa: E402 - bench/ is a folder of scripts, not a package
import bench_client  # noqa: E402
import bench_inprocess  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
FULL = {"hook": 2000, "client": 500, "per_order": 100, "backlog": (1000, 10_000), "rate": 2, "panel": 300}
QUICK = {"hook": 500, "client": 100, "per_order": 30, "backlog": (200, 2000), "rate": 1, "panel": 100}


def verdict(ok: bool) -> str:
    return "yes" if ok else "**no**"


def table(head: list[str], rows: list[list[Any]]) -> str:
    cells = [[str(c) for c in row] for row in [head, *rows]]
    lines = ["| " + " | ".join(row) + " |" for row in cells]
    lines.insert(1, "|" + "|".join("---" for _ in head) + "|")
    return "\n".join(lines)


def hook_section(r: dict) -> str:
    return "\n".join([
        f"### 1. `order_paid` hook latency ({r['events']} events, automatic invoices on)", "",
        table(["", "p50 ms", "p99 ms"], [
            ["`pm.hook.order_paid(order)`", f"{r['hook_p50']:.3f}", f"{r['hook_p99']:.3f}"],
            ["floor: one INSERT + COMMIT, same file", f"{r['floor_p50']:.3f}", f"{r['floor_p99']:.3f}"],
            ["ratio", f"{r['ratio_p50']:.2f}×", f"{r['ratio_p99']:.2f}×"]]), "",
        f"Target ≤ 3× the floor: {verdict(r['ratio_p50'] <= 3 and r['ratio_p99'] <= 3)}."])


def client_section(r: dict) -> str:
    rows = [[name, f"{r[key]['create_p50']:.2f}", f"{r[key]['email_p50']:.2f}", f"{r[key]['pair_p50']:.2f}",
             f"{r[key]['pair_p99']:.2f}", f"{r[key]['pair_p50'] / r['floor']['pair_p50']:.2f}×"]
            for name, key in (("floor: bare `requests.Session().post`", "floor"),
                              ("fic-plugin `FicClient`", "plugin"), ("official `fattureincloud-python-sdk`", "sdk"),
                              ("bare `urllib3` (under requests and the SDK)", "urllib3"))]
    return "\n".join([
        f"### 2. Client overhead: create + email, N = {r['calls']} each, interleaved", "",
        table(["", "create p50 ms", "email p50 ms", "pair p50 ms", "pair p99 ms", "÷ floor"], rows), "",
        f"fic-plugin ÷ floor = {r['plugin_vs_floor']:.2f}× (target ≤ 1.2×: {verdict(r['plugin_vs_floor'] <= 1.2)}); "
        f"fic-plugin ÷ SDK = {r['plugin_vs_sdk']:.2f}× (target < 1: {verdict(r['plugin_vs_sdk'] < 1)}). "
        "The SDK talks to urllib3 directly; `requests`, the house stack under both the floor and the plugin, "
        f"costs {r['floor']['pair_p50'] - r['urllib3']['pair_p50']:.2f} ms per pair on top of urllib3. The plugin's "
        "own work (JSON with exact decimals, pacing, retry policy, error mapping, the audit callback) is paid "
        "for by its session reading proxies and the CA bundle once instead of on every request as a bare "
        f"`requests.Session` does: plugin − floor = {r['plugin']['pair_p50'] - r['floor']['pair_p50']:+.2f} ms "
        "per pair."])


def per_order_section(r: dict) -> str:
    rows = [[kind, n] for kind, n in r["by_kind"].items()]
    return "\n".join([
        f"### 3. FiC requests per automatically invoiced order ({r['orders']} orders, one `fic sync --once`)", "",
        table(["request", "count"], rows), "",
        f"{r['per_order']:.2f} requests per order (target 2, create + email: {verdict(r['per_order'] <= 2.05)}); "
        f"{r['lookups_per_worker_start']} lookups per worker start (VAT types, payment methods: cached for the "
        f"run); the email's sender list is read once per worker too ({r['by_kind'].get('GET email', 0)} "
        f"`GET …/email`). {r['invoiced']} of {r['orders']} orders invoiced."])


def backlog_section(results: list[dict], rate: dict) -> str:
    rows = [[f"{r['orders']:,}", f"{r['seconds']:.1f}", f"{r['orders_per_second']:.1f}",
             f"{r['requests_per_second']:.1f}", f"{r['peak_rss_mib']:.1f}", f"{r['invoices']:,} / {r['emails']:,}"]
            for r in results]
    small, large = results[0], results[-1]
    growth = large["peak_rss_mib"] / small["peak_rss_mib"]
    return "\n".join([
        "### 4. Backlog: paid orders without documents, `fic sync --once` (a subprocess)", "",
        "Sandbox limits out of the way (see the notes):", "",
        table(["orders", "seconds", "orders/s", "requests/s", "peak RSS MiB", "invoices / emails"], rows), "",
        f"Peak memory {large['orders']:,} vs {small['orders']:,} orders: {growth:.2f}× "
        f"(target ≤ 1.2×: {verdict(growth <= 1.2)}). End state checked: "
        f"{verdict(all(not r['problems'] for r in results))} (one invoice and one email per order).", "",
        f"At FiC's limits compressed in time ({bench_backlog.HOURLY} requests per {rate['window_seconds']:.0f} s "
        f"window, {bench_backlog.SHORT_TERM} per {bench_backlog.SHORT_SECONDS:.0f} s; the worker told the same "
        f"through `FIC_RATE_*`), {rate['orders']} paid orders:", "",
        table(["windows", "allowed", "accepted", "accepted ÷ allowed", "429", "403", "cumulative per window"],
              [[rate["windows"], rate["allowed"], rate["accepted"], f"{rate['ratio']:.3f}", rate["http_429"],
                rate["http_403"], ", ".join(str(n) for n in rate["per_window"])]]), "",
        f"Target ≥ 0.95 with no 429/403: {verdict(rate['ratio'] >= 0.95 and not rate['http_429'] and not rate['http_403'])}."])


def shared_rate_section(r: dict) -> str:
    ok = r["ratio"] >= 0.95 and not r["http_429"] and not r["http_403"]
    return "\n".join([
        f"### 4b. One FiC budget shared by {r['workers']} workers and a CLI loop", "",
        f"At FiC's limits compressed in time ({bench_backlog.HOURLY} requests per {r['window_seconds']:.0f} s window, "
        f"{bench_backlog.SHORT_TERM} per {bench_backlog.SHORT_SECONDS:.0f} s), {r['workers']} `fic sync` workers and a "
        f"loop of `fic doc create N --type quote` ({r['cli_runs']} runs, {r['cli_failures']} failed), each told the "
        f"limits through `FIC_RATE_*`, on one company and one shop database, {r['orders']} paid orders. Counted as "
        f"FiC counts: the sandbox's fixed windows, from the first that opens with the load running (the one open "
        f"while the processes start is warm-up: {r['warm_up']} requests) through {r['windows']}; allowed is "
        f"{bench_backlog.HOURLY} per {r['window_seconds']:.0f} s of the time they took, from the first one's start to "
        f"the start of the one after ({r['span_seconds']:.1f} s), so time left unused between windows counts "
        f"against the pacer:", "",
        table(["windows", "allowed", "accepted", "accepted ÷ allowed", "429", "403", "per window"],
              [[r["windows"], f"{r['allowed']:.0f}", r["accepted"], f"{r['ratio']:.3f}", r["http_429"],
                r["http_403"], ", ".join(str(n) for n in r["per_window"])]]), "",
        f"Target ≥ 0.95 with no 429/403 (in the whole run, warm-up included): {verdict(ok)} (the pacer keeps 2 % "
        "under each limit, so 0.98 is the most it can use).", "",
        f"For comparison, the earlier figure (requests accepted in the first {r['windows']} × "
        f"{r['window_seconds']:.0f} s after the limits were set, the processes' start included): "
        + ", ".join(str(n) for n in r["from_start"])
        + (f" → {r['from_start'][-1] / (r['windows'] * bench_backlog.HOURLY):.3f}" if r["from_start"] else "") + "."])


def panel_section(r: dict) -> str:
    return "\n".join([
        f"### 5. Order panel render ({r['renders']} renders)", "",
        table(["documents", "jobs listed", "p50 ms", "p99 ms", "HTML bytes"],
              [[r["documents"], r["jobs"], f"{r['p50']:.2f}", f"{r['p99']:.2f}", f"{r['bytes']:,}"]]), "",
        "An order holds at most one live document per type (a unique index: the last guard against "
        "duplicates), so the heaviest panel is 6 documents — one of each type — plus 14 queued or failed jobs "
        "and the history of 20 document operations, which the panel lists too."])


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / 1024 / 1024:.1f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return (f"{cpu}, {os.cpu_count()} cores{memory}; {platform.system()} {platform.release()}; "
            f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}")


NOTES = """\
## How it was measured

- Everything runs on this machine against `127.0.0.1`: the FiC sandbox as its own process (`fic sandbox`),
  the worker as the `fic` command, the shop as the reference shop's SQLite file (DemoShop).
- "Limits off": the sandbox's limits set far above the load (`POST /__sandbox__/limits` with 10⁸/hour).
  With the limits merely *off* the sandbox still counts against FiC's nominal 1,000/hour in its
  `RateLimit-*` headers, and the client believes them, as it must with the real FiC: past 1,000
  requests a worker waits for the hour to end.
- The paid orders of the backlog are written in bulk to the demo shop's tables (customers, orders,
  lines, payments), as DemoShop stores them, so the run measures the plugin and not the demo shop.
- Medians and p99 over the runs given; the client's variants are interleaved call by call.
- Peak memory is the worker's own high-water mark (`VmHWM` of `/proc/PID/status`, read while it runs);
  the kernel's figure at exit (`ru_maxrss`) would count the parent's memory at fork time as the child's.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller N, for a quick look")
    parser.add_argument("--only", default="hook,client,per_order,backlog,shared,panel",
                        help="comma-separated subset (the backlog includes the rate-limited run)")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"where to write the results ({RESULTS.name})")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    wanted = set(args.only.split(","))
    started = time.monotonic()
    sections = []
    with tempfile.TemporaryDirectory(prefix="fic-bench-") as tmp:
        work = Path(tmp)

        def run(name: str, title: str, fn):
            print(f"-- {title}...", flush=True)
            t = time.monotonic()
            result = fn()
            print(f"   done in {time.monotonic() - t:.0f} s", flush=True)
            return result

        if "hook" in wanted:
            r = run("hook", "hook latency", lambda: bench_inprocess.hook_latency(work, sizes["hook"]))
            sections.append(hook_section(r))
        if "client" in wanted:
            r = run("client", "client overhead", lambda: bench_client.client_overhead(work / "client", sizes["client"]))
            sections.append(client_section(r))
        if "per_order" in wanted:
            r = run("per_order", "requests per order",
                    lambda: bench_client.requests_per_order(work / "per-order", sizes["per_order"]))
            sections.append(per_order_section(r))
        if "backlog" in wanted:
            results = [run("backlog", f"backlog of {n:,}", lambda n=n: bench_backlog.backlog(work, n))
                       for n in sizes["backlog"]]
            rate = run("rate", "at FiC's limits", lambda: bench_backlog.rate_limited(work, sizes["rate"]))
            sections.append(backlog_section(results, rate))
        if "shared" in wanted:
            r = run("shared", "one budget, several processes",
                    lambda: bench_backlog.shared_rate_limited(work, sizes["rate"]))
            sections.append(shared_rate_section(r))
        if "panel" in wanted:
            r = run("panel", "panel render", lambda: bench_inprocess.panel_render(work, sizes["panel"]))
            sections.append(panel_section(r))
    elapsed = time.monotonic() - started
    header = "\n".join([
        "# Benchmarks", "",
        f"Run {datetime.now().strftime('%Y-%m-%d %H:%M')} with `{' '.join(['bench/run_all.py', *(argv or sys.argv[1:])])}` "
        f"in {elapsed / 60:.1f} minutes on: {machine()}.", "",
        "Each section gives its figures, the ratio asked for and whether the target is met (`make bench` "
        "rewrites this file).", "", ""])
    text = header + "\n\n".join(sections) + "\n\n" + NOTES
    print("\n" + text)
    old = args.out.read_text() if args.out.exists() else ""
    if "<!-- bench-scale:begin -->" in old:  # make bench-scale's section is its own to rewrite
        text = text.rstrip("\n") + "\n\n" + old[old.index("<!-- bench-scale:begin -->"):]
    args.out.write_text(text)
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
