"""Satisfaction surveys: CSAT when a ticket is solved, NPS per customer, and their answers.

CSAT: a ``ticket_changed`` receiver that sees a ticket become solved writes an outbox row
(topic ``survey.csat``, deduplicated per solve) in the solving transaction; after commit
its handler creates the survey and sends it as an outbound *system* message of the
ticket through :func:`tickets.services.reply`, so the usual delivery carries it. The
message holds a link to the public survey page (``/survey/<token>/``). One survey per
solve: the survey row is unique per solve status change.

NPS: the periodic task ``send_nps_surveys`` picks customers who had a ticket solved
recently, consent to feedback on a channel and were not asked lately; each survey leaves
through the outbox topic ``survey.deliver``, whose handler in ``channels_hub`` sends the
link on the chosen channel (no ticket involved).

An answer is stored on the survey; a CSAT answer also writes a system event on the
ticket's timeline and, when the score is bad, applies the :class:`SatisfactionPolicy`
(reopen the ticket, or tag it and notify the managers live).
"""

from __future__ import annotations

import logging
import zoneinfo
from datetime import datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.dispatch import receiver
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from customers.models import (
    Consent,
    ConsentPurpose,
    ContactChannel,
    Customer,
    CustomerStatus,
)
from customers.signals import customer_merged
from omniservice import realtime
from omniservice.errors import ConflictError, DomainError, NotFoundError
from omniservice.outbox.handlers import register
from omniservice.outbox.services import enqueue
from tickets import services
from tickets.models import (
    AuthorKind,
    BadScoreAction,
    Channel,
    Direction,
    Message,
    SatisfactionPolicy,
    Survey,
    SurveyDelivery,
    SurveyKind,
    SurveyOutcome,
    Ticket,
    TicketStatus,
    TicketStatusChange,
)
from tickets.signals import ticket_changed
from tickets.visibility import MANAGERS_GROUP, ticket_groups

logger = logging.getLogger(__name__)

CSAT_TOPIC = "survey.csat"
SURVEY_DELIVER_TOPIC = "survey.deliver"
FLAGGED_EVENT = "satisfaction.flagged"
MAX_COMMENT_CHARS = 2000
# A survey link cannot travel on these: the console is internal, a call carries no link,
# the store channel is a note for the staff's tablet.
LINKLESS_CHANNELS = frozenset({Channel.CONSOLE, Channel.PHONE, Channel.STORE})


def survey_url(survey: Survey) -> str:
    return settings.PUBLIC_BASE_URL + reverse("surveys:page", args=[survey.token])


def survey_language(customer: Customer) -> str:
    codes = {code for code, _name in settings.LANGUAGES}
    return customer.language if customer.language in codes else settings.LANGUAGE_CODE


def survey_message_text(survey: Survey) -> str:
    """The invitation, in the customer's language."""
    with translation.override(survey.language):
        if survey.kind == SurveyKind.CSAT:
            return _(
                "Your request #%(number)s has been solved. How did we do? "
                "Please rate us from 1 to 5: %(url)s"
            ) % {"number": survey.ticket_id, "url": survey_url(survey)}
        return _(
            "How likely are you to recommend us to a friend? "
            "Answer from 0 to 10 in one click: %(url)s"
        ) % {"url": survey_url(survey)}


def _refused_feedback(customer_id: int, channel: str) -> bool:
    return Consent.objects.filter(
        customer_id=customer_id, channel=channel, purpose=ConsentPurpose.FEEDBACK, granted=False
    ).exists()


# --- CSAT -------------------------------------------------------------------------------


@receiver(ticket_changed, dispatch_uid="tickets.surveys.schedule_csat_survey")
def schedule_csat_survey(
    sender: Any, ticket: Ticket, event: str, changed: list[str], **kwargs: Any
) -> None:
    """Inside the solving transaction: one outbox row per solve (a repeat is deduplicated)."""
    if event != "updated" or "status" not in changed or ticket.status != TicketStatus.SOLVED:
        return
    if ticket.merged_into_id:
        return
    solve_id = (
        TicketStatusChange.objects.filter(ticket=ticket, to_status=TicketStatus.SOLVED)
        .order_by("-pk")
        .values_list("pk", flat=True)
        .first()
    )
    if solve_id is not None:
        enqueue(CSAT_TOPIC, {"solve_id": solve_id}, dedupe_key=f"csat-survey:{solve_id}")


