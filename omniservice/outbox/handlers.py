"""The registry of outbox handlers, one per topic.

Apps above the kernel register their handlers in ``AppConfig.ready()``; the kernel
never imports them. A handler receives the message payload and either returns (done) or
raises: ``PermanentFailure`` gives up at once, anything else is retried with backoff.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Handler = Callable[[dict[str, Any]], None]
GiveUpHandler = Callable[[dict[str, Any], str], None]
_handlers: dict[str, Handler] = {}
_give_up_handlers: dict[str, GiveUpHandler] = {}


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


def on_give_up(topic: str) -> Callable[[GiveUpHandler], GiveUpHandler]:
    """Register what to do when a message of ``topic`` is given up for good (after its
    last retry or a ``PermanentFailure``): e.g. mark the reply failed with the reason."""

    def decorator(func: GiveUpHandler) -> GiveUpHandler:
        _give_up_handlers[topic] = func
        return func

    return decorator


def give_up_handler_for(topic: str) -> GiveUpHandler | None:
    return _give_up_handlers.get(topic)
