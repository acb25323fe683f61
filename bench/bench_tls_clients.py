"""``make bench-tls``: what a client costs a worker that opens shop after shop, over HTTPS as FiC is.

A local HTTPS server (a self-signed certificate added to certifi's bundle, so each SSL context
loads as many CA certificates as against the real FiC) answers FiC's VAT types. Each mode runs in
a fresh process: 200 clients, one per shop as a worker reopening shops makes them, each asking
once; reported per client: resident memory kept (the clients stay alive, as a worker's 256 kept
shops do) and CPU time.

- floor: one client asking 200 times (one connection, one SSL context);
- plugin: a client per shop on the process's shared pool (``fic_plugin.fic.http_pool``);
- a pool per client: what each client had before, its own session's connections.

    .venv/bin/python bench/bench_tls_clients.py [--clients 200] [--no-write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.server
import json
import os
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import certifi
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_scale import write_results  # noqa: E402 - bench/ is a folder of scripts, not a package

BEGIN, END = "<!-- bench-tls:begin -->", "<!-- bench-tls:end -->"
MODES = ("floor", "plugin", "own pool")
VAT_TYPES = json.dumps({"data": [{"id": n, "value": 22, "description": f"IVA {n}", "e_invoice": True}
                                 for n in range(40)]}).encode()


def make_certificate(folder: Path) -> tuple[Path, Path, Path]:
    """A self-signed certificate for 127.0.0.1, its key, and certifi's bundle with it added."""
    import ipaddress

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    (folder / "cert.pem").write_bytes(cert_pem)
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    (folder / "bundle.pem").write_bytes(Path(certifi.where()).read_bytes() + b"\n" + cert_pem)
    return folder / "cert.pem", folder / "key.pem", folder / "bundle.pem"


class Answer(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as FiC
    disable_nagle_algorithm = True

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(VAT_TYPES)))
        self.end_headers()
        self.wfile.write(VAT_TYPES)

    def log_message(self, *args: object) -> None:
        pass


def serve(cert: Path, key: Path) -> http.server.ThreadingHTTPServer:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def measure(mode: str, url: str, clients: int) -> dict:
    """In this (fresh) process: ``clients`` clients as ``mode`` makes them; memory and CPU per client."""
    import requests

    from fic_plugin.fic.client import FicClient
    from fic_plugin.fic.ratelimit import RateLimits

    relaxed = RateLimits(hourly=10**6, short_term=10**6)

    def rss_kib() -> int:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))

    FicClient(url, "token", 1, limits=relaxed).vat_types()  # imports, the first pool: not counted
    kept, before, cpu = [], rss_kib(), time.process_time()
    for n in range(clients):
        if mode == "floor" and kept:
            client = kept[0]
        else:
            client = FicClient(url, "token", 1000 + n, limits=relaxed)
            if mode == "own pool":  # the session's own connections, as before the shared pool
                for prefix in ("https://", "http://"):
                    client.transport.session.mount(prefix, requests.adapters.HTTPAdapter())
        client.vat_types()
        client.clear_lookups()  # the next client (or call) asks FiC: what is measured is the connection
        kept.append(client)
    return {"cpu_ms": (time.process_time() - cpu) * 1000 / clients, "kib": (rss_kib() - before) / clients}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--no-write", action="store_true", help="print, do not touch RESULTS.md")
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # MODE URL: one mode, in a process of its own
    args, rest = parser.parse_known_args()
    if args.measure:
        print(json.dumps(measure(args.measure, rest[0], args.clients)))
        return 0
    with tempfile.TemporaryDirectory(prefix="fic-bench-tls-") as folder:
        cert, key, bundle = make_certificate(Path(folder))
        server = serve(cert, key)
        url = f"https://127.0.0.1:{server.server_address[1]}"
        env = {**os.environ, "REQUESTS_CA_BUNDLE": str(bundle)}
        results = {}
        for mode in MODES:
            answer = subprocess.run([sys.executable, __file__, "--clients", str(args.clients), "--measure", mode, url],
                                    env=env, capture_output=True, text=True, check=True)
            results[mode] = json.loads(answer.stdout.strip().splitlines()[-1])
        server.shutdown()
    floor, plugin, own = (results[mode] for mode in MODES)
    section = "\n".join([
        BEGIN, "## A client per shop over HTTPS (`make bench-tls`)", "",
        f"Run {dt.datetime.now():%Y-%m-%d %H:%M}: {args.clients} clients in one process, one per shop as a worker "
        "reopening shops makes them, each asking a local HTTPS server once (its certificate added to certifi's "
        "bundle, so each SSL context loads as many CA certificates as against FiC); the clients stay alive, as a "
        "worker's kept shops do. Each row is a fresh process.", "",
        "| | KiB kept per client | CPU ms per client |", "|---|---|---|",
        f"| floor: one client asking {args.clients} times | {floor['kib']:.0f} | {floor['cpu_ms']:.2f} |",
        f"| fic-plugin: a client per shop, the process's shared pool | {plugin['kib']:.0f} | {plugin['cpu_ms']:.2f} |",
        f"| a client per shop, each with its own pool (before) | {own['kib']:.0f} | {own['cpu_ms']:.2f} |", "",
        f"A worker keeping 256 shops open: {256 * plugin['kib'] / 1024:.0f} MiB of clients with the shared pool, "
        f"{256 * own['kib'] / 1024:.0f} MiB with a pool each; every reopened shop costs "
        f"{plugin['cpu_ms']:.1f} ms of CPU against {own['cpu_ms']:.1f} (a TLS handshake and the CA bundle loaded "
        "into a new SSL context, for a host the process was already connected to).",
        END])
    print(section)
    if not args.no_write:
        write_results(section, BEGIN, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
