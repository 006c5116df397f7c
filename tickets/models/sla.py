"""Service-level agreements: business-hours calendars, policies, each ticket's clock, events.

Ticket keeps the due times the console and the API read (``first_response_due_at``,
``next_response_due_at``, ``resolution_due_at``, ``sla_breached_at``); ``TicketSla``
holds the bookkeeping behind them (the policy applied, the paused resolution time, the
next-response cycle) and ``next_check_at``, the indexed instant at which the periodic
job next has something to do for the ticket.
"""

from __future__ import annotations

import itertools

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.deconstruct import deconstructible
from django.utils.translation import gettext_lazy as _

from customers.models import ValueTier
from omniservice.org.models import Store, Team, validate_opening_hours, validate_timezone
from tickets.models.core import Channel, Priority, Ticket

MAX_TARGET_MINUTES = 60 * 24 * 365


def _ranges_overlap(ranges: list) -> bool:
    ordered = sorted(tuple(item) for item in ranges)
    return any(a[1] > b[0] for a, b in itertools.pairwise(ordered))


def validate_weekly_hours(value: object) -> None:
    """Like a store's opening hours; ranges of one day must not overlap ("24:00" ends a day)."""
    validate_opening_hours(value)
    for day, ranges in value.items():  # type: ignore[union-attr]
        _validate_times(ranges)
        if _ranges_overlap(ranges):
            raise ValidationError(
                _("The ranges of %(day)s overlap."), params={"day": day}, code="overlap"
            )


def validate_day_hours(value: object) -> None:
    """The open ranges of one special day: [] (closed) or [["HH:MM", "HH:MM"], ...]."""
    validate_opening_hours({"mon": value})
    _validate_times(value)  # type: ignore[arg-type]
    if _ranges_overlap(value):  # type: ignore[arg-type]
        raise ValidationError(_("The ranges of this day overlap."), code="overlap")


def _validate_times(ranges: list) -> None:
    for item in ranges:
        for text in item:
            hours, minutes = text.split(":")
            if not (hours.isdigit() and minutes.isdigit()) or not (
                (int(hours) < 24 and int(minutes) < 60) or text == "24:00"
            ):
                raise ValidationError(
                    _("%(value)s is not a time of day (00:00 to 24:00)."),
                    params={"value": text},
                    code="invalid_time",
                )


@deconstructible
class ChoiceListValidator:
    """A JSON list whose items are all among ``choices`` (an empty list means "any")."""

    def __init__(self, choices: list[str]) -> None:
        self.choices = list(choices)

    def __call__(self, value: object) -> None:
        if not isinstance(value, list) or not all(v in self.choices for v in value):
            raise ValidationError(
                _("Pick values among %(allowed)s."), params={"allowed": ", ".join(self.choices)}
            )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ChoiceListValidator) and other.choices == self.choices

    def __hash__(self) -> int:
        return hash(tuple(self.choices))


class BusinessCalendar(models.Model):
    """Weekly opening hours in a time zone; a team's own calendar or a shared one."""

    name = models.CharField(_("name"), max_length=120)
    timezone = models.CharField(
        _("time zone"), max_length=64, default="Asia/Shanghai", validators=[validate_timezone]
    )
    hours = models.JSONField(
        _("weekly hours"),
        default=dict,
        validators=[validate_weekly_hours],
        help_text=_('{"mon": [["09:00", "18:00"]], ...}; a missing day is closed.'),
    )
    team = models.OneToOneField(
        Team,
        verbose_name=_("team"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="business_calendar",
        help_text=_("The team whose tickets run on this calendar."),
    )
    is_default = models.BooleanField(
        _("default"),
        default=False,
        help_text=_("Used when neither the team nor the store has hours of its own."),
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("business-hours calendar")
        verbose_name_plural = _("business-hours calendars")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"],
                condition=models.Q(is_default=True),
                name="sla_calendar_one_default",
                violation_error_message=_("Another calendar is already the default."),
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.timezone})"

    def clean(self) -> None:
        if self.hours == {} or not any(self.hours.values()):
            raise ValidationError({"hours": _("A calendar needs at least one open range.")})