@register(CSAT_TOPIC)
def _handle_csat(payload: dict[str, Any]) -> None:
    send_csat_survey(solve_id=payload["solve_id"])


@transaction.atomic
def send_csat_survey(*, solve_id: int) -> Survey | None:
    """Send the survey of one solve, once; None when none is due (disabled, reopened or
    solved again since, merged, a channel that cannot carry a link, feedback refused)."""
    solve = TicketStatusChange.objects.filter(pk=solve_id, to_status=TicketStatus.SOLVED).first()
    if solve is None:
        return None
    ticket = Ticket.objects.select_for_update().select_related("customer").get(pk=solve.ticket_id)
    existing = Survey.objects.filter(solve=solve).first()
    if existing is not None:
        return existing
    policy = SatisfactionPolicy.current()
    latest_solve = (
        TicketStatusChange.objects.filter(ticket=ticket, to_status=TicketStatus.SOLVED)
        .order_by("-pk")
        .values_list("pk", flat=True)
        .first()
    )
    channel = ticket.last_channel or ticket.origin_channel
    if (
        not policy.csat_enabled
        or ticket.merged_into_id
        or ticket.status != TicketStatus.SOLVED
        or latest_solve != solve.pk
        or channel in LINKLESS_CHANNELS
        or _refused_feedback(ticket.customer_id, channel)
    ):
        return None
    now = timezone.now()
    survey = Survey.objects.create(
        kind=SurveyKind.CSAT,
        customer=ticket.customer,
        ticket=ticket,
        solve=solve,
        channel=channel,
        language=survey_language(ticket.customer),
        created_at=now,
        expires_at=now + timedelta(days=policy.answer_days),
    )
    survey.message = services.reply(
        ticket=ticket,
        author=None,
        text=survey_message_text(survey),
        channel=channel,
        author_kind=AuthorKind.SYSTEM,
    )
    survey.save(update_fields=["message"])
    return survey


# --- answers ----------------------------------------------------------------------------


def survey_for_token(token: str) -> Survey | None:
    if not token or len(token) > 64:
        return None
    return Survey.objects.select_related("customer", "message").filter(token=token).first()


def edit_deadline(survey: Survey, policy: SatisfactionPolicy) -> datetime | None:
    if survey.answered_at is None:
        return None
    return survey.answered_at + timedelta(hours=policy.comment_edit_hours)


def is_viewable(survey: Survey, policy: SatisfactionPolicy, now: datetime | None = None) -> bool:
    """An unanswered survey until it expires; an answered one while it could still be
    answered or its comment edited (the link is the only key to the customer's words)."""
    now = now or timezone.now()
    if survey.answered_at is None:
        return now < survey.expires_at
    deadline = edit_deadline(survey, policy)
    return now < max(survey.expires_at, deadline) if deadline else now < survey.expires_at


def _locked_survey(token: str) -> Survey:
    survey = Survey.objects.select_for_update().filter(token=token).first() if token else None
    if survey is None:
        raise NotFoundError(_("This survey does not exist."), code="survey_not_found")
    return survey


def _clean_comment(comment: str) -> str:
    comment = (comment or "").strip()
    if len(comment) > MAX_COMMENT_CHARS:
        raise DomainError(
            _("A comment is limited to 2,000 characters."),
            code="comment_too_long",
            fields={"comment": [_("A comment is limited to 2,000 characters.")]},
        )
    return comment


@transaction.atomic
def answer_survey(*, token: str, score: int, comment: str = "") -> Survey:
    """Record the one answer of a survey; a CSAT answer lands on the ticket too."""
    survey = _locked_survey(token)
    now = timezone.now()
    if survey.answered_at is not None:
        raise ConflictError(_("This survey was already answered."), code="survey_answered")
    if survey.is_expired(now):
        raise NotFoundError(_("This survey has expired."), code="survey_expired")
    low, high = survey.scale
    if not isinstance(score, int) or isinstance(score, bool) or not low <= score <= high:
        message = _("Choose a score from %(low)s to %(high)s.") % {"low": low, "high": high}
        raise DomainError(message, code="invalid_score", fields={"score": [message]})
    survey.score = score
    survey.comment = _clean_comment(comment)
    survey.answered_at = now
    if survey.kind == SurveyKind.CSAT and survey.ticket_id:
        policy = SatisfactionPolicy.current()
        ticket = _current_ticket(survey.ticket_id)
        _add_timeline_event(ticket, _answer_event_text(survey))
        if policy.is_bad(score):
            survey.outcome = _apply_bad_score_policy(survey, ticket, policy)
    survey.save(update_fields=["score", "comment", "answered_at", "outcome"])
    return survey


