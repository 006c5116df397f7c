"""Write to the outbox inside a transaction; deliver after commit with retries.

``enqueue`` only inserts a row, so the side effect exists if and only if the caller's
transaction commits. After commit a Celery task is asked to deliver it; if the broker is
unreachable at that moment nothing is lost: the periodic ``sweep_outbox`` picks up every
due row. Delivery claims a row with a conditional UPDATE, so two workers never run the
same message at once, and a worker that dies mid-way leaves a lock that expires.
"""

from __future__ import annotations

import logging
import random
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from omniservice.outbox.handlers import PermanentFailure, give_up_handler_for, handler_for
from omniservice.outbox.models import OutboxMessage, OutboxStatus

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 12
LOCK_DURATION = timedelta(minutes=5)
BASE_BACKOFF_SECONDS = 5
MAX_BACKOFF_SECONDS = 3600
SWEEP_BATCH = 500


def enqueue(topic: str, payload: dict[str, Any], *, dedupe_key: str | None = None) -> OutboxMessage:
    """Record a side effect in the current transaction; it is delivered after commit.

    With a ``dedupe_key`` a second enqueue of the same effect returns the first row.
    """
    message = OutboxMessage(
        topic=topic, payload=payload, dedupe_key=dedupe_key, available_at=timezone.now()
    )
    try:
        with transaction.atomic():
            message.save()
    except IntegrityError:
        if dedupe_key is None:
            raise
        return OutboxMessage.objects.get(dedupe_key=dedupe_key)
    transaction.on_commit(lambda: _request_delivery(message.pk))
    return message


def _request_delivery(message_id: int) -> None:
    from omniservice.outbox.tasks import deliver_outbox_message

    try:
        deliver_outbox_message.apply_async(args=[message_id], retry=False)
    except Exception:  # broker down: the sweeper delivers it later
        logger.warning(
            "outbox: could not queue message %s; the sweeper will", message_id, exc_info=True
        )


def backoff_seconds(attempts: int) -> float:
    """Exponential backoff with +/-20 % jitter, capped at an hour."""
    delay = min(BASE_BACKOFF_SECONDS * 2 ** max(attempts - 1, 0), MAX_BACKOFF_SECONDS)
    return delay * random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not security


def claim(message_id: int) -> OutboxMessage | None:
    now = timezone.now()
    claimed = OutboxMessage.objects.filter(
        pk=message_id, status=OutboxStatus.PENDING, available_at__lte=now
    ).update(
        status=OutboxStatus.PROCESSING, locked_until=now + LOCK_DURATION, attempts=F("attempts") + 1
    )
    if not claimed:
        return None
    return OutboxMessage.objects.get(pk=message_id)


def deliver(message_id: int) -> str:
    """Run the handler of one due message; returns the resulting status."""
    message = claim(message_id)
    if message is None:
        return "skipped"
    handler = handler_for(message.topic)
    try:
        if handler is None:
            raise LookupError(f"no outbox handler registered for topic {message.topic!r}")
        handler(message.payload)
    except PermanentFailure as exc:
        return _finish(message, OutboxStatus.DEAD, error=str(exc))
    except Exception as exc:
        logger.warning(
            "outbox: message %s (%s) attempt %s failed: %s",
            message.pk,
            message.topic,
            message.attempts,
            exc,
        )
        if message.attempts >= MAX_ATTEMPTS:
            return _finish(message, OutboxStatus.DEAD, error=str(exc))
        OutboxMessage.objects.filter(pk=message.pk, status=OutboxStatus.PROCESSING).update(
            status=OutboxStatus.PENDING,
            locked_until=None,
            last_error=str(exc)[:2000],
            available_at=timezone.now() + timedelta(seconds=backoff_seconds(message.attempts)),
        )
        return OutboxStatus.PENDING
    return _finish(message, OutboxStatus.DONE)


def _finish(message: OutboxMessage, status: str, *, error: str = "") -> str:
    OutboxMessage.objects.filter(pk=message.pk, status=OutboxStatus.PROCESSING).update(
        status=status, locked_until=None, last_error=error[:2000], processed_at=timezone.now()
    )
    if status == OutboxStatus.DEAD:
        logger.error("outbox: gave up on message %s (%s): %s", message.pk, message.topic, error)
        give_up = give_up_handler_for(message.topic)
        if give_up is not None:
            try:
                give_up(message.payload, error)
            except Exception:
                logger.exception("outbox: give-up handler of %s failed", message.topic)
    return status


def release_expired_locks() -> int:
    """Return to the queue the messages whose worker died while delivering them."""
    return OutboxMessage.objects.filter(
        status=OutboxStatus.PROCESSING, locked_until__lt=timezone.now()
    ).update(status=OutboxStatus.PENDING, locked_until=None)


def due_message_ids(limit: int = SWEEP_BATCH) -> list[int]:
    return list(
        OutboxMessage.objects.filter(status=OutboxStatus.PENDING, available_at__lte=timezone.now())
        .order_by("available_at")
        .values_list("pk", flat=True)[:limit]
    )
