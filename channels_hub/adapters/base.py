"""The contract every channel adapter follows for outbound delivery."""

from __future__ import annotations

from dataclasses import dataclass

from tickets.models import Message


class PermanentDeliveryError(Exception):
    """The provider refused the message for good (4xx, closed window, bad address)."""


@dataclass(frozen=True)
class SendResult:
    status: str  # "sent" or "delivered"
    provider_message_id: str = ""


class Adapter:
    channels: tuple[str, ...] = ()

    def send(self, message: Message) -> SendResult:
        """Deliver one outbound message; raise PermanentDeliveryError or a transient error."""
        raise NotImplementedError
