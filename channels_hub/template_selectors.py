"""Reads of the WhatsApp templates: the connection page's list, the reply box's picker."""

from __future__ import annotations

from django.db.models import QuerySet

from channels_hub.models import ChannelConnection
from channels_hub.template_models import TemplateStatus, WhatsAppTemplate


def templates_of(connection: ChannelConnection) -> QuerySet[WhatsAppTemplate]:
    """Every template of the connection, whatever its status (one query)."""
    return WhatsAppTemplate.objects.filter(connection=connection).order_by("name", "language")


def sendable_templates(connection: ChannelConnection) -> QuerySet[WhatsAppTemplate]:
    """The approved templates replies can be made from (one query)."""
    return templates_of(connection).filter(status=TemplateStatus.APPROVED, supported=True)
