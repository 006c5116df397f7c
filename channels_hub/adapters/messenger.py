"""Facebook Messenger and Instagram Direct: the same Meta webhook family and Send API.

Webhooks carry ``entry[].messaging[]`` events: ``message`` (the page's own echoes are
skipped), ``delivery`` (``mids`` and/or a ``watermark``), and ``read``: on Messenger a
``watermark`` (every message the page sent the sender at or before it, in ms, was read),
on Instagram (``messaging_seen``) the ``mid``. Replies go to ``/me/messages`` with the
page token, as a ``RESPONSE`` inside the 24-hour window; the recipient is kept with the
reply, so that a watermark finds the replies of its conversation.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from channels_hub.adapters.base import (
    ChannelLimits,
    InboundMessage,
    Receipt,
    SendResult,
    Watermark,
    WebhookBatch,
    claim,
    customer_identity,
    last_inbound_at,
)
from channels_hub.adapters.meta import META_FIELDS, MetaAdapter, meta_error_reason
from channels_hub.provider_http import call_provider, json_body
from customers.identity import InvalidIdentity
from customers.models import IdentityKind
from tickets.models import REPLY_WINDOWS, Channel, DeliveryStatus, Message, reply_window

if TYPE_CHECKING:
    from channels_hub.models import ChannelConnection

logger = logging.getLogger(__name__)


class MessengerAdapter(MetaAdapter):
    channels = (Channel.MESSENGER,)
    webhook_object = "page"
    identity_kind = IdentityKind.FACEBOOK_PSID
    provider = "Messenger"
    limits = ChannelLimits(max_text_chars=2000, reply_window=REPLY_WINDOWS[Channel.MESSENGER])
    connection_fields = META_FIELDS

    def parse(self, request: HttpRequest, connection: ChannelConnection) -> WebhookBatch:
        batch = WebhookBatch()
        for entry in self.payload(request)["entry"]:
            for event in entry.get("messaging") or []:
                self._read_event(event, batch)
        return batch

    def _read_event(self, event: dict[str, Any], batch: WebhookBatch) -> None:
        message = event.get("message")
        if isinstance(message, dict) and not message.get("is_echo"):
            inbound = self._message(event, message)
            if inbound is not None:
                batch.messages.append(inbound)
                return
        for key, status in (("delivery", DeliveryStatus.DELIVERED), ("read", DeliveryStatus.READ)):
            receipt = event.get(key)
            if isinstance(receipt, dict) and self._read_receipt(event, receipt, status, batch):
                return
        batch.ignored += 1

    def _read_receipt(
        self, event: dict[str, Any], receipt: dict[str, Any], status: str, batch: WebhookBatch
    ) -> bool:
        """``mids`` (deliveries) or ``mid`` (Instagram reads) name messages; a
        ``watermark`` (Messenger, in ms) covers the customer's whole conversation."""
        mids = receipt.get("mids") if isinstance(receipt.get("mids"), list) else []
        if receipt.get("mid"):
            mids = [*mids, receipt["mid"]]
        batch.receipts.extend(
            Receipt(provider_message_id=str(mid), status=status) for mid in mids if mid
        )
        watermark = self._watermark(event, receipt.get("watermark"), status)
        if watermark is not None:
            batch.watermarks.append(watermark)
        return bool(mids) or watermark is not None

    def _watermark(self, event: dict[str, Any], value: Any, status: str) -> Watermark | None:
        sender = (event.get("sender") or {}).get("id")
        if value is None or not sender:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            logger.warning("%s: receipt with a malformed watermark ignored", self.provider)
            return None
        try:
            up_to = datetime.fromtimestamp(value / 1000, tz=UTC)
            recipient = claim(self.identity_kind, str(sender)).value
        except (OverflowError, OSError, ValueError, InvalidIdentity):
            logger.warning("%s: receipt with a malformed watermark ignored", self.provider)
            return None
        return Watermark(recipient=recipient, up_to=up_to, status=status)

    def _message(self, event: dict[str, Any], message: dict[str, Any]) -> InboundMessage | None:
        sender = (event.get("sender") or {}).get("id")
        mid = message.get("mid")
        text = str(message.get("text") or "")
        if not text:
            kinds = [
                str(a.get("type", "file"))
                for a in message.get("attachments") or []
                if isinstance(a, dict)
            ]
            text = " ".join(f"[{kind}]" for kind in kinds)
        if not sender or not mid or not text:
            return None
        try:
            identities = [claim(self.identity_kind, str(sender))]
        except InvalidIdentity:
            logger.warning("%s: message %s dropped: bad sender id", self.provider, mid)
            return None
        return InboundMessage(
            channel=self.channels[0], external_id=str(mid), identities=identities, text=text
        )

    def reply_window(self, message: Message) -> timedelta | None:
        return reply_window(message.channel)  # 7 days with the human agent tag

    def send(self, message: Message, connection: ChannelConnection | None) -> SendResult:
        assert connection is not None
        return self._send_text(
            connection,
            customer_identity(message, self.identity_kind),
            message.body_text,
            human_agent=settings.META_HUMAN_AGENT_TAG and self._after_standard_window(message),
        )

    def _after_standard_window(self, message: Message) -> bool:
        last = last_inbound_at(message)
        return last is None or timezone.now() - last > REPLY_WINDOWS[message.channel]

    def send_test(self, connection: ChannelConnection, to: str) -> SendResult:
        return self._send_text(connection, to, _("omniservice test message"))

    def _send_text(
        self, connection: ChannelConnection, to: str, text: str, *, human_agent: bool = False
    ) -> SendResult:
        """Inside the 24-hour window a ``RESPONSE``; after it (allowed only with the
        permission) the ``HUMAN_AGENT`` tag, which Meta requires there."""
        body: dict[str, Any] = {"recipient": {"id": to}, "message": {"text": text}}
        if human_agent:
            body.update(messaging_type="MESSAGE_TAG", tag="HUMAN_AGENT")
        else:
            body["messaging_type"] = "RESPONSE"
        response = call_provider(
            "POST",
            self.graph_url(connection, "me/messages"),
            provider=self.provider,
            reason_of=meta_error_reason,
            headers=self.auth_headers(connection),
            json=body,
        )
        return SendResult(
            status=DeliveryStatus.SENT,
            provider_message_id=str(json_body(response)["message_id"]),
            recipient=to,
        )


class InstagramAdapter(MessengerAdapter):
    channels = (Channel.INSTAGRAM,)
    webhook_object = "instagram"
    identity_kind = IdentityKind.INSTAGRAM_ID
    provider = "Instagram"
    limits = ChannelLimits(max_text_chars=1000, reply_window=REPLY_WINDOWS[Channel.INSTAGRAM])