@transaction.atomic
def change_survey_comment(*, token: str, comment: str) -> Survey:
    """Let the customer reword their comment for a while after answering."""
    survey = _locked_survey(token)
    if survey.answered_at is None:
        raise ConflictError(_("Answer the survey first."), code="survey_not_answered")
    policy = SatisfactionPolicy.current()
    now = timezone.now()
    if now >= edit_deadline(survey, policy):
        raise ConflictError(
            _("The comment can no longer be changed."), code="survey_comment_locked"
        )
    comment = _clean_comment(comment)
    if comment == survey.comment:
        return survey
    survey.comment = comment
    survey.comment_updated_at = now
    survey.save(update_fields=["comment", "comment_updated_at"])
    if survey.kind == SurveyKind.CSAT and survey.ticket_id:
        with translation.override(settings.LANGUAGE_CODE):
            text = _("The customer changed their satisfaction comment: “%(comment)s”") % {
                "comment": comment or "—"
            }
        _add_timeline_event(_current_ticket(survey.ticket_id), text)
    return survey


def _current_ticket(ticket_id: int) -> Ticket:
    """The ticket, or the one it was merged into: that is where the story continues."""
    ticket = Ticket.objects.select_for_update().get(pk=ticket_id)
    seen = {ticket.pk}
    while ticket.merged_into_id and ticket.merged_into_id not in seen:
        ticket = Ticket.objects.select_for_update().get(pk=ticket.merged_into_id)
        seen.add(ticket.pk)
    return ticket


def _answer_event_text(survey: Survey) -> str:
    with translation.override(settings.LANGUAGE_CODE):
        text = _("The customer rated this ticket %(score)s/5.") % {"score": survey.score}
        if survey.comment:
            text += " " + _("Comment: “%(comment)s”") % {"comment": survey.comment}
    return text


def _add_timeline_event(ticket: Ticket, text: str) -> Message:
    message = Message.objects.create(
        ticket=ticket,
        direction=Direction.EVENT,
        channel=Channel.CONSOLE,
        author_kind=AuthorKind.SYSTEM,
        body_text=text,
    )
    ticket.save(update_fields=["updated_at"])
    realtime.publish(
        ticket_groups(ticket),
        "message.added",
        {
            "ticket_id": ticket.pk,
            "message_id": message.pk,
            "direction": message.direction,
            "channel": message.channel,
            "author_id": None,
        },
    )
    ticket_changed.send(Ticket, ticket=ticket, event="message_added", changed=[], message=message)
    return message


def _apply_bad_score_policy(survey: Survey, ticket: Ticket, policy: SatisfactionPolicy) -> str:
    """Reopen a solved ticket when the policy says so; otherwise (or when it can no longer
    be reopened: closed, merged) tag it and tell the managers live."""
    if policy.bad_score_action == BadScoreAction.REOPEN and ticket.status == TicketStatus.SOLVED:
        with translation.override(settings.LANGUAGE_CODE):
            reason = _("Bad satisfaction score (%(score)s/5)") % {"score": survey.score}
        services.change_status(ticket=ticket, status=TicketStatus.OPEN, actor=None, reason=reason)
        return SurveyOutcome.REOPENED
    names = list(ticket.tags.values_list("name", flat=True))
    if policy.flag_tag and policy.flag_tag not in names:
        services.update_ticket(ticket=ticket, actor=None, tags=[*names, policy.flag_tag])
    realtime.publish(
        [MANAGERS_GROUP],
        FLAGGED_EVENT,
        {"ticket_id": ticket.pk, "survey_id": survey.pk, "score": survey.score},
    )
    return SurveyOutcome.FLAGGED


def surveys_of_ticket(ticket: Ticket) -> QuerySet[Survey]:
    """The CSAT surveys of a ticket (and of tickets merged into it), newest first."""
    return (
        Survey.objects.filter(kind=SurveyKind.CSAT)
        .filter(Q(ticket=ticket) | Q(ticket__merged_into=ticket))
        .select_related("message")
        .order_by("-created_at", "-pk")
    )


# --- NPS --------------------------------------------------------------------------------

