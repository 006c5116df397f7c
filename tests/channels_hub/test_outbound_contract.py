"""The outbound half of the adapter contract, for every provider channel alike: a reply to
a customer who wrote in through a signed webhook goes to a local server playing the
provider, and its error answers are handled the one way the contract says: a refusal
fails the reply at once with the provider's reason; 5xx, 429, timeouts and a provider
that cannot be reached are retried by the outbox with backoff, and after the last attempt
the reply is failed for good."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlencode

import pytest
from django.utils import timezone

from channels_hub.adapters.meta import meta_signature
from channels_hub.adapters.sms import twilio_signature
from channels_hub.adapters.wechat import wechat_signature
from omniservice.outbox.models import OutboxMessage, OutboxStatus
from omniservice.outbox.services import deliver
from tests.channels_hub.conftest import webhook_url
from tests.channels_hub.fake_provider import Answer, FakeProvider
from tickets.models import Channel, DeliveryStatus, Message, Ticket
from tickets.services import reply

pytestmark = pytest.mark.django_db
SECRET = "contract-secret"
ACCOUNT = "AC0123456789abcdef0123456789abcdef"


def _meta_post(client, connection, payload: dict) -> None:
    body = json.dumps(payload).encode()
    client.post(
        webhook_url(connection),
        body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=meta_signature(SECRET, body),
    )


def _whatsapp_in(client, connection) -> None:
    message = {"from": "16505551234", "id": "wamid.contract", "timestamp": "1", "type": "text"}
    message["text"] = {"body": "Is my order shipped?"}
    value = {"messaging_product": "whatsapp", "messages": [message]}
    value["contacts"] = [{"profile": {"name": "Sheena"}, "wa_id": "16505551234"}]
    change = {"field": "messages", "value": value}
    _meta_post(
        client,
        connection,
        {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [change]}]},
    )


def _meta_messaging_in(obj: str) -> Callable:
    def post(client, connection) -> None:
        event = {
            "sender": {"id": "6543210987654321"},
            "recipient": {"id": "PAGE_ID"},
            "timestamp": 1458692752478,
            "message": {"mid": f"m_contract_{obj}", "text": "Do you have it in blue?"},
        }
        entry = {"id": "PAGE_ID", "messaging": [event]}
        _meta_post(client, connection, {"object": obj, "entry": [entry]})

    return post


def _sms_in(client, connection) -> None:
    form = {
        "MessageSid": "SMcontract",
        "AccountSid": ACCOUNT,
        "From": "+14155550123",
        "To": "+14155550100",
        "Body": "Where is my parcel?",
        "NumMedia": "0",
    }
    url = "http://testserver" + webhook_url(connection)
    client.post(
        webhook_url(connection), form, HTTP_X_TWILIO_SIGNATURE=twilio_signature(SECRET, url, form)
    )


def _wechat_in(client, connection) -> None:
    stamp, nonce = str(int(time.time())), "42"
    query = {"signature": wechat_signature(SECRET, stamp, nonce), "timestamp": stamp}
    query["nonce"] = nonce
    body = (
        "<xml><ToUserName><![CDATA[gh_1]]></ToUserName>"
        "<FromUserName><![CDATA[oContractOpenId]]></FromUserName>"
        "<CreateTime>1348831860</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        "<Content><![CDATA[我的订单什么时候发货？]]></Content><MsgId>99887766</MsgId></xml>"
    )
    client.post(
        webhook_url(connection) + "?" + urlencode(query), body.encode(), content_type="text/xml"
    )


def _wechat_token(provider: FakeProvider) -> None:
    many = [Answer(200, {"access_token": "T", "expires_in": 7200}) for _ in range(5)]
    provider.answer("GET", "/cgi-bin/token", *many)


@dataclass
class Case:
    channel: str
    secrets: dict[str, str]
    settings: dict[str, str]
    write_in: Callable
    send_path: str
    refusal: Answer  # what the provider answers when it will never take this reply
    refusal_reason: str  # what of it the failed reply shows
    busy: Answer = field(default_factory=lambda: Answer(503, {"error": "busy"}))
    before_send: Callable[[FakeProvider], None] = lambda provider: None


META_TOKEN = {"app_secret": SECRET, "access_token": "token"}
META_REFUSAL = Answer(400, {"error": {"message": "Invalid parameter", "code": 100}})
CASES = [
    Case(
        Channel.WHATSAPP,
        META_TOKEN,
        {"phone_number_id": "106540352242922"},
        _whatsapp_in,
        "/v21.0/106540352242922/messages",
        META_REFUSAL,
        "Invalid parameter (100)",
    ),
    Case(
        Channel.MESSENGER,
        META_TOKEN,
        {},
        _meta_messaging_in("page"),
        "/v21.0/me/messages",
        META_REFUSAL,
        "Invalid parameter (100)",
    ),
    Case(
        Channel.INSTAGRAM,
        META_TOKEN,
        {},
        _meta_messaging_in("instagram"),
        "/v21.0/me/messages",
        META_REFUSAL,
        "Invalid parameter (100)",
    ),
    Case(
        Channel.SMS,
        {"auth_token": SECRET},
        {"account_sid": ACCOUNT, "from_number": "+14155550100"},
        _sms_in,
        f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json",
        Answer(400, {"code": 21211, "message": "The 'To' number is not valid.", "status": 400}),
        "21211",
    ),
    Case(
        Channel.WECHAT,
        {"token": SECRET, "app_secret": "app-secret"},
        {"app_id": "wx5823bf96d3bd56c7"},
        _wechat_in,
        "/cgi-bin/message/custom/send",
        Answer(200, {"errcode": 45015, "errmsg": "response out of time limit"}),
        "45015",
        busy=Answer(200, {"errcode": -1, "errmsg": "system error"}),  # WeChat's "busy"
        before_send=_wechat_token,
    ),
]


@pytest.fixture(params=CASES, ids=[case.channel for case in CASES])
def case(request) -> Case:
    return request.param


@pytest.fixture
def ticket(case, client, make_connection) -> Ticket:
    connection = make_connection(case.channel, secrets=case.secrets, **case.settings)
    case.write_in(client, connection)
    inbound = Message.objects.get(channel=case.channel)
    return inbound.ticket


def queued_reply(ticket: Ticket) -> tuple[Message, OutboxMessage]:
    outbound = reply(ticket=ticket, author=None, text="Thank you, we are on it.")
    assert outbound.channel == ticket.last_channel  # answered where the customer wrote
    return outbound, OutboxMessage.objects.get(payload={"message_id": outbound.pk})


def status_of(message: Message) -> tuple[str, str]:
    message.refresh_from_db()
    return message.delivery_status, message.failure_reason


def test_a_refusal_fails_the_reply_at_once_with_the_providers_reason(case, ticket, fake_provider):
    case.before_send(fake_provider)
    fake_provider.answer("POST", case.send_path, case.refusal)
    outbound, outbox = queued_reply(ticket)

    assert deliver(outbox.pk) == OutboxStatus.DONE  # handled: the reply itself failed

    status, reason = status_of(outbound)
    assert status == DeliveryStatus.FAILED
    assert case.refusal_reason in reason
    assert len(fake_provider.received(case.send_path)) == 1  # not tried again


def test_a_busy_provider_is_retried_then_the_reply_fails_for_good(case, ticket, fake_provider):
    case.before_send(fake_provider)
    fake_provider.answer("POST", case.send_path, case.busy, case.busy)
    outbound, outbox = queued_reply(ticket)

    assert deliver(outbox.pk) == OutboxStatus.PENDING
    assert status_of(outbound)[0] == DeliveryStatus.QUEUED
    retry = OutboxMessage.objects.get(pk=outbox.pk)
    assert retry.attempts == 1 and retry.available_at > timezone.now()  # backoff

    OutboxMessage.objects.filter(pk=outbox.pk).update(attempts=11, available_at=timezone.now())
    assert deliver(outbox.pk) == OutboxStatus.DEAD
    status, reason = status_of(outbound)
    assert status == DeliveryStatus.FAILED
    assert "repeated attempts" in reason


def test_a_provider_that_answers_too_late_is_retried(case, ticket, fake_provider, settings):
    from channels_hub import provider_http

    settings.CHANNEL_HTTP_TIMEOUT_SECONDS = 0.2
    provider_http._client = None
    case.before_send(fake_provider)
    fake_provider.answer("POST", case.send_path, Answer(200, {}, delay=1))
    outbound, outbox = queued_reply(ticket)
    try:
        assert deliver(outbox.pk) == OutboxStatus.PENDING
    finally:
        provider_http._client = None

    assert "no answer in time" in OutboxMessage.objects.get(pk=outbox.pk).last_error
    assert status_of(outbound)[0] == DeliveryStatus.QUEUED


def test_a_provider_that_cannot_be_reached_is_retried(case, ticket, fake_provider):
    from channels_hub.models import ChannelConnection

    fake_provider.stop()  # nothing listens on its port any more
    outbound, outbox = queued_reply(ticket)

    assert deliver(outbox.pk) == OutboxStatus.PENDING
    assert status_of(outbound)[0] == DeliveryStatus.QUEUED
    connection = ChannelConnection.objects.get(channel=case.channel)
    assert connection.health == "failing" and connection.last_error
