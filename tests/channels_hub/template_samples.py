"""WhatsApp templates as Graph lists them, and tickets whose customer last wrote on
WhatsApp some hours ago; shared by the template tests (sync, sending, console, API)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from channels_hub.models import ChannelConnection, WhatsAppTemplate
from customers.models import IdentityKind
from tests.channels_hub.fake_provider import Answer
from tests.factories import IdentityFactory, MessageFactory, TicketFactory
from tickets.models import Channel, Message, Ticket

PHONE_ID = "106540352242922"
WABA_ID = "102290129340398"
WA_ID = "8613812345678"
TEMPLATES_PATH = f"/v21.0/{WABA_ID}/message_templates"
MESSAGES_PATH = f"/v21.0/{PHONE_ID}/messages"
WHATSAPP_SECRETS = {
    "app_secret": "whatsapp-app-secret",
    "access_token": "EAAG-token",
    "verify_token": "verify-me",
}
ORDER_BODY = "您好 {{1}}，您的订单 {{2}} 已发货。"
ORDER_BODY_EN = "Hello {{1}}, your order {{2}} has shipped."


def graph_template(
    name: str = "order_shipped",
    language: str = "zh_CN",
    *,
    status: str = "APPROVED",
    category: str = "UTILITY",
    body: str = ORDER_BODY,
    **extra: Any,
) -> dict[str, Any]:
    """One entry of ``GET /{waba-id}/message_templates`` (Graph's documented shape)."""
    return {
        "name": name,
        "language": language,
        "status": status,
        "category": category,
        "components": [{"type": "BODY", "text": body}],
        "id": str(1_000_000 + sum(map(ord, name + language))),
        **extra,
    }


def graph_page(*templates: dict[str, Any], after: str = "") -> Answer:
    """A page of the list; with ``after`` it links the next page like Graph does."""
    paging: dict[str, Any] = {"cursors": {"before": "QVFIUkJFRk9SRQ==", "after": after or "END"}}
    if after:
        paging["next"] = (
            f"https://graph.facebook.com/v21.0/{WABA_ID}/message_templates?limit=100&after={after}"
        )
    return Answer(200, {"data": list(templates), "paging": paging})


def sent_answer(provider_id: str = "wamid.TEMPLATE1") -> Answer:
    return Answer(
        200,
        {
            "messaging_product": "whatsapp",
            "contacts": [{"input": WA_ID, "wa_id": WA_ID}],
            "messages": [{"id": provider_id, "message_status": "accepted"}],
        },
    )


def whatsapp_connection(base_url: str, **settings: str) -> ChannelConnection:
    connection = ChannelConnection(
        channel=Channel.WHATSAPP,
        name="WhatsApp main",
        settings={
            "base_url": base_url,
            "phone_number_id": PHONE_ID,
            "waba_id": WABA_ID,
            **settings,
        },
    )
    connection.set_secrets(WHATSAPP_SECRETS)
    connection.save()
    return connection


def stored_template(
    connection: ChannelConnection,
    name: str = "order_shipped",
    language: str = "zh_CN",
    *,
    status: str = "approved",
    body: str = ORDER_BODY,
    parameter_count: int = 2,
    **fields: Any,
) -> WhatsAppTemplate:
    fields.setdefault("components", [{"type": "BODY", "text": body}])
    return WhatsAppTemplate.objects.create(
        connection=connection,
        name=name,
        language=language,
        status=status,
        body_text=body,
        parameter_count=parameter_count,
        synced_at=timezone.now(),
        **fields,
    )


def whatsapp_ticket(*, hours_ago: float, name: str = "李娜", **ticket_fields: Any) -> Ticket:
    """A ticket whose customer last wrote on WhatsApp ``hours_ago`` hours ago."""
    ticket = TicketFactory(
        origin_channel=Channel.WHATSAPP, customer__name=name, status="open", **ticket_fields
    )
    IdentityFactory(customer=ticket.customer, kind=IdentityKind.WHATSAPP_ID, value=WA_ID)
    message = MessageFactory(ticket=ticket, channel=Channel.WHATSAPP)
    Message.objects.filter(pk=message.pk).update(
        created_at=timezone.now() - timedelta(hours=hours_ago)
    )
    return ticket
