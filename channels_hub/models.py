"""A brand's connection to one provider account of one channel."""

from __future__ import annotations

import secrets
from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _

from channels_hub.secrets import decrypt_secrets, encrypt_secrets
from tickets.models import Channel


def new_webhook_key() -> str:
    return secrets.token_urlsafe(18)


class ConnectionHealth(models.TextChoices):
    UNKNOWN = "unknown", _("Not checked yet")
    OK = "ok", _("Working")
    FAILING = "failing", _("Failing")


class ChannelConnection(models.Model):
    """Credentials (encrypted), provider settings and health of one channel account.

    ``settings`` holds what is not secret (base URL, phone number id, app id, sender
    address); ``secrets_encrypted`` what is (tokens, app secrets), never shown again once
    saved. The webhook URL carries ``webhook_key`` so that each account has its own URL;
    every request is still verified with the provider's signature.
    """

    channel = models.CharField(_("channel"), max_length=20, choices=Channel.choices)
    name = models.CharField(_("name"), max_length=100)
    is_active = models.BooleanField(_("active"), default=True)
    is_default = models.BooleanField(
        _("default for its channel"),
        default=False,
        help_text=_("Replies on this channel leave through the default connection."),
    )
    webhook_key = models.CharField(
        _("webhook key"), max_length=40, unique=True, default=new_webhook_key, editable=False
    )
    settings = models.JSONField(_("settings"), default=dict, blank=True)
    secrets_encrypted = models.TextField(_("encrypted credentials"), blank=True, editable=False)
    health = models.CharField(
        _("health"),
        max_length=10,
        choices=ConnectionHealth.choices,
        default=ConnectionHealth.UNKNOWN,
    )
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    last_error_at = models.DateTimeField(_("last error at"), null=True, blank=True)
    last_inbound_at = models.DateTimeField(_("last message received at"), null=True, blank=True)
    last_outbound_at = models.DateTimeField(_("last message sent at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("channel connection")
        verbose_name_plural = _("channel connections")
        ordering = ["channel", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel"],
                condition=models.Q(is_default=True),
                name="one_default_connection_per_channel",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()}: {self.name}"

    @property
    def secrets(self) -> dict[str, Any]:
        return decrypt_secrets(self.secrets_encrypted)

    def set_secrets(self, values: dict[str, str]) -> None:
        self.secrets_encrypted = encrypt_secrets({k: v for k, v in values.items() if v})

    def setting(self, name: str, default: str = "") -> str:
        value = self.settings.get(name, default)
        return str(value) if value is not None else default


class EarlyReceipt(models.Model):
    """A delivery receipt that arrived before the send call returned the provider's id.

    Providers may report "delivered" while our API call is still waiting for its answer;
    the receipt waits here and is applied as soon as the id is known.
    """

    channel = models.CharField(_("channel"), max_length=20, choices=Channel.choices)
    provider_message_id = models.CharField(_("provider message id"), max_length=200)
    status = models.CharField(_("status"), max_length=20)
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)

    class Meta:
        verbose_name = _("early receipt")
        verbose_name_plural = _("early receipts")
        indexes = [
            models.Index(fields=["channel", "provider_message_id"], name="early_receipt_idx")
        ]

    def __str__(self) -> str:
        return f"{self.channel} {self.provider_message_id}: {self.status}"


class SentMessage(models.Model):
    """Who a reply went to, through which connection, and when the provider took it.

    Messenger reports reads (and sometimes deliveries) per conversation, as a watermark:
    "every message the page sent this person at or before T". These rows let one query
    find the replies a watermark covers. Written only for channels whose adapter names
    the recipient in its ``SendResult``.
    """

    message = models.OneToOneField(
        "tickets.Message",
        verbose_name=_("message"),
        on_delete=models.CASCADE,
        related_name="+",
    )
    connection = models.ForeignKey(
        ChannelConnection,
        verbose_name=_("connection"),
        on_delete=models.CASCADE,
        related_name="+",
    )
    recipient = models.CharField(_("recipient"), max_length=200)
    sent_at = models.DateTimeField(_("sent at"))

    class Meta:
        verbose_name = _("sent message")
        verbose_name_plural = _("sent messages")
        indexes = [
            models.Index(
                fields=["connection", "recipient", "sent_at"], name="sent_message_watermark_idx"
            )
        ]

    def __str__(self) -> str:
        return f"message {self.message_id} to {self.recipient}"


class WebChatVisitor(models.Model):
    """A browser that wrote through the web chat widget of one connection.

    The widget holds a token signed by the server that names ``public_id``; a visitor
    sees only the web-chat messages of its own customer's tickets (``webchat.py``). The
    row is created with the first message, so page views write nothing. ``user_id`` is
    set when the site proved who its user is (HMAC of the user id with the connection's
    identity secret).
    """

    connection = models.ForeignKey(
        ChannelConnection,
        verbose_name=_("connection"),
        on_delete=models.CASCADE,
        related_name="web_chat_visitors",
    )
    public_id = models.CharField(_("visitor id"), max_length=40, unique=True)
    user_id = models.CharField(_("verified user id"), max_length=255, blank=True)
    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    name = models.CharField(_("name"), max_length=120, blank=True)
    contact = models.CharField(_("phone or email"), max_length=255, blank=True)
    topic = models.CharField(_("topic"), max_length=120, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    last_message_at = models.DateTimeField(_("last message at"), null=True, blank=True)

    class Meta:
        verbose_name = _("web chat visitor")
        verbose_name_plural = _("web chat visitors")
        indexes = [models.Index(fields=["customer"], name="webchat_visitor_customer_idx")]

    def __str__(self) -> str:
        return self.name or self.public_id


from channels_hub.email_models import AutoKind, EmailMailbox, EmailRecord  # noqa: E402
from channels_hub.inbox_models import DeliveryState, InboundDelivery  # noqa: E402
from channels_hub.phone_models import CallbackTask, CallEventReceipt, CallRecord  # noqa: E402
from channels_hub.template_models import (  # noqa: E402
    TemplateCategory,
    TemplateReply,
    TemplateStatus,
    WhatsAppTemplate,
)

__all__ = [
    "AutoKind",
    "CallEventReceipt",
    "CallRecord",
    "CallbackTask",
    "ChannelConnection",
    "ConnectionHealth",
    "DeliveryState",
    "EarlyReceipt",
    "EmailMailbox",
    "EmailRecord",
    "InboundDelivery",
    "SentMessage",
    "TemplateCategory",
    "TemplateReply",
    "TemplateStatus",
    "WebChatVisitor",
    "WhatsAppTemplate",
]
