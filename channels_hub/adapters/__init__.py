"""Channel adapters: one module per channel, all behind the ``Adapter`` contract."""

from __future__ import annotations

from channels_hub.adapters.base import (
    Adapter,
    InboundMessage,
    Notice,
    PermanentDeliveryError,
    Receipt,
    SendResult,
    TransientDeliveryError,
    WebhookBatch,
    WebhookRefused,
)
from channels_hub.adapters.builtin import BuiltinAdapter
from channels_hub.adapters.email import EmailAdapter
from channels_hub.adapters.messenger import InstagramAdapter, MessengerAdapter
from channels_hub.adapters.phone import PhoneAdapter
from channels_hub.adapters.sms import TwilioSmsAdapter
from channels_hub.adapters.web_chat import WebChatAdapter
from channels_hub.adapters.wechat import WeChatAdapter
from channels_hub.adapters.whatsapp import WhatsAppAdapter

_ADAPTERS: dict[str, Adapter] = {}


def register_adapter(adapter: Adapter) -> None:
    for channel in adapter.channels:
        _ADAPTERS[channel] = adapter


def adapter_for(channel: str) -> Adapter | None:
    return _ADAPTERS.get(channel)


for _adapter in (
    BuiltinAdapter(),
    WhatsAppAdapter(),
    MessengerAdapter(),
    InstagramAdapter(),
    TwilioSmsAdapter(),
    WeChatAdapter(),
    EmailAdapter(),
    WebChatAdapter(),
    PhoneAdapter(),
):
    register_adapter(_adapter)

__all__ = [
    "Adapter",
    "InboundMessage",
    "Notice",
    "PermanentDeliveryError",
    "Receipt",
    "SendResult",
    "TransientDeliveryError",
    "WebhookBatch",
    "WebhookRefused",
    "adapter_for",
    "register_adapter",
]
