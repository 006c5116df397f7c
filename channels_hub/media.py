"""Files a provider keeps for us (WhatsApp media ids, WeChat MediaId), fetched after the
webhook has been answered and stored on their message.

The webhook only names the file; fetching it takes one or two more calls to the
provider, which would not fit the provider's answer deadline. Each file is one outbox
message (its dedupe key is the message and the file), so a retried webhook fetches
nothing twice, a provider hiccup is retried with backoff, and a file we do not accept
(too large, a type we do not serve) is logged and left out: the message keeps its text,
e.g. ``[image] caption``.
"""

from __future__ import annotations

import logging
from typing import Any

from channels_hub.adapters import PermanentDeliveryError, adapter_for
from channels_hub.adapters.base import InboundMessage
from channels_hub.models import ChannelConnection
from omniservice.errors import DomainError
from omniservice.outbox.handlers import register
from omniservice.outbox.services import enqueue
from tickets.attachments import check_attachment
from tickets.services import add_message_attachments

logger = logging.getLogger(__name__)

MEDIA_TOPIC = "channel.media.fetch"


def schedule_media(
    inbound: InboundMessage, *, message_id: int, connection: ChannelConnection
) -> None:
    for media in inbound.media:
        enqueue(
            MEDIA_TOPIC,
            {
                "message_id": message_id,
                "connection_id": connection.pk,
                "ref": media.ref,
                "filename": media.filename,
            },
            dedupe_key=f"media:{message_id}:{media.ref}"[:200],
        )


@register(MEDIA_TOPIC)
def fetch_media(payload: dict[str, Any]) -> None:
    connection = ChannelConnection.objects.filter(pk=payload["connection_id"]).first()
    adapter = adapter_for(connection.channel) if connection is not None else None
    if connection is None or adapter is None:
        logger.warning("media %s not fetched: its connection is gone", payload["ref"])
        return
    try:
        content = adapter.fetch_media(connection, payload["ref"])
        upload = check_attachment(payload["filename"], content)
    except (PermanentDeliveryError, DomainError) as exc:
        logger.warning(
            "media %s of message %s left out: %s", payload["ref"], payload["message_id"], exc
        )
        return
    add_message_attachments(message_id=payload["message_id"], attachments=[upload])
