"""Messenger read and delivery receipts by watermark: every reply of the conversation sent
at or before it moves forward, in one UPDATE, live, never backwards, once.

Fixtures follow Meta's documented webhook events (``message_reads``:
``{"read": {"watermark": <ms>}}``; ``message_deliveries``: ``{"delivery": {"mids": [...],
"watermark": <ms>}}``), signed with the app secret as Meta signs them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext

from channels_hub.adapters.base import Watermark
from channels_hub.delivery import deliver_message
from channels_hub.ingest import apply_watermark
from channels_hub.models import SentMessage
from tests.channels_hub.fake_provider import Answer
from tests.channels_hub.test_messenger import SECRET, message_event, payload, post_signed
from tests.layer_listener import LayerListener
from tickets.models import Channel, DeliveryStatus, Message
from tickets.services import reply

pytestmark = pytest.mark.django_db

PSID = "6543210987654321"
OTHER_PSID = "1234567890123456"
# Send times are set on the rows, never read from the clock.
FIRST_SENT = datetime(2026, 12, 4, 8, 0, 0, tzinfo=UTC)


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@pytest.fixture
def messenger(make_connection):
    return make_connection(
        Channel.MESSENGER, secrets={"app_secret": SECRET, "access_token": "PAGE-TOKEN"}
    )


@pytest.fixture
def listener():
    listening = LayerListener()
    yield listening
    listening.close()


def read_event(watermark: int, sender: str = PSID) -> dict:
    return {
        "sender": {"id": sender},
        "recipient": {"id": "PAGE_ID"},
        "timestamp": watermark + 210,
        "read": {"watermark": watermark},
    }


def delivery_event(watermark: int, mids: list[str] | None = None, sender: str = PSID) -> dict:
    delivery: dict = {"watermark": watermark}
    if mids is not None:
        delivery["mids"] = mids
    return {"sender": {"id": sender}, "recipient": {"id": "PAGE_ID"}, "delivery": delivery}


def conversation(client, connection, fake_provider, *, count: int, sender: str = PSID):
    """The customer writes, the page answers ``count`` times, a minute apart."""
    post_signed(
        client,
        connection,
        payload("page", [message_event(mid=f"m_in_{sender}", sender=sender)]),
    )
    ticket = Message.objects.get(external_id=f"m_in_{sender}").ticket
    replies = []
    for n in range(count):
        fake_provider.answer(
            "POST",
            "/v21.0/me/messages",
            Answer(200, {"recipient_id": sender, "message_id": f"m_out_{sender}_{n}"}),
        )
        outbound = reply(ticket=ticket, author=None, text=f"Answer {n}")
        deliver_message({"message_id": outbound.pk})
        SentMessage.objects.filter(message=outbound).update(
            sent_at=FIRST_SENT + timedelta(minutes=n)
        )
        replies.append(outbound)
    return replies


def statuses(messages: list[Message]) -> list[str]:
    return [Message.objects.get(pk=m.pk).delivery_status for m in messages]


def test_a_reply_keeps_its_recipient_and_connection(client, messenger, fake_provider):
    (outbound,) = conversation(client, messenger, fake_provider, count=1)
    sent = SentMessage.objects.get(message=outbound)
    assert (sent.connection, sent.recipient) == (messenger, PSID)


def test_read_watermark_marks_every_reply_sent_up_to_it_read(client, messenger, fake_provider):
    replies = conversation(client, messenger, fake_provider, count=3)

    watermark = ms(FIRST_SENT + timedelta(minutes=1))  # exactly the second reply's send time
    response = post_signed(client, messenger, payload("page", [read_event(watermark)]))

    assert response.status_code == 200
    assert statuses(replies) == [DeliveryStatus.READ, DeliveryStatus.READ, DeliveryStatus.SENT]


def test_delivery_watermark_without_mids_marks_replies_delivered(client, messenger, fake_provider):
    replies = conversation(client, messenger, fake_provider, count=2)

    post_signed(client, messenger, payload("page", [delivery_event(ms(FIRST_SENT))]))

    assert statuses(replies) == [DeliveryStatus.DELIVERED, DeliveryStatus.SENT]


def test_delivery_with_mids_and_watermark_applies_both(client, messenger, fake_provider):
    replies = conversation(client, messenger, fake_provider, count=3)

    event = delivery_event(ms(FIRST_SENT), mids=[f"m_out_{PSID}_2"])
    post_signed(client, messenger, payload("page", [event]))

    assert statuses(replies) == [
        DeliveryStatus.DELIVERED,
        DeliveryStatus.SENT,
        DeliveryStatus.DELIVERED,
    ]


def test_late_delivery_never_undoes_read(client, messenger, fake_provider):
    replies = conversation(client, messenger, fake_provider, count=2)
    last = ms(FIRST_SENT + timedelta(minutes=1))
    post_signed(client, messenger, payload("page", [read_event(last)]))

    late = delivery_event(last, mids=[f"m_out_{PSID}_0", f"m_out_{PSID}_1"])
    post_signed(client, messenger, payload("page", [late]))

    assert statuses(replies) == [DeliveryStatus.READ, DeliveryStatus.READ]


def test_watermark_covers_only_that_psid_on_that_connection(
    client, messenger, make_connection, fake_provider
):
    mine = conversation(client, messenger, fake_provider, count=1)
    someone_else = conversation(client, messenger, fake_provider, count=1, sender=OTHER_PSID)
    other_page = make_connection(
        Channel.MESSENGER, secrets={"app_secret": SECRET, "access_token": "OTHER-PAGE-TOKEN"}
    )
    watermark = ms(FIRST_SENT + timedelta(hours=1))

    post_signed(client, other_page, payload("page", [read_event(watermark)]))
    assert statuses(mine + someone_else) == [DeliveryStatus.SENT, DeliveryStatus.SENT]

    post_signed(client, messenger, payload("page", [read_event(watermark)]))
    assert statuses(mine + someone_else) == [DeliveryStatus.READ, DeliveryStatus.SENT]


def data_queries(captured: CaptureQueriesContext) -> list[str]:
    """The statements run, without the savepoints of the transaction the test is in."""
    return [
        q["sql"]
        for q in captured.captured_queries
        if not q["sql"].upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK"))
    ]


def test_one_update_per_watermark_whatever_the_number_of_replies(client, messenger, fake_provider):
    few = conversation(client, messenger, fake_provider, count=1)
    many = conversation(client, messenger, fake_provider, count=6, sender=OTHER_PSID)
    up_to = FIRST_SENT + timedelta(hours=1)
    counts = []
    for recipient, expected in ((PSID, few), (OTHER_PSID, many)):
        watermark = Watermark(recipient=recipient, up_to=up_to, status=DeliveryStatus.READ)
        with CaptureQueriesContext(db_connection) as captured:
            assert apply_watermark(watermark, connection=messenger) == len(expected)
        queries = data_queries(captured)
        # one SELECT … FOR UPDATE of the covered replies (the send records a subquery),
        # then one UPDATE of all of them
        assert [q.split()[0].upper() for q in queries] == ["SELECT", "UPDATE"], queries
        counts.append(len(queries))
    assert counts[0] == counts[1]
    assert set(statuses(many)) == {DeliveryStatus.READ}


def test_redelivered_watermark_changes_nothing(client, messenger, fake_provider):
    conversation(client, messenger, fake_provider, count=3)
    watermark = Watermark(
        recipient=PSID, up_to=FIRST_SENT + timedelta(hours=1), status=DeliveryStatus.READ
    )
    assert apply_watermark(watermark, connection=messenger) == 3
    changed_at = list(Message.objects.order_by("pk").values_list("status_changed_at", flat=True))

    with CaptureQueriesContext(db_connection) as captured:
        assert apply_watermark(watermark, connection=messenger) == 0
    assert len(data_queries(captured)) == 1  # finds nothing behind "read": no UPDATE
    after = list(Message.objects.order_by("pk").values_list("status_changed_at", flat=True))
    assert after == changed_at


def test_watermark_reaches_the_console_live_once_per_reply(
    client, messenger, fake_provider, listener, django_capture_on_commit_callbacks
):
    replies = conversation(client, messenger, fake_provider, count=2)
    ticket_id = replies[0].ticket_id
    listener.join(f"ticket.{ticket_id}")
    body = payload("page", [read_event(ms(FIRST_SENT + timedelta(hours=1)))])

    with django_capture_on_commit_callbacks(execute=True):
        post_signed(client, messenger, body)
    first = [e for e in listener.received() if e["type"] == "message.delivery_changed"]
    with django_capture_on_commit_callbacks(execute=True):
        post_signed(client, messenger, body)  # Meta retries the same webhook
    again = [e for e in listener.received() if e["type"] == "message.delivery_changed"]

    assert sorted((e["message_id"], e["status"]) for e in first) == [
        (replies[0].pk, DeliveryStatus.READ),
        (replies[1].pk, DeliveryStatus.READ),
    ]
    assert all(e["ticket_id"] == ticket_id for e in first)
    assert again == []


@pytest.mark.parametrize("watermark", ["1458668856253", -5, True, 10**20])
def test_malformed_watermark_is_ignored_with_a_200(client, messenger, fake_provider, watermark):
    replies = conversation(client, messenger, fake_provider, count=1)
    event = {
        "sender": {"id": PSID},
        "recipient": {"id": "PAGE_ID"},
        "read": {"watermark": watermark},
    }

    response = post_signed(client, messenger, payload("page", [event]))

    assert response.status_code == 200
    assert statuses(replies) == [DeliveryStatus.SENT]
