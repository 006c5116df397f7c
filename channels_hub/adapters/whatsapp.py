"""WhatsApp Business (Cloud API): webhooks in, ``/{phone-number-id}/messages`` out.

Free-form replies are allowed for 24 hours after the customer's last message (the
customer-service window); outside it only approved templates may be sent, so a reply is
refused before sending with a reason the console shows. Connection settings add
``phone_number_id``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from channels_hub.adapters.base import (
    ChannelLimits,
    ConnectionField,
    InboundMessage,
    Receipt,
    SendResult,
    WebhookBatch,
    claim,
    customer_identity,
)
from channels_hub.adapters.meta import META_FIELDS, MetaAdapter, meta_error_reason
from channels_hub.provider_http import call_provider, json_body
from customers.identity import InvalidIdentity
from customers.models import IdentityKind
from tickets.models import REPLY_WINDOWS, Channel, DeliveryStatus, Message

if TYPE_CHECKING:
    from channels_hub.models import ChannelConnection

logger = logging.getLogger(__name__)

STATUSES = {
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.READ,
    "failed": DeliveryStatus.FAILED,
}
MEDIA_TYPES = ("image", "document", "audio", "video", "sticker")


class WhatsAppAdapter(MetaAdapter):
    channels = (Channel.WHATSAPP,)
    webhook_object = "whatsapp_business_account"
    limits = ChannelLimits(max_text_chars=4096, reply_window=REPLY_WINDOWS[Channel.WHATSAPP])
    connection_fields = (
        ConnectionField("phone_number_id", gettext_lazy("Phone number id")),
        *META_FIELDS,
    )

    def parse(self, request: HttpRequest, connection: ChannelConnection) -> WebhookBatch:
        batch = WebhookBatch()
        for entry in self.payload(request)["entry"]:
            for change in entry.get("changes") or []:
                value = change.get("value") or {}
                names = {
                    c.get("wa_id"): (c.get("profile") or {}).get("name", "")
                    for c in value.get("contacts") or []
                }
                for item in value.get("messages") or []:
                    inbound = _message(item, names)
                    if inbound is None:
                        batch.ignored += 1
                    else:
                        batch.messages.append(inbound)
                for status in value.get("statuses") or []:
                    receipt = _receipt(status)
                    if receipt is None:
                        batch.ignored += 1
                    else:
                        batch.receipts.append(receipt)
        return batch

    def send(self, message: Message, connection: ChannelConnection | None) -> SendResult:
        assert connection is not None
        to = customer_identity(message, IdentityKind.WHATSAPP_ID)
        return self._send_text(connection, to, message.body_text)

    def send_test(self, connection: ChannelConnection, to: str) -> SendResult:
        return self._send_text(connection, to.lstrip("+"), _("omniservice test message"))

    def _send_text(self, connection: ChannelConnection, to: str, text: str) -> SendResult:
        url = self.graph_url(connection, f"{connection.setting('phone_number_id')}/messages")
        response = call_provider(
            "POST",
            url,
            provider="WhatsApp",
            reason_of=meta_error_reason,
            headers=self.auth_headers(connection),
            json={
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": to,
                "type": "text",
                "text": {"body": text, "preview_url": False},
            },
        )
        provider_id = json_body(response)["messages"][0]["id"]
        return SendResult(status=DeliveryStatus.SENT, provider_message_id=provider_id)


def _message(item: dict[str, Any], names: dict[str, str]) -> InboundMessage | None:
    sender, message_id, kind = item.get("from"), item.get("id"), item.get("type")
    if not sender or not message_id:
        return None
    text = _text_of(item, kind)
    if not text:
        logger.info("whatsapp: message %s of type %s carries nothing to store", message_id, kind)
        return None
    try:
        identities = [
            claim(IdentityKind.WHATSAPP_ID, sender),
            # WhatsApp proved the number when the account was made.
            claim(IdentityKind.PHONE, "+" + sender.lstrip("+"), verified=True),
        ]
    except InvalidIdentity:
        logger.warning(
            "whatsapp: message %s dropped: sender %r is not a phone number", message_id, sender
        )
        return None
    name = names.get(sender, "")
    return InboundMessage(
        channel=Channel.WHATSAPP,
        external_id=message_id,
        identities=identities,
        text=text,
        profile={"name": name} if name else {},
    )


def _text_of(item: dict[str, Any], kind: str | None) -> str:
    if kind == "text":
        return str((item.get("text") or {}).get("body", ""))
    if kind in MEDIA_TYPES:
        media = item.get(kind) or {}
        caption = media.get("caption") or media.get("filename") or ""
        return f"[{kind}] {caption}".strip()
    if kind == "button":
        return str((item.get("button") or {}).get("text", ""))
    if kind == "interactive":
        interactive = item.get("interactive") or {}
        reply = interactive.get("button_reply") or interactive.get("list_reply") or {}
        return str(reply.get("title", ""))
    if kind == "location":
        location = item.get("location") or {}
        label = location.get("name") or location.get("address") or ""
        where = f"{location.get('latitude', '')},{location.get('longitude', '')}"
        return f"[location] {label} {where}".strip()
    return ""


def _receipt(status: dict[str, Any]) -> Receipt | None:
    mapped = STATUSES.get(status.get("status", ""))
    if mapped is None or not status.get("id"):
        return None
    errors = status.get("errors") or []
    reason = ""
    if errors:
        first = errors[0]
        details = (first.get("error_data") or {}).get("details", "")
        title = first.get("title") or first.get("message", "")
        reason = f"{title} ({first.get('code', '')}) {details}".strip()
    return Receipt(provider_message_id=status["id"], status=mapped, reason=reason)