class Holiday(models.Model):
    """A day off (no ranges) or a day with special hours (a working weekend, a short day).

    It belongs to one calendar, to one store, or, with neither, to every calendar and
    store (a public holiday); a calendar's or store's own entry for the date wins.
    """

    calendar = models.ForeignKey(
        BusinessCalendar,
        verbose_name=_("calendar"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="holidays",
    )
    store = models.ForeignKey(
        Store,
        verbose_name=_("store"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="sla_holidays",
    )
    date = models.DateField(_("date"))
    name = models.CharField(_("name"), max_length=120)
    hours = models.JSONField(
        _("open hours that day"),
        default=list,
        blank=True,
        validators=[validate_day_hours],
        help_text=_('Empty: closed all day. Else the day\'s ranges, e.g. [["09:00", "18:00"]].'),
    )

    class Meta:
        verbose_name = _("holiday or special day")
        verbose_name_plural = _("holidays and special days")
        ordering = ["date"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(calendar__isnull=True) | models.Q(store__isnull=True),
                name="sla_holiday_one_owner",
                violation_error_message=_("A holiday belongs to a calendar or a store, not both."),
            ),
            models.UniqueConstraint(
                fields=["date"],
                condition=models.Q(calendar__isnull=True, store__isnull=True),
                name="sla_holiday_unique_public",
                violation_error_message=_("There is already a public holiday on this date."),
            ),
            models.UniqueConstraint(
                fields=["calendar", "date"],
                condition=models.Q(calendar__isnull=False),
                name="sla_holiday_unique_calendar",
                violation_error_message=_("This calendar already has an entry on this date."),
            ),
            models.UniqueConstraint(
                fields=["store", "date"],
                condition=models.Q(store__isnull=False),
                name="sla_holiday_unique_store",
                violation_error_message=_("This store already has an entry on this date."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.date} {self.name}"


class SlaTarget(models.TextChoices):
    FIRST_RESPONSE = "first_response", _("First response")
    NEXT_RESPONSE = "next_response", _("Next response")
    RESOLUTION = "resolution", _("Resolution")


class EscalationReassign(models.TextChoices):
    KEEP = "", _("keep the assignee")
    QUEUE = "queue", _("back to the team's queue for another agent")
    LEAD = "lead", _("to the team lead")


class SlaPolicy(models.Model):
    """Targets for the tickets its conditions match; the first active match wins.

    An empty condition matches anything. Targets are business minutes of the ticket's
    calendar (or wall-clock minutes when ``business_hours_only`` is off).
    """

    name = models.CharField(_("name"), max_length=120)
    position = models.PositiveIntegerField(
        _("position"), default=100, help_text=_("Lower runs first; the first match wins.")
    )
    is_active = models.BooleanField(_("active"), default=True)
    priorities = models.JSONField(
        _("priorities"), default=list, blank=True, validators=[ChoiceListValidator(Priority.values)]
    )
    tiers = models.JSONField(
        _("customer tiers"),
        default=list,
        blank=True,
        validators=[ChoiceListValidator(ValueTier.values)],
    )
    channels = models.JSONField(
        _("channels"), default=list, blank=True, validators=[ChoiceListValidator(Channel.values)]
    )
    teams = models.ManyToManyField(
        Team, verbose_name=_("teams"), blank=True, related_name="sla_policies"
    )
    first_response_minutes = models.PositiveIntegerField(
        _("first response (business minutes)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_TARGET_MINUTES)],
    )
    next_response_minutes = models.PositiveIntegerField(
        _("next response (business minutes)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_TARGET_MINUTES)],
    )
    resolution_minutes = models.PositiveIntegerField(
        _("resolution (business minutes)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_TARGET_MINUTES)],
    )
    warning_minutes = models.PositiveIntegerField(
        _("warn before (minutes)"),
        default=15,
        validators=[MaxValueValidator(MAX_TARGET_MINUTES)],
        help_text=_("The assignee and the team lead are warned this long before a target."),
    )
    business_hours_only = models.BooleanField(
        _("count business hours only"),
        default=True,
        help_text=_("Off: the clock runs around the clock (24/7)."),
    )
    calendar = models.ForeignKey(
        BusinessCalendar,
        verbose_name=_("calendar"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="policies",
        help_text=_("Empty: the team's calendar, else the store's hours, else the default."),
    )
    pause_on_hold = models.BooleanField(
        _("pause resolution while on hold"),
        default=False,
        help_text=_("Pending on the customer always pauses the resolution clock."),
    )
    escalate_raise_priority = models.BooleanField(
        _("on breach: raise the priority one step"), default=False
    )
    escalate_notify_managers = models.BooleanField(
        _("on breach: notify the managers"), default=True
    )
    escalate_to_team = models.ForeignKey(
        Team,
        verbose_name=_("on breach: move to team"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    escalate_reassign = models.CharField(
        _("on breach: reassign"),
        max_length=8,
        choices=EscalationReassign.choices,
        default=EscalationReassign.KEEP,
        blank=True,
        help_text=_("Applied after a move to another team, within the ticket's team."),
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("SLA policy")
        verbose_name_plural = _("SLA policies")
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if not any(
            (self.first_response_minutes, self.next_response_minutes, self.resolution_minutes)
        ):
            raise ValidationError(_("A policy needs at least one target."), code="no_target")

    def target_minutes(self, target: str) -> int | None:
        return getattr(self, f"{target}_minutes")


class TicketSla(models.Model):
    """The bookkeeping of one ticket's SLA clock (see :mod:`tickets.sla.clock`)."""

    ticket = models.OneToOneField(
        Ticket, primary_key=True, on_delete=models.CASCADE, related_name="sla_state"
    )
    policy = models.ForeignKey(
        SlaPolicy, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=10, blank=True)
    resolution_used_seconds = models.PositiveIntegerField(default=0)
    resolution_running_since = models.DateTimeField(null=True, blank=True)
    first_responded_at = models.DateTimeField(null=True, blank=True)
    next_response_since = models.DateTimeField(null=True, blank=True)
    next_response_cycle = models.PositiveIntegerField(default=0)
    next_check_at = models.DateTimeField(null=True, blank=True)
    calendar_label = models.CharField(max_length=120, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("ticket SLA clock")
        verbose_name_plural = _("ticket SLA clocks")
        indexes = [
            models.Index(
                fields=["next_check_at"],
                condition=models.Q(next_check_at__isnull=False),
                name="ticketsla_next_check_idx",
            )
        ]

    def __str__(self) -> str:
        return f"SLA of #{self.ticket_id}"


class SlaEventKind(models.TextChoices):
    WARNING = "warning", _("Warning")
    BREACH = "breach", _("Breach")
    MET = "met", _("Met")


class SlaEvent(models.Model):
    """A warning, breach or met target; unique per ticket, target, kind and cycle, which
    is what makes the periodic job idempotent (the row is the claim)."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="sla_events")
    target = models.CharField(_("target"), max_length=20, choices=SlaTarget.choices)
    kind = models.CharField(_("kind"), max_length=10, choices=SlaEventKind.choices)
    cycle = models.PositiveIntegerField(default=0)
    due_at = models.DateTimeField(_("due at"))
    policy = models.ForeignKey(
        SlaPolicy, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(_("at"))
    escalation = models.JSONField(_("escalation"), default=list, blank=True)

    class Meta:
        verbose_name = _("SLA event")
        verbose_name_plural = _("SLA events")
        ordering = ["at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["ticket", "target", "kind", "cycle"], name="slaevent_once_per_cycle"
            )
        ]
        indexes = [models.Index(fields=["kind", "-at"], name="slaevent_kind_idx")]

    def __str__(self) -> str:
        return f"#{self.ticket_id} {self.target} {self.kind}"
