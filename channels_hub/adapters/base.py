"""The contract every channel adapter follows, inbound and outbound.

Inbound, the webhook view (``channels_hub/webhooks.py``) finds the connection from the
URL, then asks its adapter to ``verify`` the raw request (signature, timestamp), to
``parse`` it into normalised ``InboundMessage`` and ``Receipt`` items, and to
``acknowledge`` it in the form the provider expects. Outbound, the outbox handler
(``channels_hub/delivery.py``) asks the adapter to ``check`` a reply against the
channel's limits and windows, then to ``send`` it.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _

from customers.identity import IdentityClaim, normalize_value
from customers.models import Customer, Identity, IdentityKind
from tickets.attachments import UploadedContent
from tickets.models import Direction, Message

if TYPE_CHECKING:
    from channels_hub.models import ChannelConnection


class PermanentDeliveryError(Exception):
    """The provider refused the message for good (4xx, closed window, bad address)."""


class TransientDeliveryError(Exception):
    """The provider may accept the message later (5xx, 429, timeout): the outbox retries."""


class WebhookRefused(Exception):
    """A webhook request that must not be processed: nothing is written.

    ``status`` is the HTTP answer (401 for a missing or forged signature or a stale
    timestamp, 400 for a body that cannot be read); ``code`` is machine-readable.
    """

    def __init__(self, message: str, *, code: str, status: int = 401) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


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
    # The provider's address of the customer, for channels whose receipts name the
    # conversation rather than the message (Messenger's read watermark).
    recipient: str = ""


@dataclass(frozen=True)
class MediaRef:
    """A file the provider keeps for us (an image id): fetched after the commit."""

    ref: str
    filename: str


@dataclass(frozen=True)
class InboundMessage:
    """One customer message as every channel reports it."""

    channel: str
    external_id: str
    identities: Sequence[IdentityClaim]
    text: str = ""
    html: str = ""
    subject: str = ""
    attachments: Sequence[UploadedContent] = ()
    profile: dict[str, Any] = field(default_factory=dict)
    store_code: str = ""
    media: Sequence[MediaRef] = ()


@dataclass(frozen=True)
class Receipt:
    """A provider's delivery or read report for one outbound message."""

    provider_message_id: str
    status: str  # a DeliveryStatus value
    reason: str = ""


@dataclass(frozen=True)
class Watermark:
    """A receipt for a whole conversation: every reply to ``recipient`` on this connection
    sent at or before ``up_to`` reached ``status`` (Messenger's ``watermark``)."""

    recipient: str
    up_to: datetime
    status: str  # DeliveryStatus.DELIVERED or READ


@dataclass
class WebhookBatch:
    messages: list[InboundMessage] = field(default_factory=list)
    receipts: list[Receipt] = field(default_factory=list)
    watermarks: list[Watermark] = field(default_factory=list)
    ignored: int = 0  # events the adapter read but that carry nothing to store


@dataclass(frozen=True)
class ChannelLimits:
    max_text_chars: int = 4096
    attachment_types: frozenset[str] = frozenset()
    max_attachment_bytes: int = 0
    # After the customer's last message, free-form replies are allowed for this long.
    reply_window: timedelta | None = None


@dataclass(frozen=True)
class ConnectionField:
    """One setting (or, with ``secret``, one credential) the console asks for."""

    name: str
    label: Any  # a lazy translation
    secret: bool = False
    required: bool = True
    kind: str = "text"  # "text", "url" or "bool"
    help_text: Any = ""


def constant_time_equal(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.encode())


def check_signed_timestamp(timestamp: str) -> None:
    """A signed Unix timestamp must be within ``CHANNEL_WEBHOOK_TOLERANCE_SECONDS`` of
    now: an older (or future) request is a replay, refused with 401."""
    try:
        skew = abs(time.time() - int(timestamp))
    except ValueError as exc:
        raise WebhookRefused(
            _("The timestamp is not a number."), code="malformed", status=400
        ) from exc
    if skew > settings.CHANNEL_WEBHOOK_TOLERANCE_SECONDS:
        raise WebhookRefused(
            _("The request is too old or from the future."), code="stale_timestamp"
        )


