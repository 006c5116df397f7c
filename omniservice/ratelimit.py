"""Rate limits for every public surface: one fixed-window counter in the cache, and the
client address the limits are keyed by.

A fixed window costs one cache round trip per request (``add`` then ``incr``, atomic on
Redis and on the local-memory cache) and needs no clean-up: a window's key expires on its
own. Its known trade-off, accepted here as in most API gateways, is that a client can
spend two windows' worth in the seconds around a window's edge.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache


@dataclass(frozen=True)
class Hit:
    allowed: bool
    count: int
    retry_after: float  # seconds until the current window ends


def now() -> float:
    """The clock of the windows (a function, so that tests can hold it still)."""
    return time.time()


def hit(key: str, limit: int, window_seconds: int = 60) -> Hit:
    """Count one request against ``key``; allowed while the window's count <= limit."""
    at = now()
    window = int(at // window_seconds)
    cache_key = f"rate:{key}:{window}"
    cache.add(cache_key, 0, timeout=window_seconds * 2)
    try:
        count = cache.incr(cache_key)
    except ValueError:  # expired between add and incr
        cache.add(cache_key, 1, timeout=window_seconds * 2)
        count = 1
    return Hit(
        allowed=count <= limit,
        count=count,
        retry_after=(window + 1) * window_seconds - at,
    )


def client_address(meta: dict[str, Any]) -> str:
    """The client's address. Behind our own TLS proxy (``BEHIND_TLS_PROXY``), the one the
    proxy appended last to X-Forwarded-For: a client can forge only the entries before it.
    Without the proxy, X-Forwarded-For is the client's own word and is ignored."""
    forwarded = str(meta.get("HTTP_X_FORWARDED_FOR", ""))
    if forwarded and getattr(settings, "SECURE_PROXY_SSL_HEADER", None):
        last = forwarded.rsplit(",", 1)[-1].strip()
        if last:
            return last
    return str(meta.get("REMOTE_ADDR", "")) or "unknown"
