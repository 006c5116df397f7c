"""Channels served by omniservice itself, with no external provider.

- ``console``: a reply visible in the console and the customer's history only;
- ``api``, ``kiosk``: the partner app or kiosk reads replies through
  ``GET /api/v1/tickets/{number}/messages/``, so a reply is *sent* once it is stored
  there; the app confirms delivery and reads through the API when it shows it;
- ``store``: written down for the store staff's tablet.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from channels_hub.adapters.base import Adapter, ChannelLimits, SendResult
from tickets.attachments import MAX_ATTACHMENT_BYTES, SERVABLE_TYPES
from tickets.models import Channel, DeliveryStatus, Message

if TYPE_CHECKING:
    from channels_hub.models import ChannelConnection


class BuiltinAdapter(Adapter):
    channels = (Channel.CONSOLE, Channel.API, Channel.KIOSK, Channel.STORE)
    limits = ChannelLimits(
        max_text_chars=20_000,
        attachment_types=SERVABLE_TYPES,
        max_attachment_bytes=MAX_ATTACHMENT_BYTES,
    )
    needs_connection = False

    def send(self, message: Message, connection: ChannelConnection | None) -> SendResult:
        status = (
            DeliveryStatus.DELIVERED if message.channel == Channel.CONSOLE else DeliveryStatus.SENT
        )
        return SendResult(status=status, provider_message_id=f"omni-{message.pk}")
