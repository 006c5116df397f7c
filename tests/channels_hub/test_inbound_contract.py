"""The inbound half of the adapter contract, for every webhook channel alike: a request
signed as the provider signs it is stored; an unsigned or forged one is refused with 401
and a malformed one with 400, neither writing anything; the same delivery twice is
stored once and answered 200 both times. Each channel's own test module covers its
payload shapes in detail; this one holds them all to the same rules."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest

from channels_hub.adapters.meta import meta_signature
from channels_hub.adapters.phone import phone_signature
from channels_hub.adapters.sms import twilio_signature
from channels_hub.adapters.wechat import wechat_signature
from channels_hub.models import CallRecord
from customers.models import Customer
from tests.channels_hub.conftest import webhook_url
from tickets.models import Channel, Message

pytestmark = pytest.mark.django_db
SECRET = "contract-secret"
ACCOUNT = "AC0123456789abcdef0123456789abcdef"

# A request: (query string, body, content type, extra headers), signed with ``secret``;
# ``body=None`` means the channel's own valid body.
Build = Callable[..., tuple[str, bytes, str, dict[str, str]]]


def _meta(payload: dict[str, Any]) -> Build:
    def build(url: str, secret: str, body: bytes | None = None):
        raw = json.dumps(payload).encode() if body is None else body
        headers = {"HTTP_X_HUB_SIGNATURE_256": meta_signature(secret, raw)}
        return "", raw, "application/json", headers

    return build


whatsapp_request = _meta(
    {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "1",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "contacts": [{"profile": {"name": "Ana"}, "wa_id": "16505551234"}],
                            "messages": [
                                {
                                    "from": "16505551234",
                                    "id": "wamid.inbound-contract",
                                    "timestamp": "1749416383",
                                    "type": "text",
                                    "text": {"body": "Is my order shipped?"},
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }
)


def _meta_messaging(obj: str) -> Build:
    event = {
        "sender": {"id": "6543210987654321"},
        "recipient": {"id": "PAGE_ID"},
        "timestamp": 1458692752478,
        "message": {"mid": f"m_inbound_contract_{obj}", "text": "Do you have it in blue?"},
    }
    return _meta({"object": obj, "entry": [{"id": "PAGE_ID", "messaging": [event]}]})


def sms_request(url: str, secret: str, body: bytes | None = None):
    form = {
        "MessageSid": "SMinboundcontract",
        "AccountSid": ACCOUNT,
        "From": "+14155550123",
        "To": "+14155550100",
        "Body": "Where is my parcel?",
        "NumMedia": "0",
    }
    if body is not None:  # Twilio signs the parameters: a body it could not have sent
        form = {"AccountSid": ACCOUNT}
    signature = twilio_signature(secret, "http://testserver" + url, form)
    return (
        "",
        urlencode(form).encode(),
        "application/x-www-form-urlencoded",
        {"HTTP_X_TWILIO_SIGNATURE": signature},
    )


def wechat_request(url: str, secret: str, body: bytes | None = None):
    stamp, nonce = str(int(time.time())), "1320562132"
    query = {"signature": wechat_signature(secret, stamp, nonce), "timestamp": stamp}
    query["nonce"] = nonce
    raw = (
        body
        or (
            "<xml><ToUserName><![CDATA[gh_1]]></ToUserName>"
            "<FromUserName><![CDATA[oInboundContract]]></FromUserName>"
            "<CreateTime>1348831860</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            "<Content><![CDATA[我的订单什么时候发货？]]></Content><MsgId>5566778899</MsgId></xml>"
        ).encode()
    )
    return urlencode(query), raw, "text/xml", {}


def phone_request(url: str, secret: str, body: bytes | None = None):
    event = {"call_id": "pbx-contract", "event": "missed", "from": "+8613800138000"}
    raw = json.dumps(event).encode() if body is None else body
    stamp = str(int(time.time()))
    headers = {
        "HTTP_X_OMNISERVICE_TIMESTAMP": stamp,
        "HTTP_X_OMNISERVICE_SIGNATURE": phone_signature(secret, stamp, raw),
    }
    return "", raw, "application/json", headers


@dataclass
class Case:
    channel: str
    secrets: dict[str, str]
    build: Build
    malformed: bytes = b"{not json"
    unsign: tuple[str, ...] = ()  # headers or query fields that carry the signature

    def stored(self) -> int:
        """What a delivery of this channel writes: a message, or for calls a call record."""
        if self.channel == Channel.PHONE:
            return CallRecord.objects.count()
        return Message.objects.filter(channel=self.channel).count()


META = {"app_secret": SECRET, "access_token": "token"}
CASES = [
    Case(Channel.WHATSAPP, META, whatsapp_request, unsign=("HTTP_X_HUB_SIGNATURE_256",)),
    Case(Channel.MESSENGER, META, _meta_messaging("page"), unsign=("HTTP_X_HUB_SIGNATURE_256",)),
    Case(
        Channel.INSTAGRAM, META, _meta_messaging("instagram"), unsign=("HTTP_X_HUB_SIGNATURE_256",)
    ),
    Case(Channel.SMS, {"auth_token": SECRET}, sms_request, unsign=("HTTP_X_TWILIO_SIGNATURE",)),
    Case(
        Channel.WECHAT,
        {"token": SECRET, "app_secret": "s"},
        wechat_request,
        malformed=b"<xml><MsgId>1</MsgId",
        unsign=("signature",),
    ),
    Case(
        Channel.PHONE,
        {"signing_secret": SECRET},
        phone_request,
        unsign=("HTTP_X_OMNISERVICE_SIGNATURE",),
    ),
]


@pytest.fixture(params=CASES, ids=[case.channel for case in CASES])
def case(request) -> Case:
    return request.param


@pytest.fixture
def url(case, make_connection) -> str:
    settings = {"account_sid": ACCOUNT} if case.channel == Channel.SMS else {}
    return webhook_url(make_connection(case.channel, secrets=case.secrets, **settings))


def send(client, url: str, query: str, body: bytes, content_type: str, headers: dict):
    target = f"{url}?{query}" if query else url
    return client.post(target, body, content_type=content_type, **headers)


def test_a_signed_delivery_is_stored(case, client, url):
    response = send(client, url, *case.build(url, SECRET))

    assert response.status_code == 200, response.content
    assert case.stored() == 1
    assert Customer.objects.count() == 1


def test_the_same_delivery_twice_is_stored_once(case, client, url):
    first = send(client, url, *case.build(url, SECRET))
    again = send(client, url, *case.build(url, SECRET))

    assert (first.status_code, again.status_code) == (200, 200)
    assert case.stored() == 1


def test_a_forged_delivery_is_refused_with_no_write(case, client, url):
    response = send(client, url, *case.build(url, "not-the-secret"))

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "signature_invalid"
    assert (case.stored(), Customer.objects.count()) == (0, 0)


def test_an_unsigned_delivery_is_refused_with_no_write(case, client, url):
    query, body, content_type, headers = case.build(url, SECRET)
    headers = {k: v for k, v in headers.items() if k not in case.unsign}
    fields = [p for p in query.split("&") if p and p.split("=")[0] not in case.unsign]

    response = send(client, url, "&".join(fields), body, content_type, headers)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "signature_missing"
    assert (case.stored(), Customer.objects.count()) == (0, 0)


def test_a_signed_but_malformed_delivery_is_refused_with_400_and_no_write(case, client, url):
    response = send(client, url, *case.build(url, SECRET, body=case.malformed))

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed"
    assert (case.stored(), Customer.objects.count()) == (0, 0)
