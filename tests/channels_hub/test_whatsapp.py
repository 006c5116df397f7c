"""WhatsApp Cloud API: signed webhooks in (documented payload shapes), replies out to a
local server playing Graph, receipts, and the 24-hour customer-service window."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from channels_hub.adapters.meta import meta_signature
from channels_hub.delivery import deliver_message
from customers.models import Identity, IdentityKind
from omniservice.outbox.models import OutboxMessage, OutboxStatus
from omniservice.outbox.services import deliver
from tests.channels_hub.conftest import webhook_url
from tests.channels_hub.fake_provider import Answer
from tickets.models import Channel, DeliveryStatus, Direction, Message
from tickets.services import reply

pytestmark = pytest.mark.django_db
APP_SECRET = "whatsapp-app-secret"
PHONE_ID = "106540352242922"


def text_payload(
    message_id: str = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
    body: str = "Hello, is my order shipped?",
) -> dict:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550783881",
                                "phone_number_id": PHONE_ID,
                            },
                            "contacts": [
                                {"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}
                            ],
                            "messages": [
                                {
                                    "from": "16505551234",
                                    "id": message_id,
                                    "timestamp": "1749416383",
                                    "type": "text",
                                    "text": {"body": body},
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }


def status_payload(provider_id: str, status: str, errors: list | None = None) -> dict:
    item = {
        "id": provider_id,
        "status": status,
        "timestamp": "1750263773",
        "recipient_id": "16505551234",
    }
    if errors:
        item["errors"] = errors
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "1",
                "changes": [
                    {
                        "field": "messages",
                        "value": {"messaging_product": "whatsapp", "statuses": [item]},
                    }
                ],
            }
        ],
    }


@pytest.fixture
def connection(make_connection):
    return make_connection(
        Channel.WHATSAPP,
        secrets={
            "app_secret": APP_SECRET,
            "access_token": "EAAG-token",
            "verify_token": "verify-me",
        },
        phone_number_id=PHONE_ID,
    )


def post_signed(
    client, connection, payload, *, secret: str = APP_SECRET, signature: str | None = None
):
    body = json.dumps(payload).encode()
    headers = {}
    if signature is not False:
        headers["HTTP_X_HUB_SIGNATURE_256"] = signature or meta_signature(secret, body)
    return client.post(webhook_url(connection), body, content_type="application/json", **headers)


def test_signed_text_message_opens_a_ticket_for_the_whatsapp_customer(client, connection):
    response = post_signed(client, connection, text_payload())

    assert response.status_code == 200
    message = Message.objects.get()
    assert message.channel == Channel.WHATSAPP
    assert message.body_text == "Hello, is my order shipped?"
    customer = message.ticket.customer
    assert customer.name == "Sheena Nelson"
    kinds = dict(Identity.objects.filter(customer=customer).values_list("kind", "value"))
    assert kinds == {IdentityKind.WHATSAPP_ID: "16505551234", IdentityKind.PHONE: "+16505551234"}
    connection.refresh_from_db()
    assert connection.last_inbound_at is not None


@pytest.mark.parametrize(
    "signature",
    [False, "sha256=" + "0" * 64, "sha1=abc"],
    ids=["unsigned", "forged", "wrong-scheme"],
)
def test_unsigned_or_forged_webhook_is_refused_with_no_write(client, connection, signature):
    response = post_signed(client, connection, text_payload(), signature=signature)

    assert response.status_code == 401
    assert response.json()["error"]["code"] in {"signature_missing", "signature_invalid"}
    assert not Message.objects.exists()


def test_webhook_signed_with_another_secret_is_refused(client, connection):
    response = post_signed(client, connection, text_payload(), secret="someone-else")
    assert response.status_code == 401
    assert not Message.objects.exists()


def test_signed_but_malformed_body_is_refused_with_400(client, connection):
    body = b"{not json"
    response = client.post(
        webhook_url(connection),
        body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=meta_signature(APP_SECRET, body),
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed"
    assert not Message.objects.exists()


def test_unknown_webhook_key_is_404(client, connection):
    response = client.post("/hooks/whatsapp/not-a-key/", b"{}", content_type="application/json")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_connection"


def test_second_delivery_of_same_webhook_is_ignored(client, connection):
    first = post_signed(client, connection, text_payload())
    second = post_signed(client, connection, text_payload())

    assert first.status_code == second.status_code == 200
    assert Message.objects.count() == 1


def test_url_verification_echoes_the_challenge_only_with_the_verify_token(client, connection):
    url = webhook_url(connection)
    good = client.get(
        url,
        {"hub.mode": "subscribe", "hub.verify_token": "verify-me", "hub.challenge": "1158201444"},
    )
    bad = client.get(
        url, {"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1"}
    )

    assert good.status_code == 200 and good.content == b"1158201444"
    assert bad.status_code == 403


def _ticket_with_inbound(client, connection):
    post_signed(client, connection, text_payload())
    return Message.objects.get().ticket


def test_reply_goes_to_graph_with_the_token_and_is_marked_sent(client, connection, fake_provider):
    ticket = _ticket_with_inbound(client, connection)
    fake_provider.answer(
        "POST",
        f"/v21.0/{PHONE_ID}/messages",
        Answer(
            200,
            {
                "messaging_product": "whatsapp",
                "contacts": [{"wa_id": "16505551234"}],
                "messages": [{"id": "wamid.OUT1"}],
            },
        ),
    )
    outbound = reply(ticket=ticket, author=None, text="Yes, it left the warehouse today.")

    deliver_message({"message_id": outbound.pk})

    sent = fake_provider.received(f"/v21.0/{PHONE_ID}/messages")[0]
    assert sent.headers["Authorization"] == "Bearer EAAG-token"
    assert sent.json()["to"] == "16505551234"
    assert sent.json()["text"]["body"] == "Yes, it left the warehouse today."
    outbound.refresh_from_db()
    assert (outbound.delivery_status, outbound.provider_message_id) == (
        DeliveryStatus.SENT,
        "wamid.OUT1",
    )
    connection.refresh_from_db()
    assert connection.health == "ok"


def test_receipts_move_the_status_forward_and_a_failure_keeps_the_reason(
    client, connection, fake_provider
):
    ticket = _ticket_with_inbound(client, connection)
    fake_provider.answer(
        "POST", f"/v21.0/{PHONE_ID}/messages", Answer(200, {"messages": [{"id": "wamid.OUT2"}]})
    )
    outbound = reply(ticket=ticket, author=None, text="Here is your tracking link.")
    deliver_message({"message_id": outbound.pk})

    post_signed(client, connection, status_payload("wamid.OUT2", "read"))
    post_signed(client, connection, status_payload("wamid.OUT2", "delivered"))  # late: ignored

    outbound.refresh_from_db()
    assert outbound.delivery_status == DeliveryStatus.READ

    other = reply(ticket=ticket, author=None, text="And a second one.")
    fake_provider.answer(
        "POST", f"/v21.0/{PHONE_ID}/messages", Answer(200, {"messages": [{"id": "wamid.OUT3"}]})
    )
    deliver_message({"message_id": other.pk})
    errors = [
        {
            "code": 131026,
            "title": "Message undeliverable",
            "error_data": {"details": "receiver incapable"},
        }
    ]
    post_signed(client, connection, status_payload("wamid.OUT3", "failed", errors))
    other.refresh_from_db()
    assert other.delivery_status == DeliveryStatus.FAILED
    assert "Message undeliverable (131026)" in other.failure_reason


def test_receipt_that_beats_the_send_answer_is_applied_once_the_id_is_known(
    client, connection, fake_provider
):
    ticket = _ticket_with_inbound(client, connection)
    post_signed(client, connection, status_payload("wamid.EARLY", "delivered"))
    fake_provider.answer(
        "POST", f"/v21.0/{PHONE_ID}/messages", Answer(200, {"messages": [{"id": "wamid.EARLY"}]})
    )
    outbound = reply(ticket=ticket, author=None, text="Fast network.")

    deliver_message({"message_id": outbound.pk})

    outbound.refresh_from_db()
    assert outbound.delivery_status == DeliveryStatus.DELIVERED


def test_provider_4xx_fails_the_reply_at_once_with_its_reason(client, connection, fake_provider):
    ticket = _ticket_with_inbound(client, connection)
    fake_provider.answer(
        "POST",
        f"/v21.0/{PHONE_ID}/messages",
        Answer(
            400, {"error": {"message": "Invalid parameter", "type": "OAuthException", "code": 100}}
        ),
    )
    outbound = reply(ticket=ticket, author=None, text="Hello")
    outbox = OutboxMessage.objects.get(payload={"message_id": outbound.pk})

    assert deliver(outbox.pk) == OutboxStatus.DONE  # handled: the reply itself failed

    outbound.refresh_from_db()
    assert outbound.delivery_status == DeliveryStatus.FAILED
    assert "Invalid parameter (100)" in outbound.failure_reason


@pytest.mark.parametrize(
    "answer", [Answer(503, {"error": {"message": "busy", "code": 2}}), Answer(429, {})]
)
def test_provider_5xx_or_429_is_retried_by_the_outbox_then_fails_for_good(
    client, connection, fake_provider, answer
):
    ticket = _ticket_with_inbound(client, connection)
    fake_provider.answer("POST", f"/v21.0/{PHONE_ID}/messages", answer)
    outbound = reply(ticket=ticket, author=None, text="Hello")
    outbox = OutboxMessage.objects.get(payload={"message_id": outbound.pk})

    assert deliver(outbox.pk) == OutboxStatus.PENDING
    outbound.refresh_from_db()
    assert outbound.delivery_status == DeliveryStatus.QUEUED
    connection.refresh_from_db()
    assert connection.health == "failing" and connection.last_error

    OutboxMessage.objects.filter(pk=outbox.pk).update(attempts=11, available_at=timezone.now())
    assert deliver(outbox.pk) == OutboxStatus.DEAD
    outbound.refresh_from_db()
    assert outbound.delivery_status == DeliveryStatus.FAILED
    assert "repeated attempts" in outbound.failure_reason


def test_timeout_is_retried(client, connection, fake_provider, settings):
    settings.CHANNEL_HTTP_TIMEOUT_SECONDS = 0.2
    from channels_hub import provider_http

    provider_http._client = None
    ticket = _ticket_with_inbound(client, connection)
    fake_provider.answer(
        "POST", f"/v21.0/{PHONE_ID}/messages", Answer(200, {"messages": [{"id": "x"}]}, delay=1)
    )
    outbound = reply(ticket=ticket, author=None, text="Hello")
    outbox = OutboxMessage.objects.get(payload={"message_id": outbound.pk})
    try:
        assert deliver(outbox.pk) == OutboxStatus.PENDING
    finally:
        provider_http._client = None
    assert "no answer in time" in OutboxMessage.objects.get(pk=outbox.pk).last_error


def test_reply_outside_the_24_hour_window_is_refused_before_sending(
    client, connection, fake_provider
):
    ticket = _ticket_with_inbound(client, connection)
    Message.objects.filter(direction=Direction.INBOUND).update(
        created_at=timezone.now() - timedelta(hours=25)
    )
    outbound = reply(ticket=ticket, author=None, text="Sorry for the wait")

    deliver_message({"message_id": outbound.pk})

    outbound.refresh_from_db()
    assert outbound.delivery_status == DeliveryStatus.FAILED
    assert "24-hour reply window" in outbound.failure_reason
    assert fake_provider.requests == []


def test_reply_longer_than_the_channel_limit_is_refused(client, connection, fake_provider):
    ticket = _ticket_with_inbound(client, connection)
    outbound = reply(ticket=ticket, author=None, text="x" * 4097)

    deliver_message({"message_id": outbound.pk})

    outbound.refresh_from_db()
    assert outbound.delivery_status == DeliveryStatus.FAILED
    assert "4096" in outbound.failure_reason
    assert fake_provider.requests == []


def test_reply_without_a_connection_fails_naming_the_channel(client, connection):
    ticket = _ticket_with_inbound(client, connection)
    connection.is_active = False
    connection.save()
    outbound = reply(ticket=ticket, author=None, text="Hello")

    deliver_message({"message_id": outbound.pk})

    outbound.refresh_from_db()
    assert outbound.delivery_status == DeliveryStatus.FAILED
    assert "WhatsApp" in outbound.failure_reason
