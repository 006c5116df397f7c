"""The same provider webhook delivered concurrently (providers retry in parallel) is
stored once, whatever the channel. PostgreSQL only: SQLite serialises writers."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest
from django.test import Client

from channels_hub import inbox
from channels_hub.adapters.meta import meta_signature
from channels_hub.adapters.sms import twilio_signature
from channels_hub.adapters.wechat import wechat_signature
from channels_hub.inbox_models import DeliveryState, InboundDelivery
from channels_hub.models import ChannelConnection
from omniservice.celery import app as celery_app
from tests.channels_hub.conftest import webhook_url
from tests.channels_hub.test_sms import inbound_form
from tests.channels_hub.test_wechat import xml_text
from tests.channels_hub.test_whatsapp import text_payload
from tests.tickets.test_concurrency import THREADS, run_together
from tickets.models import Channel, Message

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _connection(channel: str, secrets: dict[str, str]) -> ChannelConnection:
    connection = ChannelConnection(channel=channel, name=channel)
    connection.set_secrets(secrets)
    connection.save()
    return connection


def test_whatsapp_webhook_delivered_by_six_threads_is_stored_once():
    connection = _connection(Channel.WHATSAPP, {"app_secret": "s"})
    body = json.dumps(text_payload()).encode()
    signature = meta_signature("s", body)

    def post():
        return (
            Client()
            .post(
                webhook_url(connection),
                body,
                content_type="application/json",
                HTTP_X_HUB_SIGNATURE_256=signature,
            )
            .status_code
        )

    assert run_together([post] * THREADS) == [200] * THREADS
    assert Message.objects.count() == 1


def test_sms_and_wechat_webhooks_delivered_concurrently_are_stored_once_each():
    sms = _connection(Channel.SMS, {"auth_token": "t"})
    wechat = _connection(Channel.WECHAT, {"token": "w"})
    form = inbound_form()
    sms_signature = twilio_signature("t", "http://testserver" + webhook_url(sms), form)
    ts = str(int(time.time()))
    query = urlencode({"signature": wechat_signature("w", ts, "n"), "timestamp": ts, "nonce": "n"})

    def post_sms():
        return (
            Client().post(webhook_url(sms), form, HTTP_X_TWILIO_SIGNATURE=sms_signature).status_code
        )

    def post_wechat():
        return (
            Client()
            .post(webhook_url(wechat) + "?" + query, xml_text(), content_type="text/xml")
            .status_code
        )

    assert run_together([post_sms, post_wechat] * (THREADS // 2)) == [200] * THREADS
    assert Message.objects.filter(channel=Channel.SMS).count() == 1
    assert Message.objects.filter(channel=Channel.WECHAT).count() == 1


def test_workers_draining_the_inbox_together_thread_each_message_once(monkeypatch, settings):
    """Production split: the webhooks only store; three workers claim batches at once."""
    monkeypatch.setattr(celery_app.conf, "task_always_eager", False)
    monkeypatch.setattr(inbox, "schedule_drain", lambda: None)
    settings.CHANNEL_INBOX_BATCH = 5
    connection = _connection(Channel.WHATSAPP, {"app_secret": "s"})
    client = Client()
    for n in range(30):  # ten customers writing three times each
        payload = text_payload(message_id=f"wamid.drain{n}", body=f"message {n}")
        value = payload["entry"][0]["changes"][0]["value"]
        value["messages"][0]["from"] = value["contacts"][0]["wa_id"] = f"1650555{n % 10:04d}"
        body = json.dumps(payload).encode()
        client.post(
            webhook_url(connection),
            body,
            content_type="application/json",
            HTTP_X_HUB_SIGNATURE_256=meta_signature("s", body),
        )

    claimed = run_together([inbox.thread_pending_deliveries] * 3)

    assert sum(claimed) == 30
    assert Message.objects.count() == 30
    assert Message.objects.values("ticket").distinct().count() == 10  # one ticket each
    assert set(InboundDelivery.objects.values_list("state", flat=True)) == {DeliveryState.DONE}
