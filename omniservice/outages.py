"""Surviving a Redis outage where PostgreSQL alone can carry on.

Redis holds the cache (configuration versions, wake-up markers), the Celery broker and
the channel layer; PostgreSQL holds everything that must not be lost. A caller that can
do its job without Redis (a webhook storing a delivery, a wake-up call after commit that
a periodic sweep repeats anyway) catches :data:`REDIS_UNREACHABLE` and says so with
:func:`log_outage`, which writes one warning per subject and half-minute rather than
one per request.
"""

from __future__ import annotations

import logging
import threading
import time

from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import RedisError

REDIS_UNREACHABLE: tuple[type[Exception], ...] = (
    RedisError,
    BrokerError,
    ConnectionError,
    TimeoutError,
)
LOG_EVERY_SECONDS = 30.0

_last_logged: dict[str, float] = {}
_lock = threading.Lock()


def log_outage(logger: logging.Logger, subject: str, error: Exception) -> None:
    """Warn that ``subject`` went on without Redis (at most once per half-minute)."""
    now = time.monotonic()
    with _lock:
        last = _last_logged.get(subject)
        if last is not None and now - last < LOG_EVERY_SECONDS:
            return
        _last_logged[subject] = now
    logger.warning("redis unreachable (%s): %s: %s", subject, type(error).__name__, error)
