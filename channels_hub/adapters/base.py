"""The contract every channel adapter follows for outbound delivery."""

from __future__ import annotations

from dataclasses import dataclass

from customers.models import Customer
from tickets.models import Message


class PermanentDeliveryError(Exception):
    """The provider refused the message for good (4xx, closed window, bad address)."""


@dataclass(frozen=True)
class Notice:
    """A message to a customer outside any ticket (a survey invitation, an outreach)."""

    customer: Customer
    channel: str
    text: str
    reference: str  # stable per notice, for the provider's own deduplication


@dataclass(frozen=True)
class SendResult:
    status: str  # "sent" or "delivered"
    provider_message_id: str = ""


class Adapter:
    channels: tuple[str, ...] = ()

    def send(self, message: Message) -> SendResult:
        """Deliver one outbound message; raise PermanentDeliveryError or a transient error."""
        raise NotImplementedError

    def send_notice(self, notice: Notice) -> SendResult:
        """Start a conversation with a customer (no ticket); channels that cannot refuse."""
        raise PermanentDeliveryError(f"the {notice.channel} channel cannot send notices")
