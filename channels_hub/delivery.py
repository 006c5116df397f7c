"""The outbox handler that sends queued replies through their channel's adapter."""

from __future__ import annotations

import logging
from typing import Any

from django.utils.translation import gettext as _

from channels_hub.adapters import PermanentDeliveryError, adapter_for
from omniservice.outbox.handlers import register
from tickets.models import DeliveryStatus, Message
from tickets.services import DELIVER_TOPIC, record_delivery

logger = logging.getLogger(__name__)


@register(DELIVER_TOPIC)
def deliver_message(payload: dict[str, Any]) -> None:
    """Idempotent: a message that is no longer queued is left alone."""
    message = Message.objects.select_related("ticket").filter(pk=payload["message_id"]).first()
    if message is None or message.delivery_status != DeliveryStatus.QUEUED:
        return
    adapter = adapter_for(message.channel)
    if adapter is None:
        record_delivery(
            message_id=message.pk,
            status=DeliveryStatus.FAILED,
            reason=_("The %(channel)s channel is not connected.")
            % {"channel": message.get_channel_display()},
        )
        return
    try:
        result = adapter.send(message)
    except PermanentDeliveryError as exc:
        logger.warning("delivery of message %s failed for good: %s", message.pk, exc)
        record_delivery(message_id=message.pk, status=DeliveryStatus.FAILED, reason=str(exc))
        return
    record_delivery(
        message_id=message.pk, status=result.status, provider_message_id=result.provider_message_id
    )
