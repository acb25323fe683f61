"""Serving the sandbox: ``SandboxServer`` (a real HTTP server in a background thread, for tests
and the demo) and ``run_sandbox`` (the ``fic sandbox`` command, serves until Ctrl-C)."""

from __future__ import annotations

import errno
import socket
import sys
import threading
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from fic_plugin.errors import FicError
from fic_plugin.i18n import _

from . import seeds
from .app import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, Sandbox

__all__ = ["SandboxServer", "run_sandbox"]


class _QuietHandler(WSGIRequestHandler):
    """No access log: tests and the demo would drown in it."""

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        pass


def _listening_socket(host: str, port: int) -> socket.socket:
    """Bind ourselves so a busy port is our error to word (werkzeug would print and exit)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise FicError(_("Port {port} is already in use: stop the other program or use --port")
                           .format(port=port)) from None
        raise FicError(_("Cannot listen on {host}:{port} ({reason}): use another --host or --port")
                       .format(host=host, port=port, reason=error.strerror)) from None
    return sock


class SandboxServer:
    """The local FiC API on a real port, served from a background thread.

    ``with SandboxServer() as sandbox:`` gives ``sandbox.url`` and ``sandbox.company_id``; the
    application object (state, faults, limits) is ``sandbox.app``.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, state: str = ":memory:", token: str | None = None,
                 *, company_id: int = seeds.COMPANY_ID, client_id: str = DEFAULT_CLIENT_ID,
                 client_secret: str = DEFAULT_CLIENT_SECRET, quiet: bool = True, many_companies: bool = False):
        self.host = host
        self.port = port
        self.app = Sandbox(state=state, token=token, company_id=company_id, client_id=client_id,
                           client_secret=client_secret, many_companies=many_companies)
        self.quiet = quiet
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def company_id(self) -> int:
        return self.app.company_id

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the sandbox is not running: call start() or use it as a context manager")
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host  # noqa: S104 - only naming it
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self._server.socket.getsockname()[1]}"

    def bind(self) -> BaseWSGIServer:
        sock = _listening_socket(self.host, self.port)
        try:
            server = make_server(self.host, self.port, self.app, threaded=True, fd=sock.fileno(),
                                 request_handler=_QuietHandler if self.quiet else None)
        finally:
            sock.close()  # make_server holds its own duplicate of the descriptor
        # Keep-alive connections park a thread each; never let them block stop().
        server.block_on_close = False  # type: ignore[attr-defined]
        self._server = server
        return server

    def start(self) -> SandboxServer:
        server = self.bind()
        self._thread = threading.Thread(target=server.serve_forever, name="fic-sandbox", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; requests held by injected faults are let go at once."""
        self.app.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None
        self.app.close()
        self.app.stopping.clear()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()


def run_sandbox(host: str, port: int, state: str, token: str | None, many_companies: bool = False) -> int:
    """``fic sandbox``: serve until interrupted; a busy port raises FicError (one line, exit 1)."""
    sandbox = SandboxServer(host=host, port=port, state=state, token=token, quiet=False,
                            many_companies=many_companies)
    server = sandbox.bind()
    print(_("FiC sandbox listening on {url} (company {company}); side channel at {url}/__sandbox__/")
          .format(url=sandbox.url, company=sandbox.company_id), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print(_("Sandbox stopped."), file=sys.stderr)
    finally:
        sandbox.app.stopping.set()
        sandbox.app.close()
        server.server_close()
    return 0
