"""Celery beat: poll every IMAP mailbox (``email-imap-poll`` in CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

from celery import shared_task

from channels_hub.email_imap import poll_mailbox, polled_connections
from omniservice.celery import TRANSIENT_RETRY


@shared_task(**TRANSIENT_RETRY)
def poll_email_mailboxes() -> None:
    """One task per mailbox, so a slow server delays only its own mail."""
    for connection_id in polled_connections():
        poll_email_mailbox.delay(connection_id)


@shared_task(**TRANSIENT_RETRY)
def poll_email_mailbox(connection_id: int) -> None:
    """Idempotent: a second run while one is polling does nothing (lease), and a message
    already stored is never fetched again (UID) nor stored twice (Message-ID)."""
    poll_mailbox(connection_id)
