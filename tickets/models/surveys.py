"""Satisfaction: CSAT surveys sent when a ticket is solved, NPS surveys per customer."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.models import ContactChannel, Customer
from tickets.models.core import Channel, Message, Ticket, TicketStatusChange

CSAT_SCALE = (1, 5)
NPS_SCALE = (0, 10)
TOKEN_BYTES = 24  # 192 bits: unguessable, 32 characters in a link


def new_survey_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


class BadScoreAction(models.TextChoices):
    REOPEN = "reopen", _("Reopen the ticket")
    FLAG = "flag", _("Flag it for a manager")


class SatisfactionPolicy(models.Model):
    """The one row of survey settings (``SatisfactionPolicy.current()``), edited in the admin."""

    csat_enabled = models.BooleanField(_("send CSAT surveys when a ticket is solved"), default=True)
    bad_score_threshold = models.PositiveSmallIntegerField(
        _("bad score threshold"),
        default=2,
        validators=[MinValueValidator(1), MaxValueValidator(4)],
        help_text=_("A CSAT score at or below this value (1-5) is bad."),
    )
    bad_score_action = models.CharField(
        _("on a bad score"),
        max_length=10,
        choices=BadScoreAction.choices,
        default=BadScoreAction.FLAG,
    )
    flag_tag = models.CharField(
        _("tag of a flagged ticket"),
        max_length=50,
        default="csat-bad",
        help_text=_("Added to a ticket with a bad score."),
    )
    answer_days = models.PositiveSmallIntegerField(
        _("days to answer"),
        default=14,
        validators=[MinValueValidator(1)],
        help_text=_("A survey link stops working this many days after it was sent."),
    )
    comment_edit_hours = models.PositiveSmallIntegerField(
        _("hours to edit the comment"),
        default=24,
        help_text=_("After answering, the customer may change their comment for this long."),
    )
    nps_enabled = models.BooleanField(_("send NPS surveys"), default=True)
    nps_recent_days = models.PositiveSmallIntegerField(
        _("NPS: ticket solved within (days)"),
        default=7,
        validators=[MinValueValidator(1)],
        help_text=_("Only customers who had a ticket solved this recently are asked."),
    )
    nps_interval_days = models.PositiveSmallIntegerField(
        _("NPS: ask a customer at most every (days)"),
        default=90,
        validators=[MinValueValidator(1)],
    )
    nps_batch_size = models.PositiveIntegerField(
        _("NPS: surveys per run"), default=500, validators=[MinValueValidator(1)]
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("satisfaction policy")
        verbose_name_plural = _("satisfaction policy")
        constraints = [
            models.CheckConstraint(condition=models.Q(id=1), name="satisfactionpolicy_singleton")
        ]

    def __str__(self) -> str:
        return str(_("Satisfaction policy"))

    @classmethod
    def current(cls) -> SatisfactionPolicy:
        policy, _created = cls.objects.get_or_create(pk=1)
        return policy

    def is_bad(self, score: int) -> bool:
        return score <= self.bad_score_threshold


class SurveyKind(models.TextChoices):
    CSAT = "csat", _("Satisfaction with a ticket (1-5)")
    NPS = "nps", _("Would recommend us (0-10)")


class SurveyDelivery(models.TextChoices):
    QUEUED = "queued", _("Queued")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")


class SurveyOutcome(models.TextChoices):
    NONE = "", _("None")
    REOPENED = "reopened", _("Ticket reopened")
    FLAGGED = "flagged", _("Flagged for a manager")


class Survey(models.Model):
    """One survey sent to one customer, answered at most once through its token.

    A CSAT survey belongs to one solve of a ticket (its ``solve`` status change, unique:
    a second run for the same solve finds the first survey); it travels as an outbound
    system message of the ticket. An NPS survey belongs to the customer only and leaves
    through the outbox topic ``survey.deliver``.
    """

    kind = models.CharField(_("kind"), max_length=4, choices=SurveyKind.choices)
    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="surveys"
    )
    ticket = models.ForeignKey(
        Ticket,
        verbose_name=_("ticket"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="surveys",
    )
    solve = models.OneToOneField(
        TicketStatusChange,
        verbose_name=_("solve"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="survey",
    )
    message = models.ForeignKey(
        Message,
        verbose_name=_("message"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    channel = models.CharField(_("channel"), max_length=20)
    language = models.CharField(_("language"), max_length=10, choices=settings.LANGUAGES)
    token = models.CharField(max_length=64, unique=True, default=new_survey_token, editable=False)
    delivery = models.CharField(
        _("delivery"),
        max_length=10,
        choices=SurveyDelivery.choices,
        default=SurveyDelivery.QUEUED,
    )
    failure_reason = models.CharField(_("failure reason"), max_length=500, blank=True)
    score = models.PositiveSmallIntegerField(_("score"), null=True, blank=True)
    comment = models.TextField(_("comment"), blank=True)
    outcome = models.CharField(
        _("outcome"), max_length=10, choices=SurveyOutcome.choices, blank=True, default=""
    )
    created_at = models.DateTimeField(_("sent at"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires at"))
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True)
    comment_updated_at = models.DateTimeField(_("comment changed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("survey")
        verbose_name_plural = _("surveys")
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(kind="csat", ticket__isnull=False)
                    & (models.Q(score__isnull=True) | models.Q(score__gte=1, score__lte=5))
                )
                | (
                    models.Q(kind="nps")
                    & (models.Q(score__isnull=True) | models.Q(score__gte=0, score__lte=10))
                ),
                name="survey_kind_scale",
            ),
            models.CheckConstraint(
                condition=models.Q(answered_at__isnull=True) | models.Q(score__isnull=False),
                name="survey_answer_has_score",
            ),
        ]
        indexes = [
            models.Index(fields=["ticket", "-created_at"], name="survey_ticket_idx"),
            models.Index(fields=["customer", "kind", "-created_at"], name="survey_customer_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}"

    @property
    def scale(self) -> tuple[int, int]:
        return CSAT_SCALE if self.kind == SurveyKind.CSAT else NPS_SCALE

    @property
    def is_answered(self) -> bool:
        return self.answered_at is not None

    def is_expired(self, now: object = None) -> bool:
        return (now or timezone.now()) >= self.expires_at

    def get_channel_display(self) -> str:
        labels = {**dict(ContactChannel.choices), **dict(Channel.choices)}
        return str(labels.get(self.channel, self.channel))
