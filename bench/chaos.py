"""The fault campaign (``make chaos``): does every paid order get exactly one invoice, emailed once,
while FiC misbehaves and the worker is killed with SIGKILL over and over?

1,000 paid orders in the reference shop's database; ``fic sandbox`` (its own process) answers 10%
of FiC requests with a 5xx, applies 5% and then never answers (timeout after commit), refuses 5%
with 429 + ``Retry-After`` and resets 1% of connections; ``fic sync`` workers run as subprocesses
and one is killed with SIGKILL every ~100 finished jobs, then restarted. At the end the sandbox's
documents, email log and SdI sends (every invoice is an e-invoice, sent to the SdI once) are
compared with the shop's references. Prints ``invoices: N``, ``local references: N``, ``emails:
N``, ``sdi sends: N``, ``duplicates: N``, ``pending jobs: N`` and exits 1 when any is off.

    .venv/bin/python bench/chaos.py [--orders 1000] [--kill-every 100] [--workers 2] [--seed 8]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import attrs

sys.path.insert(0, str(Path(__file__).resolve().parent))

from campaign import (  # noqa: E402 - bench/ is a folder of scripts, not a package
    Counts,
    SandboxProcess,
    create_shop,
    end_state,
    jobs_by_state,
    kill9,
    start_worker,
    worker_env,
)

#: The campaign's faults (docs/sandbox.md): each request draws them in this order.
FAULTS = {"reset_rate": 0.01, "error_rate": 0.10, "rate_limit_rate": 0.05, "timeout_after_commit_rate": 0.05}


@attrs.define
class Report:
    counts: Counts
    kills: int
    seconds: float
    requests: dict

    def lines(self) -> list[str]:
        return [*self.counts.lines(), f"kills: {self.kills}", f"seconds: {self.seconds:.0f}",
                f"sandbox requests: {self.requests.get('requests')} (by status {self.requests.get('by_status')}, "
                f"dropped {self.requests.get('dropped')})"]


def run_campaign(workdir: Path, *, orders: int = 1000, kill_every: int = 100, workers: int = 2, seed: int = 8,
                 read_timeout: float = 0.5, deadline_seconds: float = 1800.0,
                 faults: dict[str, float] | None = None, log: Callable[[str], None] = print) -> Report:
    """Run the campaign in ``workdir`` and return what FiC and the shop hold at the end."""
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "shop.db"
    rng = random.Random(seed)
    started = time.monotonic()
    with SandboxProcess(workdir) as sandbox:
        create_shop(db, orders, sandbox_url=sandbox.url)
        sandbox.limits_off()
        # A held request outlives the worker's read timeout, so the worker gives up first.
        sandbox.call("POST", "/__sandbox__/faults",
                     json={**(FAULTS if faults is None else faults), "hang_seconds": read_timeout * 2, "seed": seed})
        env = worker_env(sandbox.url, read_timeout=read_timeout)
        stderr = open(workdir / "worker.stderr", "ab")  # noqa: SIM115 - closed below
        pool = [start_worker(db, env, stderr=stderr) for _ in range(workers)]
        kills, victim = 0, 0
        baseline, next_kill = 0, _next_kill(rng, kill_every)
        try:
            while time.monotonic() - started < deadline_seconds:
                time.sleep(0.05)
                jobs = jobs_by_state(db)
                done, failed = jobs.get("done", 0), jobs.get("failed", 0)
                if sum(jobs.values()) >= orders and jobs.get("pending", 0) + jobs.get("running", 0) == 0:
                    break
                if done - baseline >= next_kill:
                    kill9(pool[victim])
                    kills += 1
                    log(f"  kill -9 #{kills} after {done} done jobs ({failed} failed)")
                    pool[victim] = start_worker(db, env, stderr=stderr)
                    victim = (victim + 1) % workers
                    baseline, next_kill = done, _next_kill(rng, kill_every)
                for index, worker in enumerate(pool):
                    if worker.poll() is not None:  # it should run until killed: say so, carry on
                        log(f"  worker exited by itself with {worker.returncode}; restarted")
                        pool[index] = start_worker(db, env, stderr=stderr)
        finally:
            for worker in pool:
                kill9(worker)
            stderr.close()
        counts = end_state(db, sandbox.documents(), sandbox.emails(), orders, sandbox.sdi_sends())
        return Report(counts=counts, kills=kills, seconds=time.monotonic() - started, requests=sandbox.stats())


def _next_kill(rng: random.Random, every: int) -> int:
    # Not a fixed period: kills land at every phase of a job (before, during, after FiC calls).
    return rng.randint(max(1, every // 2), max(1, every * 3 // 2))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--kill-every", type=int, default=100, help="finished jobs between two SIGKILLs (about)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes running at once")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--read-timeout", type=float, default=0.5, help="the worker's FIC_TIMEOUT_READ")
    parser.add_argument("--deadline", type=float, default=1800.0, help="give up after this many seconds")
    parser.add_argument("--keep", metavar="DIR", help="work in DIR and keep it (databases, logs)")
    args = parser.parse_args(argv)
    print(f"fault campaign: {args.orders} paid orders, faults {FAULTS}, {args.workers} worker(s), "
          f"SIGKILL every ~{args.kill_every} jobs", flush=True)
    with tempfile.TemporaryDirectory(prefix="fic-chaos-") as tmp:
        workdir = Path(args.keep or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        report = run_campaign(workdir, orders=args.orders, kill_every=args.kill_every, workers=args.workers,
                              seed=args.seed, read_timeout=args.read_timeout, deadline_seconds=args.deadline,
                              log=lambda text: print(text, flush=True))
    print("\n".join(report.lines()))
    for problem in report.counts.problems:
        print(f"FAIL: {problem}")
    print("PASS" if report.counts.ok else "FAIL")
    return 0 if report.counts.ok else 1


if __name__ == "__main__":
    sys.exit(main())
