"""Process-local snapshots of configuration that changes rarely and is read on every
inbound message (SLA policies and calendars, routing rules).

Each snapshot is rebuilt from the database when its version in the shared cache (Redis in
production, so every web and worker process agrees) differs from the one it was built
at. Writers call :func:`invalidate`: it bumps the version at once and again after the
transaction commits, so that a process which rebuilt from the database between the two
(still seeing the old rows) is told again. A reader pays one cache GET instead of the
queries; an unknown version (cache cleared, first start) means "rebuild".

Without the cache (Redis unreachable) a read builds from the database, as when
snapshots are off: slower, never stale.

Snapshots are shared by the threads of a process and must be treated as read-only.
They need a cache every process shares: without Redis (the embedded default, where the
SMTP listener or a second server would be another process with a cache of its own)
``CONFIG_SNAPSHOTS`` is off and every read builds afresh.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from typing import Generic, TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from omniservice.outages import REDIS_UNREACHABLE, log_outage

logger = logging.getLogger(__name__)

T = TypeVar("T")

_KEY = "config-version:{}"
_registry: dict[str, ConfigSnapshot] = {}


class ConfigSnapshot(Generic[T]):
    def __init__(self, name: str, build: Callable[[], T]) -> None:
        self.name = name
        self._build = build
        self._lock = threading.Lock()
        self._version: str | None = None
        self._value: T | None = None
        _registry[name] = self

    def get(self) -> T:
        if not settings.CONFIG_SNAPSHOTS:
            return self._build()
        try:
            version = _current_version(self.name)
        except REDIS_UNREACHABLE as exc:  # no version to trust: read the database
            log_outage(logger, f"configuration snapshot {self.name}", exc)
            return self._build()
        if version == self._version and self._value is not None:
            return self._value
        with self._lock:
            value = self._build()
            self._version, self._value = version, value
        return value


def _current_version(name: str) -> str:
    key = _KEY.format(name)
    version = cache.get(key)
    if version is None:
        cache.add(key, uuid.uuid4().hex, timeout=None)
        version = cache.get(key) or ""
    return version


def _bump(name: str) -> None:
    cache.set(_KEY.format(name), uuid.uuid4().hex, timeout=None)


def invalidate(*names: str) -> None:
    """The configuration behind these snapshots changed (call inside the writer's transaction)."""
    for name in names:
        _bump(name)
        transaction.on_commit(lambda name=name: _bump(name))


def snapshot(name: str, build: Callable[[], T]) -> ConfigSnapshot[T]:
    """The snapshot called ``name``, built by ``build`` when out of date."""
    return ConfigSnapshot(name, build)
