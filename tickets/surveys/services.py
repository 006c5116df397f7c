"""Satisfaction surveys, shared parts and CSAT: sending on solve, answers, bad scores.

CSAT: a ``ticket_changed`` receiver that sees a ticket become solved writes an outbox row
(topic ``survey.csat``, deduplicated per solve) in the solving transaction; after commit
its handler creates the survey and sends it as an outbound *system* message of the
ticket through :func:`tickets.services.reply`, so the usual delivery carries it. The
message holds a link to the public survey page (``/survey/<token>/``). One survey per
solve: the survey row is unique per solve status change.

An answer is stored on the survey; a CSAT answer also writes a system event on the
ticket's timeline and, when the score is bad, applies the :class:`SatisfactionPolicy`
(reopen the ticket, or tag it and notify the managers live). NPS lives in
:mod:`tickets.surveys.nps`.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.dispatch import receiver
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from customers.models import (
    Consent,
    ConsentPurpose,
    Customer,
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
    Message,
    SatisfactionPolicy,
    Survey,
    SurveyKind,
    SurveyOutcome,
    Ticket,
    TicketStatus,
    TicketStatusChange,
)
from tickets.signals import ticket_changed
from tickets.visibility import MANAGERS_GROUP

logger = logging.getLogger(__name__)

CSAT_TOPIC = "survey.csat"
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
    return services.add_timeline_event(ticket=ticket, text=text)


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


@receiver(customer_merged, dispatch_uid="tickets.surveys.move_surveys_of_merged_customer")
def move_surveys_of_merged_customer(
    sender: Any, source_id: int, target_id: int, **kwargs: Any
) -> None:
    """customers -> tickets: the surviving customer owns the merged one's surveys."""
    Survey.objects.filter(customer_id=source_id).update(customer_id=target_id)
