"""WeChat Official Account and Mini Program: URL verification, query signature with a
timestamp tolerance, XML / JSON / safe-mode (AES) bodies, MsgId dedupe, openid and
unionid, the 48-hour window and the cached access token."""

from __future__ import annotations

import base64
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from channels_hub.adapters.wechat import encrypt_wechat, wechat_signature
from channels_hub.delivery import deliver_message
from customers.models import Identity, IdentityKind
from tests.channels_hub.conftest import webhook_url
from tests.channels_hub.fake_provider import Answer
from tickets.models import Channel, DeliveryStatus, Direction, Message
from tickets.services import reply

pytestmark = pytest.mark.django_db
TOKEN = "wechat-token"
APP_ID = "wx5823bf96d3bd56c7"
AES_KEY = base64.b64encode(bytes(range(32))).decode().rstrip("=")
OPENID = "oLVPpjqs9BhvzwPj5A-vTYAX3GLc"

XML_TEXT = """<xml>
<ToUserName><![CDATA[gh_3a4d5e6f7a8b]]></ToUserName>
<FromUserName><![CDATA[{openid}]]></FromUserName>
<CreateTime>1348831860</CreateTime>
<MsgType><![CDATA[text]]></MsgType>
<Content><![CDATA[{content}]]></Content>
<MsgId>{msg_id}</MsgId>
</xml>"""


def xml_text(
    content: str = "我的订单什么时候发货？", msg_id: str = "1234567890123456", openid: str = OPENID
) -> bytes:
    return XML_TEXT.format(content=content, msg_id=msg_id, openid=openid).encode()


@pytest.fixture
def connection(make_connection):
    return make_connection(
        Channel.WECHAT,
        secrets={"token": TOKEN, "app_secret": "app-secret", "encoding_aes_key": AES_KEY},
        app_id=APP_ID,
    )


def signed_query(
    *, timestamp: int | None = None, nonce: str = "1320562132", token: str = TOKEN
) -> dict:
    ts = str(timestamp if timestamp is not None else int(time.time()))
    return {"signature": wechat_signature(token, ts, nonce), "timestamp": ts, "nonce": nonce}


def post(client, connection, body: bytes, query: dict, content_type: str = "text/xml"):
    from urllib.parse import urlencode

    return client.post(
        webhook_url(connection) + "?" + urlencode(query), body, content_type=content_type
    )


def test_url_verification_returns_echostr_when_signed(client, connection):
    query = {**signed_query(), "echostr": "5837397520665085474"}
    response = client.get(webhook_url(connection), query)
    assert response.status_code == 200 and response.content == b"5837397520665085474"

    forged = {**signed_query(token="guess"), "echostr": "1"}
    assert client.get(webhook_url(connection), forged).status_code == 401


def test_signed_xml_text_message_is_stored_and_acknowledged_with_success(client, connection):
    response = post(client, connection, xml_text(), signed_query())

    assert response.status_code == 200 and response.content == b"success"
    message = Message.objects.get()
    assert (message.channel, message.body_text, message.external_id) == (
        Channel.WECHAT,
        "我的订单什么时候发货？",
        "1234567890123456",
    )
    assert Identity.objects.filter(kind=IdentityKind.WECHAT_OPENID, value=OPENID).exists()


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"signature": "0" * 40, "timestamp": str(int(time.time())), "nonce": "1"},
    ],
    ids=["unsigned", "forged"],
)
def test_unsigned_or_forged_push_is_refused_with_no_write(client, connection, query):
    response = post(client, connection, xml_text(), query)
    assert response.status_code == 401
    assert not Message.objects.exists()


def test_replay_outside_the_timestamp_tolerance_is_refused(client, connection):
    response = post(client, connection, xml_text(), signed_query(timestamp=int(time.time()) - 3600))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "stale_timestamp"
    assert not Message.objects.exists()


def test_malformed_xml_and_doctype_are_refused_with_400(client, connection):
    assert post(client, connection, b"<xml><unclosed>", signed_query()).status_code == 400
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]>'
        b"<xml><Content>&lol;</Content></xml>"
    )
    assert post(client, connection, bomb, signed_query()).status_code == 400
    assert not Message.objects.exists()


def test_same_msg_id_twice_is_stored_once(client, connection):
    post(client, connection, xml_text(), signed_query())
    post(client, connection, xml_text(), signed_query(nonce="other"))
    assert Message.objects.count() == 1


def test_events_without_a_message_are_acknowledged_and_ignored(client, connection):
    event = f"""<xml><ToUserName>gh</ToUserName><FromUserName>{OPENID}</FromUserName>
    <CreateTime>1</CreateTime><MsgType>event</MsgType><Event>subscribe</Event></xml>""".encode()
    response = post(client, connection, event, signed_query())
    assert response.status_code == 200 and response.content == b"success"
    assert not Message.objects.exists()


def test_mini_program_json_push_with_unionid_links_the_person_across_apps(client, connection):
    body = (
        '{"ToUserName":"gh_mini","FromUserName":"oMini123","CreateTime":1482048670,'
        '"MsgType":"text","Content":"小程序里问一下","MsgId":1234567890123457,"UnionId":"ozUnion42"}'
    ).encode()
    response = post(client, connection, body, signed_query(), content_type="application/json")
    assert response.status_code == 200
    # the same person later writes on the Official Account, whose push carries the unionid too
    oa = xml_text(content="公众号里再问", msg_id="99", openid="oOfficial77").replace(
        b"</xml>", b"<UnionId>ozUnion42</UnionId></xml>"
    )
    post(client, connection, oa, signed_query())

    customers = {m.ticket.customer_id for m in Message.objects.all()}
    assert len(customers) == 1
    assert Message.objects.count() == 2


