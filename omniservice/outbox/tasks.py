from __future__ import annotations

from celery import shared_task

from omniservice.celery import TRANSIENT_RETRY
from omniservice.outbox import services


@shared_task(**TRANSIENT_RETRY)
def deliver_outbox_message(message_id: int) -> str:
    return services.deliver(message_id)


@shared_task(**TRANSIENT_RETRY)
def sweep_outbox() -> int:
    """Periodic: release expired locks and deliver every due message."""
    services.release_expired_locks()
    ids = services.due_message_ids()
    for message_id in ids:
        services.deliver(message_id)
    return len(ids)
