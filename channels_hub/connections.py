"""Reading and keeping the channel connections: the default per channel, health."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.utils import timezone
from django.utils.translation import gettext as _

from channels_hub.adapters import (
    PermanentDeliveryError,
    SendResult,
    TransientDeliveryError,
    adapter_for,
)
from channels_hub.models import ChannelConnection, ConnectionHealth
from omniservice import config_cache

ACTIVE_CONNECTIONS = "channel-connections"


def _active_by_webhook() -> dict[tuple[str, str], ChannelConnection]:
    return {(c.channel, c.webhook_key): c for c in ChannelConnection.objects.filter(is_active=True)}


_active = config_cache.snapshot(ACTIVE_CONNECTIONS, _active_by_webhook)


def webhook_connection(channel: str, key: str) -> ChannelConnection | None:
    """The active connection whose webhook URL this is. Every webhook asks, so it comes
    from a per-process snapshot (one cache GET), rebuilt when a connection is saved or
    deleted; the object is shared by the process's threads: read it, never change it.
    Its health columns (written with UPDATE) may be older than the database's."""
    return _active.get().get((channel, key))


def _forget_connections(sender: Any, **kwargs: Any) -> None:
    config_cache.invalidate(ACTIVE_CONNECTIONS)


post_save.connect(_forget_connections, sender=ChannelConnection, dispatch_uid="channel-conn-s")
post_delete.connect(_forget_connections, sender=ChannelConnection, dispatch_uid="channel-conn-d")


def default_connection(channel: str) -> ChannelConnection | None:
    """The active connection replies on ``channel`` leave through.

    The one marked default, else the oldest active one (a brand with one account per
    channel never has to mark it).
    """
    return (
        ChannelConnection.objects.filter(channel=channel, is_active=True)
        .order_by("-is_default", "pk")
        .first()
    )


def record_health(connection: ChannelConnection, *, error: str) -> None:
    """After a call to the provider: working, or failing with the last error."""
    now = timezone.now()
    if error:
        ChannelConnection.objects.filter(pk=connection.pk).update(
            health=ConnectionHealth.FAILING, last_error=error[:500], last_error_at=now
        )
    else:
        ChannelConnection.objects.filter(pk=connection.pk).update(
            health=ConnectionHealth.OK, last_outbound_at=now
        )


@transaction.atomic
def save_connection(
    *,
    connection: ChannelConnection,
    name: str,
    is_active: bool,
    is_default: bool,
    settings: dict[str, Any],
    secrets: dict[str, str],
) -> ChannelConnection:
    """Create or update a connection. A blank secret keeps the stored one (secrets are
    never shown again); marking one default unmarks the channel's previous default."""
    if is_default:
        ChannelConnection.objects.filter(channel=connection.channel, is_default=True).exclude(
            pk=connection.pk
        ).update(is_default=False)
    stored = connection.secrets if connection.secrets_encrypted else {}
    merged = {**stored, **{name: value for name, value in secrets.items() if value}}
    connection.name = name
    connection.is_active = is_active
    connection.is_default = is_default
    connection.settings = {key: value for key, value in settings.items() if value not in ("", None)}
    connection.set_secrets(merged)
    connection.save()
    return connection


def send_test_message(*, connection: ChannelConnection, to: str) -> SendResult:
    """The console's "send test": one message through the provider, health recorded."""
    adapter = adapter_for(connection.channel)
    if adapter is None or not adapter.needs_connection:
        raise PermanentDeliveryError(_("This channel cannot send a test message."))
    try:
        result = adapter.send_test(connection, to)
    except (PermanentDeliveryError, TransientDeliveryError) as exc:
        record_health(connection, error=str(exc))
        raise
    record_health(connection, error="")
    return result
