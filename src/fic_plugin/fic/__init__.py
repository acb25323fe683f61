"""The Fatture in Cloud API client: see :mod:`fic_plugin.fic.client` and docs/fic-client.md."""

from .client import FicClient
from .ratelimit import Quota, RateLimits
from .transport import Backoff, RequestRecord, Timeouts

__all__ = ["Backoff", "FicClient", "Quota", "RateLimits", "RequestRecord", "Timeouts"]
