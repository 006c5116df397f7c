"""Celery beat: sync every WhatsApp connection's templates (``whatsapp-template-sync``)."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from channels_hub.adapters import TransientDeliveryError
from channels_hub.template_sync import connections_to_sync, sync_connection_templates
from omniservice.celery import TRANSIENT_ERRORS, TRANSIENT_RETRY

# The provider's 5xx, 429 and timeouts are retried like a database hiccup; a 4xx is not.
PROVIDER_RETRY: dict[str, Any] = {
    **TRANSIENT_RETRY,
    "autoretry_for": (*TRANSIENT_ERRORS, TransientDeliveryError),
}


@shared_task(**TRANSIENT_RETRY)
def sync_all_whatsapp_templates() -> None:
    """One task per connection, so a slow account delays only its own sync."""
    for connection_id in connections_to_sync():
        sync_whatsapp_templates.delay(connection_id)


@shared_task(**PROVIDER_RETRY)
def sync_whatsapp_templates(connection_id: int) -> None:
    """Idempotent: templates are upserted, the ones gone upstream marked disabled."""
    sync_connection_templates(connection_id=connection_id)
