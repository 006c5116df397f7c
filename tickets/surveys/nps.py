"""NPS surveys per customer, on a schedule, without a ticket.

The periodic task ``send_nps_surveys`` picks customers who had a ticket solved recently,
consent to feedback on a channel and were not asked lately (the frequency cap); each
survey leaves through the outbox topic ``survey.deliver``, whose handler in
``channels_hub`` sends the link on the chosen channel, and reports back through
:func:`record_survey_delivery`.
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime, time, timedelta

from django.db import transaction
from django.db.models import Exists, OuterRef, Prefetch, QuerySet
from django.utils import timezone

from customers.models import Consent, ConsentPurpose, ContactChannel, Customer, CustomerStatus
from omniservice.outbox.services import enqueue
from tickets.models import SatisfactionPolicy, Survey, SurveyDelivery, SurveyKind, Ticket
from tickets.surveys.services import survey_language

SURVEY_DELIVER_TOPIC = "survey.deliver"

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
