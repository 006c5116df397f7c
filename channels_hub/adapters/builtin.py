"""Channels served by omniservice itself, with no external provider.

- ``console``: a reply visible in the console and the customer's history only;
- ``api``, ``kiosk``: the partner app or kiosk reads replies through
  ``GET /api/v1/tickets/{number}/messages/``, so a reply is *sent* once it is stored
  there; the app confirms delivery and reads through the API when it shows it;
- ``store``: written down for the store staff's tablet.
"""

from __future__ import annotations

from channels_hub.adapters.base import Adapter, SendResult
from tickets.models import Channel, DeliveryStatus, Message


class BuiltinAdapter(Adapter):
    channels = (Channel.CONSOLE, Channel.API, Channel.KIOSK, Channel.STORE)

    def send(self, message: Message) -> SendResult:
        status = (
            DeliveryStatus.DELIVERED if message.channel == Channel.CONSOLE else DeliveryStatus.SENT
        )
        return SendResult(status=status, provider_message_id=f"omni-{message.pk}")