# Channels an NPS invitation may use, in the order tried after the preferred one.
NPS_CHANNELS = [
    c for c in ContactChannel.values if c not in (ContactChannel.PHONE, ContactChannel.STORE)
]


def nps_candidates(*, now: datetime, policy: SatisfactionPolicy) -> QuerySet[Customer]:
    """Active customers with a ticket solved recently, a feedback consent on a channel
    that can carry a link, and no NPS survey within the frequency cap."""
    solved_recently = Ticket.objects.filter(
        customer=OuterRef("pk"),
        solved_at__gte=now - timedelta(days=policy.nps_recent_days),
        merged_into__isnull=True,
    )
    consents = Consent.objects.filter(
        purpose=ConsentPurpose.FEEDBACK, granted=True, channel__in=NPS_CHANNELS
    )
    asked = Survey.objects.filter(
        customer=OuterRef("pk"),
        kind=SurveyKind.NPS,
        created_at__gte=now - timedelta(days=policy.nps_interval_days),
    )
    return (
        Customer.objects.filter(status=CustomerStatus.ACTIVE)
        .filter(Exists(solved_recently), Exists(consents.filter(customer=OuterRef("pk"))))
        .exclude(Exists(asked))
        .prefetch_related(Prefetch("consents", queryset=consents, to_attr="feedback_consents"))
        .order_by("pk")
    )


def nps_channel_for(customer: Customer, consented: set[str]) -> str | None:
    """The customer's preferred channel if they consented on it, else the first consented."""
    if customer.preferred_channel in consented:
        return customer.preferred_channel
    return next((channel for channel in NPS_CHANNELS if channel in consented), None)


def within_contact_hours(customer: Customer, now: datetime) -> bool:
    start, end = customer.contact_hours_start, customer.contact_hours_end
    if start is None or end is None:
        return True
    try:
        local: time = now.astimezone(zoneinfo.ZoneInfo(customer.timezone)).time()
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return True
    return start <= local < end if start <= end else (local >= start or local < end)


def send_due_nps_surveys(*, now: datetime | None = None) -> int:
    """Periodic: send an NPS survey to each customer due one (at most the batch size)."""
    policy = SatisfactionPolicy.current()
    if not policy.nps_enabled:
        return 0
    now = now or timezone.now()
    sent = 0
    for customer in nps_candidates(now=now, policy=policy).iterator(chunk_size=200):
        if not within_contact_hours(customer, now):
            continue
        channel = nps_channel_for(customer, {c.channel for c in customer.feedback_consents})
        if channel is None:
            continue
        if send_nps_survey(customer_id=customer.pk, channel=channel, now=now, policy=policy):
            sent += 1
            if sent >= policy.nps_batch_size:
                break
    return sent


@transaction.atomic
def send_nps_survey(
    *, customer_id: int, channel: str, now: datetime, policy: SatisfactionPolicy
) -> Survey | None:
    """Create and queue one NPS survey; None when another run asked this customer first."""
    customer = Customer.objects.select_for_update().get(pk=customer_id)
    recently_asked = Survey.objects.filter(
        customer=customer,
        kind=SurveyKind.NPS,
        created_at__gte=now - timedelta(days=policy.nps_interval_days),
    ).exists()
    if recently_asked:
        return None
    survey = Survey.objects.create(
        kind=SurveyKind.NPS,
        customer=customer,
        channel=channel,
        language=survey_language(customer),
        created_at=now,
        expires_at=now + timedelta(days=policy.answer_days),
    )
    enqueue(SURVEY_DELIVER_TOPIC, {"survey_id": survey.pk}, dedupe_key=f"survey:{survey.pk}")
    return survey


@transaction.atomic
def record_survey_delivery(*, survey_id: int, status: str, reason: str = "") -> bool:
    """The channel's verdict on an NPS invitation; only a queued survey moves."""
    updated = Survey.objects.filter(pk=survey_id, delivery=SurveyDelivery.QUEUED).update(
        delivery=status, failure_reason=reason[:500]
    )
    return bool(updated)


@receiver(customer_merged, dispatch_uid="tickets.surveys.move_surveys_of_merged_customer")
def move_surveys_of_merged_customer(
    sender: Any, source_id: int, target_id: int, **kwargs: Any
) -> None:
    """customers -> tickets: the surviving customer owns the merged one's surveys."""
    Survey.objects.filter(customer_id=source_id).update(customer_id=target_id)
