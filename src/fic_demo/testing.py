"""Run the whole demo inside a test: shop, sandbox and worker on free ports, in threads.

    with DemoServer(tmp_path) as demo:
        requests.post(demo.url + "/api/orders", json={...})
        demo.context.store.documents("1")

Browser and end-to-end tests share it, so they drive the same shop a user tries first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests

from .server import DemoRuntime


class DemoServer:
    """Context manager exposing ``url``, ``sandbox_url``, ``pm``, ``context``, ``db_path``, ``shop``.

    ``fic_url`` points the plugin at another FiC API (a test server) instead of the sandbox;
    ``worker=False`` leaves jobs queued so a test can run rounds itself; ``auto_invoice=True``
    starts it as ``fic demo`` does, with automatic invoices on.
    """

    def __init__(self, tmp_path: str | Path, fic_url: str | None = None, *, worker: bool = True,
                 worker_interval: float = 0.2, auto_invoice: bool = False):
        self.db_path = Path(tmp_path) / "shop.db"
        self.runtime = DemoRuntime(self.db_path, host="127.0.0.1", port=0, fic_url=fic_url, sandbox_port=0,
                                   worker_interval=worker_interval, worker=worker, auto_invoice=auto_invoice)

    def __enter__(self) -> DemoServer:
        self.runtime.start(serve_in_thread=True)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.runtime.stop()

    @property
    def url(self) -> str:
        return self.runtime.url

    @property
    def sandbox_url(self) -> str | None:
        return self.runtime.sandbox_url

    @property
    def pm(self) -> Any:
        return self.runtime.pm

    @property
    def context(self) -> Any:
        return self.runtime.context

    @property
    def shop(self) -> Any:
        return self.runtime.shop

    def place_order(self, body: dict) -> dict:
        """The order the demo's JSON API makes of ``body`` (``POST /api/orders``), as it shows it."""
        response = requests.post(self.url + "/api/orders", timeout=10, json=body)
        response.raise_for_status()
        return requests.get(f"{self.url}/api/orders/{response.json()['id']}", timeout=10).json()
