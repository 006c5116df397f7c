"""Channel adapters: one module per channel, all behind the ``Adapter`` contract."""

from __future__ import annotations

from channels_hub.adapters.base import Adapter, Notice, PermanentDeliveryError, SendResult
from channels_hub.adapters.builtin import BuiltinAdapter

_ADAPTERS: dict[str, Adapter] = {}


def register_adapter(adapter: Adapter) -> None:
    for channel in adapter.channels:
        _ADAPTERS[channel] = adapter


def adapter_for(channel: str) -> Adapter | None:
    return _ADAPTERS.get(channel)


register_adapter(BuiltinAdapter())

__all__ = [
    "Adapter",
    "Notice",
    "PermanentDeliveryError",
    "SendResult",
    "adapter_for",
    "register_adapter",
]
