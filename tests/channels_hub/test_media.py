"""Images a customer sends on WhatsApp or WeChat: the webhook names the file, the outbox
fetches it from the provider after the answer and stores it on the message; refused
files are logged and left out, a retried webhook fetches nothing twice."""

from __future__ import annotations

import json

import pytest

from channels_hub.adapters.meta import meta_signature
from omniservice.outbox.models import OutboxMessage
from omniservice.outbox.services import deliver
from tests.channels_hub.conftest import webhook_url
from tests.channels_hub.fake_provider import Answer
from tests.channels_hub.test_wechat import post as wechat_post
from tests.channels_hub.test_wechat import signed_query
from tickets.models import Attachment, Channel, Message

pytestmark = pytest.mark.django_db
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
SECRET = "wa-secret"


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def image_payload(media_id: str = "1037543291543636", caption: str = "the zip is broken") -> dict:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "1",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "contacts": [{"profile": {"name": "Li"}, "wa_id": "8613812345678"}],
                            "messages": [
                                {
                                    "from": "8613812345678",
                                    "id": "wamid.IMG1",
                                    "timestamp": "1749416383",
                                    "type": "image",
                                    "image": {
                                        "caption": caption,
                                        "mime_type": "image/png",
                                        "sha256": "abc",
                                        "id": media_id,
                                    },
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }


@pytest.fixture
def whatsapp(make_connection):
    return make_connection(
        Channel.WHATSAPP,
        secrets={"app_secret": SECRET, "access_token": "EAAG", "verify_token": "v"},
        phone_number_id="1",
    )


def post_whatsapp(client, connection, payload):
    body = json.dumps(payload).encode()
    return client.post(
        webhook_url(connection),
        body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=meta_signature(SECRET, body),
    )


def run_media_jobs() -> list[str]:
    return [deliver(m.pk) for m in OutboxMessage.objects.filter(topic="channel.media.fetch")]


def test_whatsapp_image_is_fetched_after_the_answer_and_stored_on_its_message(
    client, whatsapp, fake_provider
):
    fake_provider.answer(
        "GET",
        "/v21.0/1037543291543636",
        Answer(200, {"url": f"{fake_provider.base_url}/media/abc", "mime_type": "image/png"}),
    )
    fake_provider.answer("GET", "/media/abc", Answer(200, PNG, content_type="image/png"))

    assert post_whatsapp(client, whatsapp, image_payload()).status_code == 200
    message = Message.objects.get()
    assert message.body_text == "[image] the zip is broken"
    assert not Attachment.objects.exists()  # not inside the webhook's answer

    assert run_media_jobs() == ["done"]
    attachment = Attachment.objects.get(message=message)
    assert attachment.content_type == "image/png"
    assert fake_provider.received("/media/abc")[0].headers["Authorization"] == "Bearer EAAG"


def test_a_retried_webhook_fetches_the_image_once(client, whatsapp, fake_provider):
    fake_provider.answer(
        "GET",
        "/v21.0/1037543291543636",
        Answer(200, {"url": f"{fake_provider.base_url}/media/abc"}),
    )
    fake_provider.answer("GET", "/media/abc", Answer(200, PNG, content_type="image/png"))
    post_whatsapp(client, whatsapp, image_payload())
    post_whatsapp(client, whatsapp, image_payload())

    run_media_jobs()
    run_media_jobs()

    assert OutboxMessage.objects.filter(topic="channel.media.fetch").count() == 1
    assert Attachment.objects.count() == 1


def test_a_file_type_we_do_not_serve_is_left_out_with_a_log_line(
    client, whatsapp, fake_provider, caplog
):
    fake_provider.answer(
        "GET",
        "/v21.0/1037543291543636",
        Answer(200, {"url": f"{fake_provider.base_url}/media/abc"}),
    )
    fake_provider.answer("GET", "/media/abc", Answer(200, b"MZ\x90\x00 not an image"))
    post_whatsapp(client, whatsapp, image_payload())

    assert run_media_jobs() == ["done"]
    assert not Attachment.objects.exists()
    assert "left out" in caplog.text


def test_a_provider_error_is_retried(client, whatsapp, fake_provider):
    fake_provider.answer(
        "GET", "/v21.0/1037543291543636", Answer(503, {"error": {"message": "busy"}})
    )
    post_whatsapp(client, whatsapp, image_payload())
    assert run_media_jobs() == ["pending"]


def test_wechat_image_is_fetched_with_the_access_token(client, make_connection, fake_provider):
    connection = make_connection(
        Channel.WECHAT, secrets={"token": "wechat-token", "app_secret": "s"}, app_id="wx1"
    )
    fake_provider.answer(
        "GET", "/cgi-bin/token", Answer(200, {"access_token": "TOK", "expires_in": 7200})
    )
    fake_provider.answer("GET", "/cgi-bin/media/get", Answer(200, PNG, content_type="image/png"))
    body = (
        b"<xml><ToUserName>gh</ToUserName><FromUserName>oImg1</FromUserName><CreateTime>1</CreateTime>"
        b"<MsgType>image</MsgType><PicUrl>http://mmbiz.example/x</PicUrl><MediaId>MEDIA42</MediaId>"
        b"<MsgId>77</MsgId></xml>"
    )
    assert wechat_post(client, connection, body, signed_query()).status_code == 200

    assert run_media_jobs() == ["done"]
    assert Attachment.objects.get().message.body_text == "[image]"
    fetched = fake_provider.received("/cgi-bin/media/get")[0]
    assert fetched.query["media_id"] == ["MEDIA42"] and fetched.query["access_token"] == ["TOK"]


def test_wechat_media_error_is_a_permanent_refusal(client, make_connection, fake_provider, caplog):
    connection = make_connection(
        Channel.WECHAT, secrets={"token": "wechat-token", "app_secret": "s"}, app_id="wx1"
    )
    fake_provider.answer(
        "GET", "/cgi-bin/token", Answer(200, {"access_token": "T", "expires_in": 7200})
    )
    fake_provider.answer(
        "GET", "/cgi-bin/media/get", Answer(200, {"errcode": 40007, "errmsg": "invalid media_id"})
    )
    body = (
        b"<xml><FromUserName>oImg2</FromUserName><MsgType>image</MsgType>"
        b"<MediaId>GONE</MediaId><MsgId>78</MsgId></xml>"
    )
    wechat_post(client, connection, body, signed_query())

    assert run_media_jobs() == ["done"]
    assert not Attachment.objects.exists()
    assert "40007" in caplog.text
