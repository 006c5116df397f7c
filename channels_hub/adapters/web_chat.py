"""Web chat: the widget served by omniservice itself (``channels_hub/webchat*.py``).

There is no provider: a reply is *sent* once the customer's widgets have been told
(live, over ``/ws/chat/``; a widget that is closed fetches it on return) and *read* when
the open widget reports having shown it. Customer messages do not come through the
webhook URL but through the widget's API, so ``verify`` refuses every webhook.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import HttpRequest
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from channels_hub.adapters.base import (
    Adapter,
    ChannelLimits,
    ConnectionField,
    PermanentDeliveryError,
    SendResult,
    WebhookRefused,
)
from tickets.attachments import MAX_ATTACHMENT_BYTES, SERVABLE_TYPES
from tickets.models import Channel, DeliveryStatus, Message

if TYPE_CHECKING:
    from channels_hub.models import ChannelConnection


class WebChatAdapter(Adapter):
    channels = (Channel.WEB_CHAT,)
    limits = ChannelLimits(
        max_text_chars=5000,
        attachment_types=SERVABLE_TYPES,
        max_attachment_bytes=MAX_ATTACHMENT_BYTES,
    )
    # No provider account, but a connection all the same: the widget's key, the sites
    # allowed to embed it, its hours and the identity secret, set in the console.
    needs_connection = True
    receives_webhooks = False
    connection_fields = (
        ConnectionField(
            "allowed_origins",
            gettext_lazy("Sites allowed to embed the chat"),
            help_text=gettext_lazy(
                "Comma-separated, e.g. https://shop.example.com, https://m.example.com"
            ),
        ),
        ConnectionField("title", gettext_lazy("Chat window title"), required=False),
        ConnectionField(
            "calendar",
            gettext_lazy("Business-hours calendar"),
            required=False,
            help_text=gettext_lazy(
                "The name of a business-hours calendar; outside it visitors leave a message. "
                "Empty: always open."
            ),
        ),
        ConnectionField(
            "online_without_agents",
            gettext_lazy("Stay open when no agent is online"),
            required=False,
            kind="bool",
        ),
        ConnectionField(
            "no_prechat",
            gettext_lazy("Skip the pre-chat form (name, phone or email, topic)"),
            required=False,
            kind="bool",
        ),
        ConnectionField(
            "identity_secret",
            gettext_lazy("Identity secret"),
            secret=True,
            required=False,
            help_text=gettext_lazy(
                "Your site signs its members' ids with it (HMAC-SHA256) so that they are "
                "recognised; never put it in a page."
            ),
        ),
    )

    def verify(self, request: HttpRequest, connection: ChannelConnection) -> None:
        raise WebhookRefused(
            _("Web chat messages come through the widget, not a webhook."),
            code="no_webhook",
            status=404,
        )

    def send(self, message: Message, connection: ChannelConnection | None) -> SendResult:
        from channels_hub.webchat import publish_to_customer_visitors

        if not publish_to_customer_visitors(message.ticket.customer_id, "message.added", message):
            raise PermanentDeliveryError(
                _("The customer has no web chat conversation to reply to.")
            )
        return SendResult(status=DeliveryStatus.SENT, provider_message_id=f"webchat-{message.pk}")
