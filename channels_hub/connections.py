"""Reading and keeping the channel connections: the default per channel, health."""

from __future__ import annotations

from django.utils import timezone

from channels_hub.models import ChannelConnection, ConnectionHealth


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
