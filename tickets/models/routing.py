"""Routing: team policies, default teams, the queue of tickets waiting for an agent, and the
log of every routing decision. The rules that use them live in ``tickets.routing``."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.models import ValueTier
from omniservice.org.models import Seniority, Store, Team
from tickets.models.core import Channel, Ticket


class RoutingStrategy(models.TextChoices):
    LEAST_LOADED = "least_loaded", _("Least loaded (ties: longest idle)")
    ROUND_ROBIN = "round_robin", _("Round robin")


class CapacityKind(models.TextChoices):
    """What a ticket costs an agent: ``StaffProfile.capacity`` is keyed by these."""

    CHAT = "chat", _("Chat")
    EMAIL = "email", _("Email")
    PHONE = "phone", _("Phone")


def validate_tiers(value: object) -> None:
    if not isinstance(value, list) or not all(v in ValueTier.values for v in value):
        raise ValidationError(
            _("Tiers must be a list drawn from %(allowed)s."),
            params={"allowed": ", ".join(ValueTier.values)},
        )


class RoutingPolicy(models.Model):
    """How one team's queue is served. A team without a policy uses the defaults."""

    team = models.OneToOneField(
        Team, verbose_name=_("team"), on_delete=models.CASCADE, related_name="routing_policy"
    )
    enabled = models.BooleanField(
        _("automatic routing"),
        default=True,
        help_text=_("Off: tickets wait in the team's queue for someone to take them."),
    )
    strategy = models.CharField(
        _("strategy"),
        max_length=20,
        choices=RoutingStrategy.choices,
        default=RoutingStrategy.LEAST_LOADED,
    )
    reserved_tiers = models.JSONField(
        _("tiers reserved for senior agents"),
        default=list,
        blank=True,
        validators=[validate_tiers],
        help_text=_('Customer value tiers only senior agents may get, e.g. ["vip"].'),
    )
    reserved_min_seniority = models.PositiveSmallIntegerField(
        _("seniority needed for reserved tiers"),
        choices=Seniority.choices,
        default=Seniority.SENIOR,
    )
    store_first_minutes = models.PositiveIntegerField(
        _("store staff first for (minutes)"),
        null=True,
        blank=True,
        help_text=_(
            "How long a store ticket waits for the store's own staff before the contact "
            "centre may take it. Empty: the ROUTING_STORE_FIRST_MINUTES setting."
        ),
    )
    overflow_team = models.ForeignKey(
        Team,
        verbose_name=_("overflow team"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("For a store's team: the contact-centre team store tickets overflow to."),
    )

    class Meta:
        verbose_name = _("routing policy")
        verbose_name_plural = _("routing policies")

    def __str__(self) -> str:
        return f"{self.team}: {self.get_strategy_display()}"


class DefaultTeamRule(models.Model):
    """Which team a ticket without one joins, by channel and language (blank = any).

    The most specific rule wins: channel and language, then channel, then language, then
    the catch-all. A store ticket goes to its store's team first (see tickets.routing).
    """

    channel = models.CharField(_("channel"), max_length=20, choices=Channel.choices, blank=True)
    language = models.CharField(
        _("language"), max_length=10, choices=settings.LANGUAGES, blank=True
    )
    team = models.ForeignKey(
        Team, verbose_name=_("team"), on_delete=models.CASCADE, related_name="+"
    )

    class Meta:
        verbose_name = _("default team rule")
        verbose_name_plural = _("default team rules")
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "language"], name="defaultteamrule_unique_match"
            )
        ]

    def __str__(self) -> str:
        return f"{self.channel or '*'}/{self.language or '*'} -> {self.team}"


class QueueEntry(models.Model):
    """A ticket waiting for an agent, with what routing needs copied from the ticket.

    Kept in the same transaction as every ticket change (``tickets.routing.queue``), so it
    exists exactly while the ticket needs an assignee; the sweep repairs any drift. Its
    index serves the claim: one team, best first (priority, value tier, waiting time),
    ready entries only (``retry_at`` set = backed off until then or until capacity frees;
    ``release_due_retries`` clears it when due).
    """

    ticket = models.OneToOneField(
        Ticket, on_delete=models.CASCADE, primary_key=True, related_name="queue_entry"
    )
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    store = models.ForeignKey(
        Store, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=10, choices=CapacityKind.choices)
    language = models.CharField(max_length=10, blank=True)
    skill_ids = models.JSONField(default=list, blank=True)
    tier = models.CharField(max_length=10, choices=ValueTier.choices, default=ValueTier.STANDARD)
    priority_rank = models.PositiveSmallIntegerField(default=0)
    tier_rank = models.PositiveSmallIntegerField(default=0)
    waiting_since = models.DateTimeField()
    store_only_until = models.DateTimeField(null=True, blank=True)
    retry_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("queued ticket")
        verbose_name_plural = _("queued tickets")
        indexes = [
            models.Index(
                "team",
                models.F("priority_rank").desc(),
                models.F("tier_rank").desc(),
                "waiting_since",
                "ticket",
                name="queueentry_claim_idx",
                condition=models.Q(retry_at__isnull=True),
            ),
            models.Index(
                fields=["retry_at"],
                name="queueentry_retry_idx",
                condition=models.Q(retry_at__isnull=False),
            ),
            models.Index(fields=["store", "store_only_until"], name="queueentry_store_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.ticket_id} in {self.team_id or 'general'}"


class DecisionKind(models.TextChoices):
    QUEUED = "queued", _("Queued")
    ASSIGNED = "assigned", _("Assigned by routing")
    WAITING = "waiting", _("No agent available")
    REQUEUED = "requeued", _("Re-queued")
    OVERFLOWED = "overflowed", _("Overflowed")
    MANUAL = "manual", _("Assigned by hand")
    TRANSFERRED = "transferred", _("Transferred")


class RoutingDecision(models.Model):
    """One routing decision about a ticket and why it was taken.

    ``reason`` is a machine code (rendered in the reader's language by
    ``tickets.routing.selectors``); ``details`` holds the evidence: the candidates
    considered with their load, and how many agents each rule ruled out.
    """

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="routing_decisions")
    created_at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=12, choices=DecisionKind.choices)
    reason = models.CharField(max_length=40, blank=True)
    strategy = models.CharField(max_length=20, choices=RoutingStrategy.choices, blank=True)
    # No database constraint on these three: the log is written in bulk on the hot path
    # (one FK check per row instead of four); Django still nulls them on delete.
    team = models.ForeignKey(
        Team,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,
    )
    note = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("routing decision")
        verbose_name_plural = _("routing decisions")
        indexes = [
            models.Index(fields=["ticket", "-created_at"], name="routingdecision_ticket_idx")
        ]

    def __str__(self) -> str:
        return f"#{self.ticket_id}: {self.kind} {self.reason}"


class AgentRoutingState(models.Model):
    """When routing last gave an agent work: the rotation of round robin and the idle time
    that breaks least-loaded ties. Written in the transaction that assigns."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="routing_state",
    )
    last_assigned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("agent routing state")
        verbose_name_plural = _("agent routing states")

    def __str__(self) -> str:
        return f"{self.user_id}: {self.last_assigned_at}"
