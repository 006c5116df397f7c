"""SMS through a Twilio-compatible provider: X-Twilio-Signature on the URL and sorted
form parameters, TwiML acknowledgement, status callbacks, REST replies."""

from __future__ import annotations

import pytest

from channels_hub.adapters.sms import twilio_signature
from channels_hub.delivery import deliver_message
from customers.models import Identity, IdentityKind
from tests.channels_hub.conftest import webhook_url
from tests.channels_hub.fake_provider import Answer
from tickets.models import Channel, DeliveryStatus, Message
from tickets.services import reply

pytestmark = pytest.mark.django_db
TOKEN = "twilio-auth-token"
ACCOUNT = "AC0123456789abcdef0123456789abcdef"


@pytest.fixture
def connection(make_connection):
    return make_connection(
        Channel.SMS, secrets={"auth_token": TOKEN}, account_sid=ACCOUNT, from_number="+14155550100"
    )


def inbound_form(
    sid: str = "SM1f0e8ae6ade43cb3c0ce4525424e404f", body: str = "Where is my parcel?"
) -> dict:
    return {
        "ToCountry": "US",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "SmsSid": sid,
        "SmsStatus": "received",
        "Body": body,
        "To": "+14155550100",
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": ACCOUNT,
        "From": "+14155550123",
        "ApiVersion": "2010-04-01",
    }


def post_signed(
    client, connection, form: dict, *, token: str = TOKEN, signature: str | None = None
):
    url = "http://testserver" + webhook_url(connection)
    headers = {}
    if signature is not False:
        headers["HTTP_X_TWILIO_SIGNATURE"] = signature or twilio_signature(token, url, form)
    return client.post(webhook_url(connection), form, **headers)


def test_signed_sms_is_stored_and_answered_with_empty_twiml(client, connection):
    response = post_signed(client, connection, inbound_form())

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    assert b"<Response></Response>" in response.content
    message = Message.objects.get()
    assert (message.channel, message.body_text) == (Channel.SMS, "Where is my parcel?")
    assert Identity.objects.filter(kind=IdentityKind.PHONE, value="+14155550123").exists()


@pytest.mark.parametrize("signature", [False, "bm90IGEgc2lnbmF0dXJl"], ids=["unsigned", "forged"])
def test_unsigned_or_forged_sms_is_refused_with_no_write(client, connection, signature):
    response = post_signed(client, connection, inbound_form(), signature=signature)
    assert response.status_code == 401
    assert not Message.objects.exists()


def test_a_parameter_changed_after_signing_is_refused(client, connection):
    form = inbound_form()
    url = "http://testserver" + webhook_url(connection)
    signature = twilio_signature(TOKEN, url, form)
    form["Body"] = "Send the refund to another account"
    response = client.post(webhook_url(connection), form, HTTP_X_TWILIO_SIGNATURE=signature)
    assert response.status_code == 401
    assert not Message.objects.exists()


def test_configured_public_url_is_what_gets_signed(client, connection):
    connection.settings["webhook_url"] = "https://support.example.com/hooks/sms/abc/"
    connection.save()
    form = inbound_form()
    signature = twilio_signature(TOKEN, "https://support.example.com/hooks/sms/abc/", form)
    response = client.post(webhook_url(connection), form, HTTP_X_TWILIO_SIGNATURE=signature)
    assert response.status_code == 200


def test_retried_sms_is_stored_once(client, connection):
    post_signed(client, connection, inbound_form())
    post_signed(client, connection, inbound_form())
    assert Message.objects.count() == 1


def test_signed_request_without_a_message_sid_is_400(client, connection):
    form = {"Body": "hi", "From": "+14155550123"}
    response = post_signed(client, connection, form)
    assert response.status_code == 400
    assert not Message.objects.exists()


def test_sender_that_is_not_a_phone_number_is_logged_and_skipped(client, connection, caplog):
    form = inbound_form()
    form["From"] = "not-a-number"
    response = post_signed(client, connection, form)
    assert response.status_code == 200
    assert not Message.objects.exists()
    assert "is not a phone number" in caplog.text


def test_reply_is_posted_with_basic_auth_and_status_callbacks_update_it(
    client, connection, fake_provider
):
    post_signed(client, connection, inbound_form())
    ticket = Message.objects.get().ticket
    path = f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
    fake_provider.answer("POST", path, Answer(201, {"sid": "SMout1", "status": "queued"}))
    outbound = reply(ticket=ticket, author=None, text="It arrives tomorrow.")

    deliver_message({"message_id": outbound.pk})

    sent = fake_provider.received(path)[0]
    assert sent.form()["To"] == ["+14155550123"]
    assert sent.form()["From"] == ["+14155550100"]
    assert sent.headers["Authorization"].startswith("Basic ")
    outbound.refresh_from_db()
    assert (outbound.delivery_status, outbound.provider_message_id) == (
        DeliveryStatus.SENT,
        "SMout1",
    )

    post_signed(
        client,
        connection,
        {"MessageSid": "SMout1", "MessageStatus": "delivered", "AccountSid": ACCOUNT},
    )
    outbound.refresh_from_db()
    assert outbound.delivery_status == DeliveryStatus.DELIVERED


def test_undelivered_status_fails_the_reply_with_the_error_code(client, connection, fake_provider):
    post_signed(client, connection, inbound_form())
    ticket = Message.objects.get().ticket
    path = f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
    fake_provider.answer("POST", path, Answer(201, {"sid": "SMout2"}))
    outbound = reply(ticket=ticket, author=None, text="Hello")
    deliver_message({"message_id": outbound.pk})

    form = {"MessageSid": "SMout2", "MessageStatus": "undelivered", "ErrorCode": "30003"}
    post_signed(client, connection, form)

    outbound.refresh_from_db()
    assert outbound.delivery_status == DeliveryStatus.FAILED
    assert "30003" in outbound.failure_reason


def test_provider_refusal_is_a_permanent_failure_with_its_message(
    client, connection, fake_provider
):
    post_signed(client, connection, inbound_form())
    ticket = Message.objects.get().ticket
    path = f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
    fake_provider.answer(
        "POST",
        path,
        Answer(400, {"code": 21211, "message": "The 'To' number is not valid.", "status": 400}),
    )
    outbound = reply(ticket=ticket, author=None, text="Hello")

    deliver_message({"message_id": outbound.pk})

    outbound.refresh_from_db()
    assert outbound.delivery_status == DeliveryStatus.FAILED
    assert "21211" in outbound.failure_reason