def test_safe_mode_body_is_checked_with_msg_signature_and_decrypted(client, connection):
    encrypted = encrypt_wechat(xml_text(content="加密消息"), AES_KEY, APP_ID, random16=b"r" * 16)
    query = signed_query()
    query.update(
        encrypt_type="aes",
        msg_signature=wechat_signature(TOKEN, query["timestamp"], query["nonce"], encrypted),
    )
    body = (
        f"<xml><ToUserName>gh</ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>".encode()
    )

    assert post(client, connection, body, query).status_code == 200
    assert Message.objects.get().body_text == "加密消息"

    query["msg_signature"] = "0" * 40
    assert post(client, connection, body, query).status_code == 401


def test_safe_mode_body_for_another_app_is_refused(client, connection):
    encrypted = encrypt_wechat(xml_text(), AES_KEY, "wxOTHERAPP", random16=b"r" * 16)
    query = signed_query()
    query.update(
        encrypt_type="aes",
        msg_signature=wechat_signature(TOKEN, query["timestamp"], query["nonce"], encrypted),
    )
    body = f"<xml><Encrypt>{encrypted}</Encrypt></xml>".encode()
    assert post(client, connection, body, query).status_code == 400
    assert not Message.objects.exists()


def _ticket(client, connection):
    post(client, connection, xml_text(), signed_query())
    return Message.objects.get().ticket


def test_reply_uses_a_cached_access_token_and_refreshes_it_when_refused(
    client, connection, fake_provider
):
    ticket = _ticket(client, connection)
    fake_provider.answer(
        "GET",
        "/cgi-bin/token",
        Answer(200, {"access_token": "TOKEN-1", "expires_in": 7200}),
        Answer(200, {"access_token": "TOKEN-2", "expires_in": 7200}),
    )
    fake_provider.answer(
        "POST",
        "/cgi-bin/message/custom/send",
        Answer(200, {"errcode": 0, "errmsg": "ok"}),
        Answer(200, {"errcode": 0, "errmsg": "ok"}),
        Answer(200, {"errcode": 40001, "errmsg": "invalid credential"}),
        Answer(200, {"errcode": 0, "errmsg": "ok"}),
    )
    for text in ("第一条", "第二条", "第三条"):
        outbound = reply(ticket=ticket, author=None, text=text)
        deliver_message({"message_id": outbound.pk})
        outbound.refresh_from_db()
        assert outbound.delivery_status == DeliveryStatus.SENT

    sends = fake_provider.received("/cgi-bin/message/custom/send")
    assert [s.query["access_token"][0] for s in sends] == [
        "TOKEN-1",
        "TOKEN-1",
        "TOKEN-1",
        "TOKEN-2",
    ]
    assert len(fake_provider.received("/cgi-bin/token")) == 2
    assert sends[0].json() == {"touser": OPENID, "msgtype": "text", "text": {"content": "第一条"}}


def test_wechat_error_in_a_200_answer_fails_the_reply_with_the_reason(
    client, connection, fake_provider
):
    ticket = _ticket(client, connection)
    fake_provider.answer(
        "GET", "/cgi-bin/token", Answer(200, {"access_token": "T", "expires_in": 7200})
    )
    fake_provider.answer(
        "POST",
        "/cgi-bin/message/custom/send",
        Answer(200, {"errcode": 45015, "errmsg": "response out of time limit"}),
    )
    outbound = reply(ticket=ticket, author=None, text="你好")

    deliver_message({"message_id": outbound.pk})

    outbound.refresh_from_db()
    assert outbound.delivery_status == DeliveryStatus.FAILED
    assert "45015" in outbound.failure_reason


def test_reply_after_48_hours_is_refused_before_calling_wechat(client, connection, fake_provider):
    ticket = _ticket(client, connection)
    Message.objects.filter(direction=Direction.INBOUND).update(
        created_at=timezone.now() - timedelta(hours=49)
    )
    outbound = reply(ticket=ticket, author=None, text="你好")

    deliver_message({"message_id": outbound.pk})

    outbound.refresh_from_db()
    assert outbound.delivery_status == DeliveryStatus.FAILED
    assert "48-hour" in outbound.failure_reason
    assert fake_provider.requests == []


def test_unionid_is_fetched_for_a_new_openid_when_configured(client, connection, fake_provider):
    connection.settings["fetch_unionid"] = True
    connection.save()
    fake_provider.answer(
        "GET", "/cgi-bin/token", Answer(200, {"access_token": "T", "expires_in": 7200})
    )
    fake_provider.answer(
        "GET",
        "/cgi-bin/user/info",
        Answer(200, {"subscribe": 1, "openid": OPENID, "unionid": "ozFetched"}),
    )

    post(client, connection, xml_text(), signed_query())
    post(client, connection, xml_text(msg_id="2"), signed_query())  # known openid: no second lookup

    assert Identity.objects.filter(kind=IdentityKind.WECHAT_UNIONID, value="ozFetched").exists()
    assert len(fake_provider.received("/cgi-bin/user/info")) == 1
