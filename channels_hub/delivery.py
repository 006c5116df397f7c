"""The outbox handler that sends queued replies through their channel's adapter."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from channels_hub.adapters import PermanentDeliveryError, TransientDeliveryError, adapter_for
from channels_hub.adapters.base import last_inbound_at
from channels_hub.connections import default_connection, record_health
from channels_hub.ingest import apply_early_receipts
from channels_hub.models import SentMessage
from omniservice.outbox.handlers import on_give_up, register
from tickets.models import DeliveryStatus, Message
from tickets.services import DELIVER_TOPIC, record_delivery

logger = logging.getLogger(__name__)


@register(DELIVER_TOPIC)
def deliver_message(payload: dict[str, Any]) -> None:
    """Idempotent: a message that is no longer queued is left alone.

    A transient error is raised again so that the outbox retries it with backoff; when
    the outbox gives up, ``give_up_delivery`` marks the reply failed with the reason.
    Reasons are written in the installation's language, whichever request or worker
    thread runs the delivery.
    """
    with translation.override(settings.LANGUAGE_CODE):
        _deliver(payload)


def _deliver(payload: dict[str, Any]) -> None:
    message = Message.objects.select_related("ticket").filter(pk=payload["message_id"]).first()
    if message is None or message.delivery_status != DeliveryStatus.QUEUED:
        return
    adapter = adapter_for(message.channel)
    connection = (
        default_connection(message.channel) if adapter and adapter.needs_connection else None
    )
    if adapter is None or (adapter.needs_connection and connection is None):
        _fail(
            message,
            _("The %(channel)s channel is not connected.")
            % {"channel": message.get_channel_display()},
        )
        return
    try:
        adapter.check(
            message, connection, last_inbound_at=last_inbound_at(message), now=timezone.now()
        )
        result = adapter.send(message, connection)
    except PermanentDeliveryError as exc:
        logger.warning("delivery of message %s failed for good: %s", message.pk, exc)
        _fail(message, str(exc))
        return
    except TransientDeliveryError as exc:
        if connection is not None:
            record_health(connection, error=str(exc))
        raise
    if connection is not None:
        record_health(connection, error="")
    with transaction.atomic():
        record_delivery(
            message_id=message.pk,
            status=result.status,
            provider_message_id=result.provider_message_id,
        )
        if result.recipient and connection is not None:
            # Taken after the provider answered: a watermark never covers a reply it
            # may not have seen (the provider's own timestamp is a little earlier).
            SentMessage.objects.get_or_create(
                message_id=message.pk,
                defaults={
                    "connection": connection,
                    "recipient": result.recipient[:200],
                    "sent_at": timezone.now(),
                },
            )
    if result.provider_message_id and connection is not None:
        apply_early_receipts(
            message_id=message.pk,
            channel=message.channel,
            provider_message_id=result.provider_message_id,
        )


@on_give_up(DELIVER_TOPIC)
def give_up_delivery(payload: dict[str, Any], error: str) -> None:
    message = Message.objects.filter(pk=payload["message_id"]).first()
    if message is not None and message.delivery_status == DeliveryStatus.QUEUED:
        with translation.override(settings.LANGUAGE_CODE):
            reason = _("Not delivered after repeated attempts: %(error)s") % {"error": error}
        _fail(message, reason)


def _fail(message: Message, reason: str) -> None:
    record_delivery(message_id=message.pk, status=DeliveryStatus.FAILED, reason=reason)
