"""Tickets: one conversation per customer problem, whatever channels it crosses."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from customers.models import Customer
from omniservice.org.models import Skill, Store, Team


class TicketStatus(models.TextChoices):
    NEW = "new", _("New")
    OPEN = "open", _("Open")
    PENDING = "pending", _("Pending on customer")
    ON_HOLD = "on_hold", _("On hold")
    SOLVED = "solved", _("Solved")
    CLOSED = "closed", _("Closed")


OPEN_STATUSES = frozenset(
    {TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.PENDING, TicketStatus.ON_HOLD}
)

ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    TicketStatus.NEW: frozenset({"open", "pending", "on_hold", "solved"}),
    TicketStatus.OPEN: frozenset({"pending", "on_hold", "solved"}),
    TicketStatus.PENDING: frozenset({"open", "on_hold", "solved"}),
    TicketStatus.ON_HOLD: frozenset({"open", "pending", "solved"}),
    TicketStatus.SOLVED: frozenset({"open", "closed"}),
    TicketStatus.CLOSED: frozenset(),
}


class Priority(models.TextChoices):
    LOW = "low", _("Low")
    NORMAL = "normal", _("Normal")
    HIGH = "high", _("High")
    URGENT = "urgent", _("Urgent")


PRIORITY_RANK = {value: rank for rank, value in enumerate(Priority.values)}


class Channel(models.TextChoices):
    """Where a message came from or goes to."""

    CONSOLE = "console", _("Console")
    API = "api", _("Partner app")
    WEB_CHAT = "web_chat", _("Web chat")
    EMAIL = "email", _("Email")
    SMS = "sms", _("SMS")
    WHATSAPP = "whatsapp", _("WhatsApp")
    WECHAT = "wechat", _("WeChat")
    MESSENGER = "messenger", _("Messenger")
    INSTAGRAM = "instagram", _("Instagram")
    PHONE = "phone", _("Phone")
    STORE = "store", _("Store")
    KIOSK = "kiosk", _("Self-service kiosk")


# Free-form replies are allowed for this long after the customer's last message on the
# channel (the providers' customer-service windows); outside, only approved templates.
REPLY_WINDOWS: dict[str, timedelta] = {
    Channel.WHATSAPP: timedelta(hours=24),
    Channel.MESSENGER: timedelta(hours=24),
    Channel.INSTAGRAM: timedelta(hours=24),
    Channel.WECHAT: timedelta(hours=48),
}
# Meta's "human agent" message tag: a page granted that permission may answer a person on
# Messenger or Instagram up to 7 days after their last message (META_HUMAN_AGENT_TAG).
HUMAN_AGENT_WINDOW = timedelta(days=7)
HUMAN_AGENT_CHANNELS = frozenset({Channel.MESSENGER, Channel.INSTAGRAM})


def reply_window(channel: str) -> timedelta | None:
    """How long after the customer's last message a free-form reply may leave on
    ``channel`` (None: no limit)."""
    if channel in HUMAN_AGENT_CHANNELS and settings.META_HUMAN_AGENT_TAG:
        return HUMAN_AGENT_WINDOW
    return REPLY_WINDOWS.get(channel)


class TicketTag(models.Model):
    name = models.CharField(_("name"), max_length=50, unique=True)

    class Meta:
        verbose_name = _("ticket tag")
        verbose_name_plural = _("ticket tags")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Ticket(models.Model):
    """The public number of a ticket is its primary key."""

    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), on_delete=models.PROTECT, related_name="tickets"
    )
    subject = models.CharField(_("subject"), max_length=200)
    status = models.CharField(
        _("status"), max_length=10, choices=TicketStatus.choices, default=TicketStatus.NEW
    )
    priority = models.CharField(
        _("priority"), max_length=10, choices=Priority.choices, default=Priority.NORMAL
    )
    origin_channel = models.CharField(_("origin channel"), max_length=20, choices=Channel.choices)
    last_channel = models.CharField(
        _("last customer channel"), max_length=20, choices=Channel.choices, blank=True
    )
    store = models.ForeignKey(
        Store,
        verbose_name=_("store"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="tickets",
    )
    team = models.ForeignKey(
        Team,
        verbose_name=_("team"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="tickets",
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("assignee"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_tickets",
    )
    tags = models.ManyToManyField(
        TicketTag, verbose_name=_("tags"), blank=True, related_name="tickets"
    )
    # Routing needs: the language the customer writes in (from the customer when the
    # ticket opens) and the skills (product category, issue type) an agent must have.
    language = models.CharField(
        _("language"), max_length=10, choices=settings.LANGUAGES, blank=True
    )
    required_skills = models.ManyToManyField(
        Skill, verbose_name=_("required skills"), blank=True, related_name="tickets"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    last_customer_message_at = models.DateTimeField(
        _("last customer message"), null=True, blank=True
    )
    last_agent_message_at = models.DateTimeField(_("last agent reply"), null=True, blank=True)
    first_response_at = models.DateTimeField(_("first response at"), null=True, blank=True)
    # SLA clock (tickets.sla keeps these up to date; null = no target applies).
    first_response_due_at = models.DateTimeField(_("first response due"), null=True, blank=True)
    next_response_due_at = models.DateTimeField(_("next response due"), null=True, blank=True)
    resolution_due_at = models.DateTimeField(_("resolution due"), null=True, blank=True)
    sla_breached_at = models.DateTimeField(_("SLA breached at"), null=True, blank=True)
    solved_at = models.DateTimeField(_("solved at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    reopen_count = models.PositiveIntegerField(_("reopen count"), default=0)
    merged_into = models.ForeignKey(
        "self",
        verbose_name=_("merged into"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="merged_tickets",
    )

    class Meta:
        verbose_name = _("ticket")
        verbose_name_plural = _("tickets")
        indexes = [
            models.Index(fields=["status", "-updated_at"], name="ticket_status_idx"),
            models.Index(fields=["team", "status", "-updated_at"], name="ticket_team_idx"),
            models.Index(fields=["assignee", "status", "-updated_at"], name="ticket_assignee_idx"),
            models.Index(fields=["store", "status", "-updated_at"], name="ticket_store_idx"),
            models.Index(fields=["customer", "-created_at"], name="ticket_customer_idx"),
            models.Index(fields=["-updated_at", "-id"], name="ticket_updated_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.subject}"

    @property
    def number(self) -> int:
        return self.pk

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class TicketStatusChange(models.Model):
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="status_changes")
    from_status = models.CharField(max_length=10, choices=TicketStatus.choices, blank=True)
    to_status = models.CharField(max_length=10, choices=TicketStatus.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=150, blank=True)
    reason = models.CharField(max_length=255, blank=True)
    changed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("status change")
        verbose_name_plural = _("status changes")
        indexes = [models.Index(fields=["ticket", "changed_at"], name="statuschange_ticket_idx")]

    def __str__(self) -> str:
        return f"#{self.ticket_id}: {self.from_status or '-'} -> {self.to_status}"


class Direction(models.TextChoices):
    INBOUND = "inbound", _("From the customer")
    OUTBOUND = "outbound", _("To the customer")
    NOTE = "note", _("Internal note")
    EVENT = "event", _("System event")


class AuthorKind(models.TextChoices):
    CUSTOMER = "customer", _("Customer")
    AGENT = "agent", _("Agent")
    BOT = "bot", _("Bot")
    SYSTEM = "system", _("System")


class DeliveryStatus(models.TextChoices):
    RECEIVED = "received", _("Received")
    QUEUED = "queued", _("Queued")
    SENT = "sent", _("Sent")
    DELIVERED = "delivered", _("Delivered")
    READ = "read", _("Read")
    FAILED = "failed", _("Failed")
    NOT_APPLICABLE = "n/a", _("Not applicable")


DELIVERY_RANK = {"queued": 0, "sent": 1, "delivered": 2, "read": 3}


class Message(models.Model):
    ticket = models.ForeignKey(
        Ticket, verbose_name=_("ticket"), on_delete=models.CASCADE, related_name="messages"
    )
    direction = models.CharField(_("direction"), max_length=10, choices=Direction.choices)
    channel = models.CharField(_("channel"), max_length=20, choices=Channel.choices)
    author_kind = models.CharField(_("author"), max_length=10, choices=AuthorKind.choices)
    author_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("agent"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    body_text = models.TextField(_("text"), blank=True)
    body_html = models.TextField(_("sanitised rich text"), blank=True)
    delivery_status = models.CharField(
        _("delivery status"),
        max_length=10,
        choices=DeliveryStatus.choices,
        default=DeliveryStatus.NOT_APPLICABLE,
    )
    failure_reason = models.CharField(_("failure reason"), max_length=500, blank=True)
    external_id = models.CharField(_("external id"), max_length=200, null=True, blank=True)
    provider_message_id = models.CharField(_("provider message id"), max_length=200, blank=True)
    store = models.ForeignKey(
        Store,
        verbose_name=_("store"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    status_changed_at = models.DateTimeField(_("delivery status changed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "external_id"],
                condition=models.Q(external_id__isnull=False),
                name="message_unique_channel_external_id",
            ),
        ]
        indexes = [models.Index(fields=["ticket", "created_at", "id"], name="message_ticket_idx")]

    def __str__(self) -> str:
        return f"{self.direction} on #{self.ticket_id} via {self.channel}"


def attachment_path(instance: Attachment, filename: str) -> str:
    return f"attachments/{instance.sha256[:2]}/{instance.sha256}"


class Attachment(models.Model):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to=attachment_path, max_length=200)
    filename = models.CharField(_("file name"), max_length=200)
    content_type = models.CharField(_("content type"), max_length=100)
    size = models.PositiveIntegerField(_("size"))
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")

    def __str__(self) -> str:
        return self.filename


class TicketLink(models.Model):
    from_ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="links_out")
    to_ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="links_in")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("ticket link")
        verbose_name_plural = _("ticket links")
        constraints = [
            models.UniqueConstraint(fields=["from_ticket", "to_ticket"], name="ticketlink_unique"),
            models.CheckConstraint(
                condition=~models.Q(from_ticket=models.F("to_ticket")), name="ticketlink_not_self"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.from_ticket_id} <-> #{self.to_ticket_id}"
