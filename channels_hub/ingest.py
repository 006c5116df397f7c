"""Store what a verified webhook brought: customer messages and delivery receipts."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from channels_hub.adapters.base import Receipt, Watermark, WebhookBatch
from channels_hub.inbox import accept
from channels_hub.models import ChannelConnection, EarlyReceipt, SentMessage
from tickets.models import Direction, Message
from tickets.services import record_deliveries, record_delivery

logger = logging.getLogger(__name__)
HEALTH_RESOLUTION = timedelta(minutes=1)


@dataclass
class IngestSummary:
    stored: int = 0
    duplicates: int = 0
    receipts_applied: int = 0
    receipts_waiting: int = 0
    dropped: int = 0


def ingest_batch(batch: WebhookBatch, *, connection: ChannelConnection) -> IngestSummary:
    """Accept every message for threading (a provider retry is a no-op) and apply every
    receipt."""
    summary = IngestSummary()
    accepted = accept(batch.messages, connection=connection)
    summary.stored = accepted.accepted - accepted.dropped
    summary.duplicates, summary.dropped = accepted.duplicates, accepted.dropped
    # Watermarks first: one UPDATE for a conversation's replies, so that the receipts
    # naming the same replies (Messenger sends both) find them moved and write nothing.
    for watermark in batch.watermarks:
        summary.receipts_applied += apply_watermark(watermark, connection=connection)
    for receipt in batch.receipts:
        if apply_receipt(receipt, channel=connection.channel):
            summary.receipts_applied += 1
        else:
            summary.receipts_waiting += 1
    if summary.stored:
        _mark_inbound(connection)
    return summary


_marked_at: dict[str, float] = {}  # webhook key -> when this process last wrote it


def _mark_inbound(connection: ChannelConnection) -> None:
    """Health shows when a connection last received a message, to the minute: writing it
    on every webhook would make all of them queue on this one row's lock. The
    connection comes from a snapshot whose ``last_inbound_at`` may be old, so each
    process also remembers when it last wrote it."""
    now = timezone.now()
    stale = now - HEALTH_RESOLUTION
    if connection.last_inbound_at is not None and connection.last_inbound_at >= stale:
        return
    key = connection.webhook_key
    if time.monotonic() - _marked_at.get(key, -1e9) < HEALTH_RESOLUTION.total_seconds():
        return
    _marked_at[key] = time.monotonic()
    ChannelConnection.objects.filter(pk=connection.pk).filter(
        Q(last_inbound_at__isnull=True) | Q(last_inbound_at__lt=stale)
    ).update(last_inbound_at=now)


def apply_receipt(receipt: Receipt, *, channel: str) -> bool:
    """Move the message's status; a receipt for an id not known yet waits (returns False)."""
    message_id = (
        Message.objects.filter(
            channel=channel,
            provider_message_id=receipt.provider_message_id,
            direction=Direction.OUTBOUND,
        )
        .values_list("pk", flat=True)
        .first()
    )
    if message_id is None:
        EarlyReceipt.objects.create(
            channel=channel,
            provider_message_id=receipt.provider_message_id[:200],
            status=receipt.status,
            reason=receipt.reason[:500],
        )
        return False
    record_delivery(message_id=message_id, status=receipt.status, reason=receipt.reason)
    return True


def apply_watermark(watermark: Watermark, *, connection: ChannelConnection) -> int:
    """Every reply to the watermark's recipient through this connection, sent at or before
    it, moves forward (never back); returns how many moved. A reply whose send call had
    not returned yet is not covered: the next receipt of the conversation covers it."""
    covered = SentMessage.objects.filter(
        connection=connection, recipient=watermark.recipient, sent_at__lte=watermark.up_to
    ).values("message_id")
    return record_deliveries(message_ids=covered, status=watermark.status)


def apply_early_receipts(*, message_id: int, channel: str, provider_message_id: str) -> None:
    """Called once a send has stored the provider's id: apply what arrived before it."""
    with transaction.atomic():
        early = list(
            EarlyReceipt.objects.select_for_update()
            .filter(channel=channel, provider_message_id=provider_message_id)
            .order_by("pk")
        )
        for receipt in early:
            record_delivery(message_id=message_id, status=receipt.status, reason=receipt.reason)
        EarlyReceipt.objects.filter(pk__in=[r.pk for r in early]).delete()
