"""WhatsApp message templates of a connection, as synced from Meta, and the record of
which template a reply used.

Outside the 24-hour customer-service window WhatsApp accepts only templates that Meta
approved; their text is fixed apart from parameters, numbered (``{{1}}``, ``{{2}}``) or
named (``{{customer_name}}``).
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from tickets.models import Message


class TemplateStatus(models.TextChoices):
    APPROVED = "approved", _("Approved")
    PENDING = "pending", _("Pending review")
    REJECTED = "rejected", _("Rejected")
    PAUSED = "paused", _("Paused")
    DISABLED = "disabled", _("Disabled")


class TemplateCategory(models.TextChoices):
    MARKETING = "marketing", _("Marketing")
    UTILITY = "utility", _("Utility")
    AUTHENTICATION = "authentication", _("Authentication")
    OTHER = "other", _("Other")


class WhatsAppTemplate(models.Model):
    """One template in one language (Meta keys templates by name and language).

    ``components`` keeps Meta's description as received; ``supported`` is false for
    templates that need more than text values (media headers, one-time codes, flows),
    which replies cannot fill yet; ``parameter_count`` counts the text values of the
    header, the body and the URL buttons. A template that
    disappears upstream is marked disabled, never deleted: replies keep their record.
    """

    connection = models.ForeignKey(
        "channels_hub.ChannelConnection",
        verbose_name=_("connection"),
        on_delete=models.CASCADE,
        related_name="whatsapp_templates",
    )
    name = models.CharField(_("name"), max_length=512)
    language = models.CharField(_("language code"), max_length=15)
    category = models.CharField(
        _("category"),
        max_length=20,
        choices=TemplateCategory.choices,
        default=TemplateCategory.UTILITY,
    )
    status = models.CharField(
        _("status"), max_length=10, choices=TemplateStatus.choices, default=TemplateStatus.PENDING
    )
    body_text = models.TextField(_("body text"), blank=True)
    parameter_count = models.PositiveSmallIntegerField(_("number of parameters"), default=0)
    components = models.JSONField(_("components"), default=list, blank=True)
    supported = models.BooleanField(
        _("can be sent from omniservice"),
        default=True,
        help_text=_("False when the header or buttons need parameters of their own."),
    )
    provider_id = models.CharField(_("provider id"), max_length=64, blank=True)
    synced_at = models.DateTimeField(_("last synced at"))

    class Meta:
        verbose_name = _("WhatsApp template")
        verbose_name_plural = _("WhatsApp templates")
        ordering = ["name", "language"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "name", "language"], name="whatsapp_template_unique"
            )
        ]
        indexes = [
            models.Index(fields=["connection", "status"], name="whatsapp_template_status_idx")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.language})"

    @property
    def sendable(self) -> bool:
        return self.status == TemplateStatus.APPROVED and self.supported


class TemplateReply(models.Model):
    """The template an outbound message was sent as; its text is the filled-in template.

    Name and language are copied, so the record stays readable whatever happens to the
    template later; the adapter sends from this record, not from the message text.
    """

    message = models.OneToOneField(
        Message,
        verbose_name=_("message"),
        on_delete=models.CASCADE,
        related_name="template_reply",
    )
    template = models.ForeignKey(
        WhatsAppTemplate,
        verbose_name=_("template"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="replies",
    )
    name = models.CharField(_("template name"), max_length=512)
    language = models.CharField(_("language code"), max_length=15)
    parameters = models.JSONField(_("parameters"), default=list, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("template reply")
        verbose_name_plural = _("template replies")

    def __str__(self) -> str:
        return f"{self.name} ({self.language}) on message {self.message_id}"
