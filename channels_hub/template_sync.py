"""Keeping a WhatsApp connection's templates in step with Meta's list.

Idempotent: templates are upserted by (connection, name, language); those no longer in
Meta's list are marked disabled, never deleted (replies keep their record). The list is
fetched before the transaction; concurrent syncs of one connection queue on its row.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from channels_hub.adapters import PermanentDeliveryError, TransientDeliveryError, adapter_for
from channels_hub.adapters.whatsapp import WhatsAppAdapter
from channels_hub.connections import record_health
from channels_hub.models import ChannelConnection
from channels_hub.template_models import TemplateStatus, WhatsAppTemplate
from channels_hub.whatsapp_templates import TemplateData, template_from_graph
from omniservice.errors import DomainError
from tickets.models import Channel

logger = logging.getLogger(__name__)
UPDATED_FIELDS = [
    "category",
    "status",
    "body_text",
    "parameter_count",
    "components",
    "supported",
    "provider_id",
    "synced_at",
]


@dataclass(frozen=True)
class SyncResult:
    total: int
    created: int
    disabled: int


def connections_to_sync() -> list[int]:
    """Active WhatsApp connections that name their WhatsApp Business Account."""
    connections = ChannelConnection.objects.filter(channel=Channel.WHATSAPP, is_active=True)
    return [c.pk for c in connections.only("pk", "settings") if c.setting("waba_id")]


def sync_templates(*, connection: ChannelConnection) -> SyncResult:
    """Fetch the templates from Graph and store them.

    ``PermanentDeliveryError`` (a 4xx: a wrong account id, an expired token) is recorded
    as the connection's last error and raised; ``TransientDeliveryError`` (5xx, timeout)
    is raised for the caller to retry. Either way nothing is changed.
    """
    adapter = adapter_for(connection.channel)
    if not isinstance(adapter, WhatsAppAdapter):
        raise DomainError(_("Only WhatsApp connections have templates."), code="not_whatsapp")
    try:
        fetched = adapter.fetch_templates(connection)
    except PermanentDeliveryError as exc:
        record_health(connection, error=_("Template sync: %(error)s") % {"error": exc})
        raise
    parsed = _unique(template_from_graph(item) for item in fetched)
    return _store(connection.pk, parsed)


def sync_connection_templates(*, connection_id: int) -> SyncResult | None:
    """The periodic job's entry: a missing, inactive or unconfigured connection is skipped;
    a permanent refusal is logged (and recorded on the connection), not retried."""
    connection = ChannelConnection.objects.filter(
        pk=connection_id, channel=Channel.WHATSAPP, is_active=True
    ).first()
    if connection is None or not connection.setting("waba_id"):
        return None
    try:
        return sync_templates(connection=connection)
    except PermanentDeliveryError as exc:
        logger.warning("whatsapp: templates of connection %s not synced: %s", connection_id, exc)
        return None
    except TransientDeliveryError:
        logger.info("whatsapp: template sync of connection %s will be retried", connection_id)
        raise


def _unique(items: Iterable[TemplateData | None]) -> list[TemplateData]:
    found: dict[tuple[str, str], TemplateData] = {}
    for item in items:
        if item is not None:
            found.setdefault((item.name, item.language), item)
    return list(found.values())


@transaction.atomic
def _store(connection_id: int, templates: list[TemplateData]) -> SyncResult:
    ChannelConnection.objects.select_for_update().filter(pk=connection_id).first()
    now = timezone.now()
    existing = set(
        WhatsAppTemplate.objects.filter(connection_id=connection_id).values_list("name", "language")
    )
    WhatsAppTemplate.objects.bulk_create(
        [_row(connection_id, data, now) for data in templates],
        update_conflicts=True,
        unique_fields=["connection", "name", "language"],
        update_fields=UPDATED_FIELDS,
        batch_size=200,
    )
    disabled = (
        WhatsAppTemplate.objects.filter(connection_id=connection_id)
        .exclude(synced_at=now)
        .exclude(status=TemplateStatus.DISABLED)
        .update(status=TemplateStatus.DISABLED)
    )
    created = sum((data.name, data.language) not in existing for data in templates)
    return SyncResult(total=len(templates), created=created, disabled=disabled)


def _row(connection_id: int, data: TemplateData, now: datetime) -> WhatsAppTemplate:
    return WhatsAppTemplate(
        connection_id=connection_id,
        name=data.name,
        language=data.language,
        category=data.category,
        status=data.status,
        body_text=data.body_text,
        parameter_count=data.parameter_count,
        components=data.components,
        supported=data.supported,
        provider_id=data.provider_id,
        synced_at=now,
    )