class Adapter:
    channels: tuple[str, ...] = ()
    limits = ChannelLimits()
    # Channels served by omniservice itself (console, store, kiosk) have no provider account.
    needs_connection = True
    # Email arrives over SMTP and IMAP instead: its connections have no webhook URL.
    receives_webhooks = True
    connection_fields: tuple[ConnectionField, ...] = ()

    # --- inbound --------------------------------------------------------------------
    def handshake(self, request: HttpRequest, connection: ChannelConnection) -> HttpResponse:
        """Answer the provider's URL verification (a GET); refuse by default."""
        raise WebhookRefused(
            _("This channel has no URL verification."), code="no_handshake", status=405
        )

    def verify(self, request: HttpRequest, connection: ChannelConnection) -> None:
        """Raise ``WebhookRefused`` unless the raw request is signed by the provider."""
        raise NotImplementedError

    def parse(self, request: HttpRequest, connection: ChannelConnection) -> WebhookBatch:
        raise NotImplementedError

    def acknowledge(self, batch: WebhookBatch) -> HttpResponse:
        return HttpResponse(status=200)

    # --- outbound -------------------------------------------------------------------
    def check(
        self,
        message: Message,
        connection: ChannelConnection | None,
        *,
        last_inbound_at: datetime | None,
        now: datetime,
    ) -> None:
        """Raise ``PermanentDeliveryError`` with the reason when the reply cannot be sent."""
        limits = self.limits
        if len(message.body_text) > limits.max_text_chars:
            raise PermanentDeliveryError(
                _("The message is longer than %(limit)s characters, the limit of %(channel)s.")
                % {"limit": limits.max_text_chars, "channel": message.get_channel_display()}
            )
        for attachment in message.attachments.all():
            if attachment.content_type not in limits.attachment_types:
                raise PermanentDeliveryError(
                    _("%(channel)s does not take %(type)s attachments.")
                    % {"channel": message.get_channel_display(), "type": attachment.content_type}
                )
            if attachment.size > limits.max_attachment_bytes:
                raise PermanentDeliveryError(
                    _("%(name)s is larger than %(channel)s accepts.")
                    % {"name": attachment.filename, "channel": message.get_channel_display()}
                )
        window = self.reply_window(message)
        if window is not None and (last_inbound_at is None or now - last_inbound_at > window):
            raise PermanentDeliveryError(
                window_closed_reason(message.get_channel_display(), window)
            )

    def reply_window(self, message: Message) -> timedelta | None:
        """How long after the customer's last message on the channel a reply may leave."""
        return self.limits.reply_window

    def send(self, message: Message, connection: ChannelConnection | None) -> SendResult:
        """Deliver one outbound message; raise Permanent- or TransientDeliveryError."""
        raise NotImplementedError

    def fetch_media(self, connection: ChannelConnection, ref: str) -> bytes:
        """The bytes of a provider-held file named in a webhook (``MediaRef.ref``)."""
        raise PermanentDeliveryError(_("This channel keeps no files to fetch."))

    def send_test(self, connection: ChannelConnection, to: str) -> SendResult:
        """The console's "send test" button: one short text to ``to``."""
        raise PermanentDeliveryError(_("This channel cannot send a test message."))

    def send_notice(self, notice: Notice, connection: ChannelConnection | None) -> SendResult:
        """Start a conversation with a customer (no ticket: a survey invitation); only
        channels that may write first implement it."""
        raise PermanentDeliveryError(
            _("%(channel)s cannot start a conversation.") % {"channel": notice.channel}
        )


def window_closed_reason(channel: str, window: timedelta) -> str:
    if window >= timedelta(days=3):
        return _(
            "The %(days)s-day reply window of %(channel)s is closed: the customer has not "
            "written for longer. Reply on another channel."
        ) % {"days": window.days, "channel": channel}
    hours = int(window.total_seconds() // 3600)
    return _(
        "The %(hours)s-hour reply window of %(channel)s is closed: the customer has not "
        "written for longer. Only approved templates may be sent; reply on another channel."
    ) % {"hours": hours, "channel": channel}


def last_inbound_at(message: Message) -> datetime | None:
    """When the customer last wrote on this reply's channel (the reply window's start)."""
    return (
        Message.objects.filter(
            ticket__customer_id=message.ticket.customer_id,
            channel=message.channel,
            direction=Direction.INBOUND,
        )
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )


def claim(kind: str, raw: str, *, verified: bool = False) -> IdentityClaim:
    """A normalised identity claim; ``InvalidIdentity`` when the provider sent junk."""
    return IdentityClaim(kind, normalize_value(kind, raw), verified)


def body_of(request: HttpRequest) -> bytes:
    """The raw body (signatures are computed over it); 400 when it is too large."""
    try:
        return request.body
    except RequestDataTooBig as exc:
        raise WebhookRefused(
            _("The request body is too large."), code="body_too_large", status=413
        ) from exc


def customer_identity(message: Message, kind: str) -> str:
    """The value of the customer's newest identity of ``kind`` (where replies go)."""
    return identity_of_customer(message.ticket.customer_id, kind)


def identity_of_customer(customer_id: int, kind: str) -> str:
    value = (
        Identity.objects.filter(customer_id=customer_id, kind=kind)
        .order_by("-pk")
        .values_list("value", flat=True)
        .first()
    )
    if not value:
        raise PermanentDeliveryError(
            _("The customer has no %(kind)s to reply to.") % {"kind": IdentityKind(kind).label}
        )
    return value
