"""Keep tokens, client secrets and authorization codes out of every log line and error text.

The client never formats a secret into a message on purpose; this is the second line of
defence for what we do not control (a library logging a URL, FiC echoing a value back). Every
secret the client handles is registered here, and :class:`RedactSecrets` replaces it with
``[redacted]`` in log records of the client's and the HTTP libraries' loggers.
"""

from __future__ import annotations

import logging
import re
import threading

REDACTED = "[redacted]"
# Shorter strings would redact innocent text ("1", "abc"); real tokens are long.
_MIN_LENGTH = 6
#: Loggers whose records may carry URLs or bodies of the client's requests. A logger's filter
#: does not see its children's records, so the children that log are named too.
LOGGERS = ("fic_plugin.fic", "urllib3.connectionpool", "urllib3", "requests", "vcr", "vcr.stubs", "vcr.cassette")
#: A token FiC has just issued is not registered yet when a library logs the answer carrying it
#: (vcrpy logs whole bodies at DEBUG), so the values of these fields are redacted whatever they are.
_SECRET_FIELD = re.compile(r"""(["']?\b(?:access_token|refresh_token|client_secret|id_token)\b["']?\s*[:=]\s*["']?)"""
                           r"""[^"'&\s,}]{6,}""")
#: FiC's access tokens, refresh tokens and authorization codes look like ``a/…``, ``r/…``, ``c/…``.
_FIC_TOKEN = re.compile(r"(?<![\w/])[acr]/[A-Za-z0-9_-]{16,}")

_secrets: set[str] = set()
_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Remember ``value`` so it is redacted from now on (tokens, secrets, codes)."""
    if value and len(value) >= _MIN_LENGTH:
        with _lock:
            _secrets.add(value)


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``[redacted]``."""
    with _lock:
        known = sorted(_secrets, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, REDACTED)
    text = _SECRET_FIELD.sub(lambda match: match.group(1) + REDACTED, text)
    return _FIC_TOKEN.sub(REDACTED, text)


class RedactSecrets(logging.Filter):
    """A logging filter (for loggers or handlers) that rewrites records without secrets."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is not ours to fix; still hide secrets
            message = f"{record.msg} {record.args}"
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


_FILTER = RedactSecrets()


def install() -> None:
    """Attach the filter to the loggers that see the client's traffic (idempotent)."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


install()
