"""Messenger and Instagram Direct: Meta's signed webhooks, echoes skipped, delivery and
read receipts, Send API replies inside the 24-hour window."""

from __future__ import annotations

import json

import pytest

from channels_hub.adapters.meta import meta_signature
from channels_hub.delivery import deliver_message
from customers.models import Identity, IdentityKind
from tests.channels_hub.conftest import webhook_url
from tests.channels_hub.fake_provider import Answer
from tickets.models import Channel, DeliveryStatus, Message
from tickets.services import reply

pytestmark = pytest.mark.django_db
SECRET = "meta-app-secret"


def payload(obj: str, events: list[dict]) -> dict:
    return {"object": obj, "entry": [{"id": "PAGE_ID", "time": 1458692752478, "messaging": events}]}


def message_event(
    mid: str = "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_5cg",
    text: str = "Do you have it in blue?",
    sender: str = "6543210987654321",
    echo: bool = False,
) -> dict:
    message = {"mid": mid, "text": text}
    if echo:
        message["is_echo"] = True
    return {
        "sender": {"id": sender},
        "recipient": {"id": "PAGE_ID"},
        "timestamp": 1458692752478,
        "message": message,
    }


def post_signed(client, connection, body: dict, secret: str = SECRET):
    raw = json.dumps(body).encode()
    return client.post(
        webhook_url(connection),
        raw,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=meta_signature(secret, raw),
    )


@pytest.fixture
def messenger(make_connection):
    return make_connection(
        Channel.MESSENGER, secrets={"app_secret": SECRET, "access_token": "PAGE-TOKEN"}
    )


@pytest.fixture
def instagram(make_connection):
    return make_connection(
        Channel.INSTAGRAM, secrets={"app_secret": SECRET, "access_token": "IG-TOKEN"}
    )


def test_messenger_message_is_stored_and_echoes_are_skipped(client, messenger):
    body = payload(
        "page", [message_event(), message_event(mid="m_echo", text="our own reply", echo=True)]
    )
    assert post_signed(client, messenger, body).status_code == 200

    message = Message.objects.get()
    assert (message.channel, message.body_text) == (Channel.MESSENGER, "Do you have it in blue?")
    assert Identity.objects.filter(
        kind=IdentityKind.FACEBOOK_PSID, value="6543210987654321"
    ).exists()


def test_instagram_webhook_on_the_messenger_url_is_refused(client, messenger):
    response = post_signed(client, messenger, payload("instagram", [message_event()]))
    assert response.status_code == 400
    assert not Message.objects.exists()


def test_forged_messenger_webhook_is_refused(client, messenger):
    response = post_signed(client, messenger, payload("page", [message_event()]), secret="wrong")
    assert response.status_code == 401
    assert not Message.objects.exists()


def test_messenger_reply_and_delivery_receipt(client, messenger, fake_provider):
    post_signed(client, messenger, payload("page", [message_event()]))
    fake_provider.answer(
        "POST",
        "/v21.0/me/messages",
        Answer(200, {"recipient_id": "6543210987654321", "message_id": "m_out_1"}),
    )
    outbound = reply(ticket=Message.objects.get().ticket, author=None, text="Yes, size M in blue.")

    deliver_message({"message_id": outbound.pk})

    sent = fake_provider.received("/v21.0/me/messages")[0].json()
    assert sent == {
        "recipient": {"id": "6543210987654321"},
        "messaging_type": "RESPONSE",
        "message": {"text": "Yes, size M in blue."},
    }
    delivery = {
        "sender": {"id": "6543210987654321"},
        "recipient": {"id": "PAGE_ID"},
        "delivery": {"mids": ["m_out_1"], "watermark": 1458668856253},
    }
    post_signed(client, messenger, payload("page", [delivery]))
    outbound.refresh_from_db()
    assert outbound.delivery_status == DeliveryStatus.DELIVERED


def test_instagram_message_read_receipt_and_limit(client, instagram, fake_provider):
    post_signed(
        client,
        instagram,
        payload("instagram", [message_event(mid="aWdfZAG1faW", sender="17841400000000000")]),
    )
    assert Identity.objects.filter(
        kind=IdentityKind.INSTAGRAM_ID, value="17841400000000000"
    ).exists()
    ticket = Message.objects.get().ticket
    fake_provider.answer("POST", "/v21.0/me/messages", Answer(200, {"message_id": "ig_out_1"}))
    outbound = reply(ticket=ticket, author=None, text="Thanks!")
    deliver_message({"message_id": outbound.pk})

    read = {
        "sender": {"id": "17841400000000000"},
        "recipient": {"id": "IG"},
        "read": {"mid": "ig_out_1"},
    }
    post_signed(client, instagram, payload("instagram", [read]))
    outbound.refresh_from_db()
    assert outbound.delivery_status == DeliveryStatus.READ

    too_long = reply(ticket=ticket, author=None, text="x" * 1001)
    deliver_message({"message_id": too_long.pk})
    too_long.refresh_from_db()
    assert too_long.delivery_status == DeliveryStatus.FAILED and "1000" in too_long.failure_reason


def _written_hours_ago(hours: float) -> None:
    from datetime import timedelta

    from django.utils import timezone

    Message.objects.filter(direction="inbound").update(
        created_at=timezone.now() - timedelta(hours=hours)
    )


@pytest.mark.parametrize(
    ("hours", "tagged"),
    [(3, False), (30, True), (24 * 6.5, True)],
)
def test_with_the_human_agent_permission_replies_leave_for_7_days_tagged_after_24_hours(
    client, messenger, fake_provider, settings, hours, tagged
):
    settings.META_HUMAN_AGENT_TAG = True
    post_signed(client, messenger, payload("page", [message_event()]))
    _written_hours_ago(hours)
    fake_provider.answer("POST", "/v21.0/me/messages", Answer(200, {"message_id": "m_out"}))
    outbound = reply(ticket=Message.objects.get().ticket, author=None, text="Yes, in blue.")

    deliver_message({"message_id": outbound.pk})

    outbound.refresh_from_db()
    assert outbound.delivery_status == DeliveryStatus.SENT
    sent = fake_provider.received("/v21.0/me/messages")[0].json()
    if tagged:
        assert (sent["messaging_type"], sent["tag"]) == ("MESSAGE_TAG", "HUMAN_AGENT")
    else:
        assert sent["messaging_type"] == "RESPONSE" and "tag" not in sent


def test_after_7_days_even_the_human_agent_tag_may_not_answer(
    client, messenger, fake_provider, settings
):
    settings.META_HUMAN_AGENT_TAG = True
    post_signed(client, messenger, payload("page", [message_event()]))
    _written_hours_ago(24 * 8)
    outbound = reply(ticket=Message.objects.get().ticket, author=None, text="Hello?")

    deliver_message({"message_id": outbound.pk})

    outbound.refresh_from_db()
    assert outbound.delivery_status == DeliveryStatus.FAILED
    assert "7-day reply window" in outbound.failure_reason
    assert fake_provider.received("/v21.0/me/messages") == []


def test_without_the_permission_the_window_is_24_hours(client, messenger, fake_provider):
    post_signed(client, messenger, payload("page", [message_event()]))
    _written_hours_ago(30)
    outbound = reply(ticket=Message.objects.get().ticket, author=None, text="Hello?")

    deliver_message({"message_id": outbound.pk})

    outbound.refresh_from_db()
    assert outbound.delivery_status == DeliveryStatus.FAILED
    assert "24-hour reply window" in outbound.failure_reason
