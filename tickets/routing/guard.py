"""Marks ticket changes made by routing itself, so its own ``ticket_changed`` receiver
does not react to them (no queue rewrite, no new routing run for each assignment)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

_ACTIVE: ContextVar[bool] = ContextVar("tickets_routing_writes", default=False)


@contextlib.contextmanager
def routing_writes() -> Iterator[None]:
    token = _ACTIVE.set(True)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def routing_is_writing() -> bool:
    return _ACTIVE.get()
