"""What the email channel keeps besides the message: headers for threading, mailboxes."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from tickets.models import Message


class AutoKind(models.TextChoices):
    HUMAN = "", _("Written by a person")
    AUTO_REPLY = "auto_reply", _("Automatic reply")
    BOUNCE = "bounce", _("Bounce")


class EmailRecord(models.Model):
    """The threading headers of one email we received or sent.

    ``message_key`` is the normalised Message-ID (``email_ingest.message_key``): for an
    inbound email it is also the message's ``external_id``, for a reply it is the one we
    generated and stored as ``provider_message_id``.
    """

    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="email_record")
    connection = models.ForeignKey(
        "channels_hub.ChannelConnection",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    message_key = models.CharField(_("Message-ID"), max_length=200)
    in_reply_to = models.CharField(_("In-Reply-To"), max_length=200, blank=True)
    references = models.TextField(_("References"), blank=True)
    subject = models.CharField(_("subject"), max_length=300, blank=True)
    # Inbound: where replies to this email go (its Reply-To, else its From).
    reply_address = models.EmailField(_("reply address"), max_length=254, blank=True)
    auto_kind = models.CharField(
        _("automatic"), max_length=12, choices=AutoKind.choices, default=AutoKind.HUMAN, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("email headers")
        verbose_name_plural = _("email headers")
        indexes = [models.Index(fields=["message_key"], name="email_record_msgid_idx")]

    def __str__(self) -> str:
        return self.message_key


class EmailMailbox(models.Model):
    """IMAP polling state of one connection's folder: a message is fetched once per UID."""

    connection = models.ForeignKey(
        "channels_hub.ChannelConnection", on_delete=models.CASCADE, related_name="mailboxes"
    )
    folder = models.CharField(_("folder"), max_length=200, default="INBOX")
    uidvalidity = models.BigIntegerField(_("UIDVALIDITY"), default=0)
    last_uid = models.BigIntegerField(_("last UID read"), default=0)
    last_polled_at = models.DateTimeField(_("last polled at"), null=True, blank=True)
    locked_until = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = models.CharField(_("last error"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("IMAP mailbox")
        verbose_name_plural = _("IMAP mailboxes")
        constraints = [
            models.UniqueConstraint(fields=["connection", "folder"], name="email_mailbox_unique")
        ]

    def __str__(self) -> str:
        return f"{self.connection_id}:{self.folder}"
