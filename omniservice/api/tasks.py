from __future__ import annotations

from celery import shared_task

from omniservice.api import idempotency
from omniservice.celery import TRANSIENT_RETRY


@shared_task(**TRANSIENT_RETRY)
def purge_idempotency_records() -> int:
    """Periodic: drop stored answers older than 24 hours."""
    return idempotency.purge_records()
