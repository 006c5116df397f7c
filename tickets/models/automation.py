"""Automation rules, their run log, partner webhooks and macros (canned replies).

Conditions and actions are stored as JSON rows (``[{"field", "operator", "value"}]`` and
``[{"action", "value"}]``); their vocabulary and validation live in ``tickets.automation``
so that the console form, the admin and the engine share one definition.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from tickets.models.core import Ticket


class RuleKind(models.TextChoices):
    EVENT = "event", _("When a ticket changes")
    TIME = "time", _("On a schedule")


class RuleEvent(models.TextChoices):
    CREATED = "created", _("Ticket created")
    UPDATED = "updated", _("Ticket updated")
    INBOUND_MESSAGE = "inbound_message", _("Customer message received")


class RunTrigger(models.TextChoices):
    CREATED = "created", _("Ticket created")
    UPDATED = "updated", _("Ticket updated")
    INBOUND_MESSAGE = "inbound_message", _("Customer message received")
    TIME = "time", _("Schedule")


class MatchMode(models.TextChoices):
    ALL = "all", _("All conditions")
    ANY = "any", _("Any condition")


class RunOutcome(models.TextChoices):
    NO_MATCH = "no_match", _("Did not match")
    APPLIED = "applied", _("Applied")
    FAILED = "failed", _("Failed")
    CAPPED = "capped", _("Skipped: hourly limit reached")


class AutomationRule(models.Model):
    name = models.CharField(_("name"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    kind = models.CharField(
        _("runs"), max_length=10, choices=RuleKind.choices, default=RuleKind.EVENT
    )
    events = models.JSONField(_("events"), default=list, blank=True)
    match = models.CharField(
        _("match"), max_length=5, choices=MatchMode.choices, default=MatchMode.ALL
    )
    conditions = models.JSONField(_("conditions"), default=list, blank=True)
    actions = models.JSONField(_("actions"), default=list)
    position = models.PositiveIntegerField(_("position"), default=0)
    is_active = models.BooleanField(_("enabled"), default=True)
    stop_processing = models.BooleanField(
        _("stop further rules"),
        default=False,
        help_text=_("When this rule applies, the rules after it are not evaluated."),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("automation rule")
        verbose_name_plural = _("automation rules")
        ordering = ["position", "id"]
        indexes = [
            models.Index(fields=["kind", "is_active", "position"], name="rule_kind_position_idx")
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=["event", "time"]), name="rule_kind_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(match__in=["all", "any"]), name="rule_match_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class AutomationRun(models.Model):
    """One evaluation of one rule on one ticket, matched or not.

    ``event_key`` names the event (``created``, ``msg:<id>``, a uuid for an update, or
    ``time:<period start>``): a matched run is unique per (rule, ticket, event_key), which
    makes a redelivered task a no-op and a time rule fire once per condition period.
    """

    rule = models.ForeignKey(
        AutomationRule, verbose_name=_("rule"), on_delete=models.CASCADE, related_name="runs"
    )
    ticket = models.ForeignKey(
        Ticket, verbose_name=_("ticket"), on_delete=models.CASCADE, related_name="automation_runs"
    )
    trigger = models.CharField(_("trigger"), max_length=20, choices=RunTrigger.choices)
    event_key = models.CharField(_("event"), max_length=64)
    matched = models.BooleanField(_("matched"), default=False)
    outcome = models.CharField(_("outcome"), max_length=10, choices=RunOutcome.choices)
    actions_applied = models.JSONField(_("actions applied"), default=list, blank=True)
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("at"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("automation run")
        verbose_name_plural = _("automation runs")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "ticket", "event_key"],
                condition=models.Q(matched=True),
                name="automationrun_matched_once_per_event",
            )
        ]
        indexes = [
            models.Index(fields=["rule", "-created_at"], name="automationrun_rule_idx"),
            models.Index(fields=["ticket", "event_key"], name="automationrun_event_idx"),
            models.Index(
                fields=["rule", "ticket", "created_at"],
                name="automationrun_cap_idx",
                condition=models.Q(matched=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rule_id} on #{self.ticket_id}: {self.outcome}"


class AutomationWebhook(models.Model):
    """A partner endpoint a rule may call; requests are signed with ``secret``."""

    name = models.CharField(_("name"), max_length=120, unique=True)
    url = models.URLField(_("URL"), max_length=500)
    secret = models.CharField(
        _("signing secret"),
        max_length=200,
        help_text=_("Requests carry X-Omniservice-Signature: sha256=HMAC(secret, timestamp.body)."),
    )
    is_active = models.BooleanField(_("enabled"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("partner webhook")
        verbose_name_plural = _("partner webhooks")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Macro(models.Model):
    """A canned reply in both languages; shared (no owner) or personal (an owner)."""

    name = models.CharField(_("name"), max_length=120)
    body_zh = models.TextField(_("text (Chinese)"), blank=True)
    body_en = models.TextField(_("text (English)"), blank=True)
    actions = models.JSONField(_("actions"), default=list, blank=True)
    # A personal macro belongs to its owner and goes with them.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="macros",
        help_text=_("Empty for a macro shared with everyone."),
    )
    is_active = models.BooleanField(_("enabled"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("macro")
        verbose_name_plural = _("macros")
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["owner", "name"], name="macro_owner_idx")]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(body_zh="") | ~models.Q(body_en=""),
                name="macro_has_a_body",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_shared(self) -> bool:
        return self.owner_id is None
