"""WhatsApp Business (Cloud API): webhooks in, ``/{phone-number-id}/messages`` out.

Free-form replies are allowed for 24 hours after the customer's last message (the
customer-service window); outside it only approved templates may be sent, so a free-form
reply is refused before sending with a reason the console shows, and a reply made from a
template (``TemplateReply``) is sent as ``type: template`` at any time. Connection
settings add ``phone_number_id`` and, to sync the templates from
``/{waba-id}/message_templates``, ``waba_id``.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from django.http import HttpRequest
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from channels_hub.adapters.base import (
    ChannelLimits,
    ConnectionField,
    InboundMessage,
    MediaRef,
    PermanentDeliveryError,
    Receipt,
    SendResult,
    WebhookBatch,
    claim,
    customer_identity,
)
from channels_hub.adapters.meta import META_FIELDS, MetaAdapter, meta_error_reason
from channels_hub.provider_http import call_provider, download, json_body
from channels_hub.template_models import TemplateReply, WhatsAppTemplate
from channels_hub.whatsapp_templates import TemplateRefused, check_parameters, template_payload
from customers.identity import InvalidIdentity
from customers.models import IdentityKind
from tickets.attachments import MAX_ATTACHMENT_BYTES
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
TEMPLATE_FIELDS = "name,language,status,category,components"
TEMPLATES_PER_PAGE = 100
MAX_TEMPLATE_PAGES = 100  # 10,000 templates; a WhatsApp Business Account holds fewer


class WhatsAppAdapter(MetaAdapter):
    channels = (Channel.WHATSAPP,)
    webhook_object = "whatsapp_business_account"
    limits = ChannelLimits(max_text_chars=4096, reply_window=REPLY_WINDOWS[Channel.WHATSAPP])
    connection_fields = (
        ConnectionField("phone_number_id", gettext_lazy("Phone number id")),
        ConnectionField(
            "waba_id",
            gettext_lazy("WhatsApp Business Account id"),
            required=False,
            help_text=gettext_lazy("Needed to sync the approved message templates."),
        ),
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

    def check(
        self,
        message: Message,
        connection: ChannelConnection | None,
        *,
        last_inbound_at: datetime | None,
        now: datetime,
    ) -> None:
        """A template reply may leave at any time, if the template is still approved on
        the connection it leaves through; anything else follows the window."""
        record = template_reply_of(message)
        if record is None:
            super().check(message, connection, last_inbound_at=last_inbound_at, now=now)
            return
        template = _current_template(record, connection)
        if template is None:
            raise PermanentDeliveryError(
                _("The template %(name)s (%(language)s) is not on this WhatsApp connection.")
                % {"name": record.name, "language": record.language}
            )
        try:
            check_parameters(template, record.parameters)
        except TemplateRefused as exc:
            raise PermanentDeliveryError(exc.text) from exc

    def send(self, message: Message, connection: ChannelConnection | None) -> SendResult:
        assert connection is not None
        to = customer_identity(message, IdentityKind.WHATSAPP_ID)
        record = template_reply_of(message)
        if record is not None:
            template = _current_template(record, connection)
            content = template_payload(
                record.name,
                record.language,
                record.parameters,
                components=template.components if template is not None else [],
            )
            return self._post_message(connection, to, {"type": "template", "template": content})
        return self._send_text(connection, to, message.body_text)

    def fetch_templates(self, connection: ChannelConnection) -> list[dict[str, Any]]:
        """Every template of the connection's WhatsApp Business Account, page by page.

        Pages are followed by their ``after`` cursor on the connection's own base URL
        (never by the absolute ``paging.next`` link). A list that does not end is
        refused, so that a partial list never marks the missing templates disabled.
        """
        waba_id = connection.setting("waba_id")
        if not waba_id:
            raise PermanentDeliveryError(
                _("Set the WhatsApp Business Account id of the connection first.")
            )
        url = self.graph_url(connection, f"{waba_id}/message_templates")
        params: dict[str, Any] = {"fields": TEMPLATE_FIELDS, "limit": TEMPLATES_PER_PAGE}
        templates: list[dict[str, Any]] = []
        seen: set[str] = set()
        for _page in range(MAX_TEMPLATE_PAGES):
            body = json_body(
                call_provider(
                    "GET",
                    url,
                    provider="WhatsApp",
                    reason_of=meta_error_reason,
                    headers=self.auth_headers(connection),
                    params=params,
                )
            )
            templates.extend(item for item in body.get("data") or [] if isinstance(item, dict))
            after = _next_cursor(body.get("paging"))
            if not after:
                return templates
            if after in seen:
                break
            seen.add(after)
            params = {**params, "after": after}
        raise PermanentDeliveryError(_("WhatsApp: the template list does not end; not synced."))

    def send_test(self, connection: ChannelConnection, to: str) -> SendResult:
        return self._send_text(connection, to.lstrip("+"), _("omniservice test message"))

    def fetch_media(self, connection: ChannelConnection, ref: str) -> bytes:
        """Graph gives a short-lived URL for the media id; both calls need the token."""
        answer = call_provider(
            "GET",
            self.graph_url(connection, ref),
            provider="WhatsApp",
            reason_of=meta_error_reason,
            headers=self.auth_headers(connection),
        )
        url = str(json_body(answer).get("url", ""))
        if not url:
            raise PermanentDeliveryError("WhatsApp: the media has no URL")
        content, _type = download(
            url,
            provider="WhatsApp",
            max_bytes=MAX_ATTACHMENT_BYTES,
            headers=self.auth_headers(connection),
        )
        return content

    def _send_text(self, connection: ChannelConnection, to: str, text: str) -> SendResult:
        content = {"type": "text", "text": {"body": text, "preview_url": False}}
        return self._post_message(connection, to, content)

    def _post_message(
        self, connection: ChannelConnection, to: str, content: dict[str, Any]
    ) -> SendResult:
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
                **content,
            },
        )
        provider_id = json_body(response)["messages"][0]["id"]
        return SendResult(status=DeliveryStatus.SENT, provider_message_id=provider_id)


def _current_template(
    record: TemplateReply, connection: ChannelConnection | None
) -> WhatsAppTemplate | None:
    """The template as the connection has it now (synced since the reply was queued);
    read once for the delivery's check and its send."""
    if connection is None:
        return None
    cached = getattr(record, "_current_template", None)
    if cached is None or cached[0] != connection.pk:
        template = connection.whatsapp_templates.filter(
            name=record.name, language=record.language
        ).first()
        cached = record._current_template = (connection.pk, template)  # type: ignore[attr-defined]
    return cached[1]


def template_reply_of(message: Message) -> TemplateReply | None:
    """The template a reply was made from (cached on the message: check, then send)."""
    return getattr(message, "template_reply", None)


def _next_cursor(paging: Any) -> str:
    """The ``after`` cursor of the next page; empty on the last page."""
    if not isinstance(paging, dict) or not paging.get("next"):
        return ""
    cursor = (paging.get("cursors") or {}).get("after")
    if not cursor:
        cursor = (parse_qs(urlsplit(str(paging["next"])).query).get("after") or [""])[0]
    return str(cursor or "")


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
        media=_media_of(item, kind),
    )


def _media_of(item: dict[str, Any], kind: str | None) -> tuple[MediaRef, ...]:
    media = item.get(kind) if kind in MEDIA_TYPES else None
    if not isinstance(media, dict) or not media.get("id"):
        return ()
    filename = media.get("filename") or f"{kind}-{media['id']}"
    return (MediaRef(ref=str(media["id"]), filename=str(filename)),)


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
