"""Messages to customers outside a ticket, sent through the outbox (survey invitations).

``tickets.surveys.nps`` queues an NPS survey with the outbox topic ``survey.deliver``; this
handler finds the channel's adapter and default connection and calls ``send_notice``. The
edge layer may import tickets, never the reverse, so the outbox is the way down.
"""

from __future__ import annotations

import logging
from typing import Any

from django.utils.translation import gettext as _

from channels_hub.adapters import Notice, PermanentDeliveryError, adapter_for
from channels_hub.connections import default_connection
from omniservice.outbox.handlers import register
from tickets.models import Survey, SurveyDelivery
from tickets.surveys.nps import SURVEY_DELIVER_TOPIC, record_survey_delivery
from tickets.surveys.services import survey_message_text

logger = logging.getLogger(__name__)


@register(SURVEY_DELIVER_TOPIC)
def deliver_survey(payload: dict[str, Any]) -> None:
    """Idempotent: a survey that is no longer queued is left alone. A transient error
    raised by the adapter is retried by the outbox with backoff."""
    survey = Survey.objects.select_related("customer").filter(pk=payload["survey_id"]).first()
    if survey is None or survey.delivery != SurveyDelivery.QUEUED:
        return
    adapter = adapter_for(survey.channel)
    connection = (
        default_connection(survey.channel) if adapter and adapter.needs_connection else None
    )
    if adapter is None or (adapter.needs_connection and connection is None):
        record_survey_delivery(
            survey_id=survey.pk,
            status=SurveyDelivery.FAILED,
            reason=_("The %(channel)s channel is not connected.")
            % {"channel": survey.get_channel_display()},
        )
        return
    notice = Notice(
        customer=survey.customer,
        channel=survey.channel,
        text=survey_message_text(survey),
        reference=f"survey-{survey.pk}",
    )
    try:
        adapter.send_notice(notice, connection)
    except PermanentDeliveryError as exc:
        logger.warning("survey %s could not be delivered: %s", survey.pk, exc)
        record_survey_delivery(survey_id=survey.pk, status=SurveyDelivery.FAILED, reason=str(exc))
        return
    record_survey_delivery(survey_id=survey.pk, status=SurveyDelivery.SENT)
