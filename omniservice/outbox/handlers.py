"""The registry of outbox handlers, one per topic.

Apps above the kernel register their handlers in ``AppConfig.ready()``; the kernel
never imports them. A handler receives the message payload and either returns (done) or
raises: ``PermanentFailure`` gives up at once, anything else is retried with backoff.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Handler = Callable[[dict[str, Any]], None]
_handlers: dict[str, Handler] = {}


class PermanentFailure(Exception):
    """The side effect can never succeed (e.g. the provider rejected it for good)."""


def register(topic: str) -> Callable[[Handler], Handler]:
    def decorator(func: Handler) -> Handler:
        existing = _handlers.get(topic)
        if existing is not None and existing is not func:
            raise RuntimeError(f"outbox topic {topic!r} already has a handler")
        _handlers[topic] = func
        return func

    return decorator


def handler_for(topic: str) -> Handler | None:
    return _handlers.get(topic)
