"""``POST /api/v1/messages/``: a customer's message received by a partner app."""

from __future__ import annotations

import base64

import pytest

from customers.models import Customer, Identity, IdentityKind
from tests.api.assertions import error_of
from tickets.models import Attachment, Channel, Direction, Message, Ticket, TicketStatus

pytestmark = pytest.mark.django_db

URL = "/api/v1/messages/"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 32


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def b64(content: bytes) -> str:
    return base64.b64encode(content).decode()


def inbound(**overrides) -> dict:
    body = {
        "channel": "api",
        "external_id": "app-msg-1",
        "identities": [{"kind": "phone", "value": "138 0013 8000"}],
        "text": "我的订单还没到",
    }
    body.update(overrides)
    return body


def nothing_stored() -> bool:
    return not (
        Ticket.objects.exists()
        or Message.objects.exists()
        or Customer.objects.exists()
        or Attachment.objects.exists()
    )


# --- happy paths ------------------------------------------------------------------------


def test_first_message_of_a_new_customer_opens_a_ticket(partner):
    response = partner.post(URL, inbound(), format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"ticket", "message_id", "customer_id", "created_ticket", "duplicate"}
    assert body["created_ticket"] is True
    assert body["duplicate"] is False
    ticket = Ticket.objects.get(pk=body["ticket"])
    assert ticket.status == TicketStatus.NEW
    assert ticket.origin_channel == ticket.last_channel == Channel.API
    assert ticket.subject == "我的订单还没到"
    assert ticket.customer.public_id == body["customer_id"]
    message = Message.objects.get(pk=body["message_id"])
    assert message.ticket_id == ticket.pk
    assert message.direction == Direction.INBOUND
    assert message.external_id == "app-msg-1"
    assert message.body_text == "我的订单还没到"
    identity = Identity.objects.get(customer=ticket.customer)
    assert (identity.kind, identity.value) == (IdentityKind.PHONE, "+8613800138000")


def test_channel_defaults_to_api(partner):
    body = inbound()
    del body["channel"]

    response = partner.post(URL, body, format="json")

    assert response.status_code == 201, response.content
    assert Message.objects.get().channel == Channel.API


def test_same_external_id_twice_returns_the_first_result(partner):
    first = partner.post(URL, inbound(), format="json")
    again = partner.post(URL, inbound(text="a retry of the same message"), format="json")

    assert first.status_code == 201
    assert again.status_code == 200, again.content
    assert again.json() == {**first.json(), "duplicate": True}
    assert Message.objects.count() == 1
    assert Ticket.objects.count() == 1


def test_same_external_id_on_another_channel_is_another_message(partner):
    first = partner.post(URL, inbound(channel="kiosk"), format="json").json()
    second = partner.post(URL, inbound(channel="web_chat"), format="json")

    assert second.status_code == 201
    assert second.json()["message_id"] != first["message_id"]
    assert second.json()["ticket"] == first["ticket"]


def test_a_message_on_another_channel_continues_the_open_ticket(partner):
    first = partner.post(URL, inbound(channel="kiosk", external_id="k-1"), format="json").json()

    second = partner.post(
        URL,
        inbound(
            channel="web_chat",
            external_id="w-1",
            identities=[{"kind": "phone", "value": "+86 138 0013 8000"}],
            text="还有一个问题",
        ),
        format="json",
    )

    assert second.status_code == 201
    body = second.json()
    assert body["ticket"] == first["ticket"]
    assert body["customer_id"] == first["customer_id"]
    assert body["created_ticket"] is False
    ticket = Ticket.objects.get(pk=first["ticket"])
    assert ticket.origin_channel == Channel.KIOSK
    assert ticket.last_channel == Channel.WEB_CHAT
    assert ticket.messages.count() == 2


def test_store_subject_and_customer_profile_are_applied(partner, personas):
    response = partner.post(
        URL,
        inbound(
            store="sh-001",
            subject="Delivery",
            customer={"name": "王芳", "language": "en"},
        ),
        format="json",
    )

    assert response.status_code == 201, response.content
    ticket = Ticket.objects.get(pk=response.json()["ticket"])
    assert ticket.store == personas.store_one
    assert ticket.subject == "Delivery"
    assert Message.objects.get().store == personas.store_one
    assert (ticket.customer.name, ticket.customer.language) == ("王芳", "en")


def test_html_is_sanitised_and_gives_the_text(partner):
    response = partner.post(
        URL,
        inbound(text="", html="<p>Hello <b>there</b></p><script>alert(1)</script>"),
        format="json",
    )

    assert response.status_code == 201, response.content
    message = Message.objects.get()
    assert "script" not in message.body_html
    assert "<b>there</b>" in message.body_html
    assert "Hello" in message.body_text


def test_attachments_are_decoded_and_typed_by_their_bytes(partner):
    response = partner.post(
        URL,
        inbound(text="", attachments=[{"filename": "photo.jpg", "content_base64": b64(PNG)}]),
        format="json",
    )

    assert response.status_code == 201, response.content
    attachment = Attachment.objects.get()
    assert attachment.message_id == response.json()["message_id"]
    assert attachment.filename == "photo.jpg"
    assert attachment.content_type == "image/png"
    assert attachment.size == len(PNG)
    assert attachment.file.read() == PNG


def test_a_console_agent_may_post_too(console_client, personas):
    response = console_client(personas.agent).post(URL, inbound(), format="json")

    assert response.status_code == 201, response.content


# --- permission -------------------------------------------------------------------------


def test_a_key_without_the_tickets_write_scope_is_refused(partner_no_scope, key_client):
    error_of(partner_no_scope.post(URL, inbound(), format="json"), 403, "missing_scope")
    reader = key_client("tickets:read")
    error_of(reader.post(URL, inbound(), format="json"), 403, "missing_scope")
    assert nothing_stored()


def test_an_anonymous_client_is_refused(client):
    response = client.post(URL, inbound(), content_type="application/json")

    error_of(response, 401, "not_authenticated")
    assert nothing_stored()


# --- bad input --------------------------------------------------------------------------


def test_malformed_json_is_refused(partner):
    response = partner.generic("POST", URL, '{"external_id": ', content_type="application/json")

    error_of(response, 400, "malformed_request")
    assert nothing_stored()


def test_a_form_body_is_refused(partner):
    response = partner.post(URL, {"external_id": "x", "text": "hi"})

    error_of(response, 415, "unsupported_media_type")


@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [
        ({"identities": None}, "missing_identities", "identities"),
        ({"identities": []}, "missing_identities", "identities"),
        ({"identities": [{"kind": "phone", "value": "12"}]}, "invalid_phone", "identities"),
        ({"identities": [{"kind": "fax", "value": "1"}]}, "unknown_identity_kind", "identities"),
        ({"channel": "carrier_pigeon"}, "unknown_channel", "channel"),
        ({"channel": "console"}, "unknown_channel", "channel"),
        ({"store": "nowhere-001"}, "unknown_store", "store"),
        ({"external_id": ""}, "blank", "external_id"),
        ({"external_id": "x" * 201}, "max_length", "external_id"),
        ({"external_id": "a\x00b"}, "null_characters_not_allowed", "external_id"),
        ({"text": "hi\x00"}, "null_characters_not_allowed", "text"),
        (
            {"attachments": [{"filename": "a.png", "content_base64": "not base64!"}]},
            "invalid_attachment",
            "attachments",
        ),
        (
            {"attachments": [{"filename": "invoice.pdf", "content_base64": b64(EXE)}]},
            "unsupported_attachment_type",
            "attachments",
        ),
        (
            {"attachments": [{"filename": "empty.txt", "content_base64": ""}]},
            "empty_attachment",
            "attachments",
        ),
    ],
    ids=[
        "identities-missing",
        "identities-empty",
        "invalid-phone",
        "unknown-identity-kind",
        "unknown-channel",
        "console-channel",
        "unknown-store",
        "blank-external-id",
        "long-external-id",
        "nul-in-external-id",
        "nul-in-text",
        "bad-base64",
        "exe-attachment",
        "empty-attachment",
    ],
)
def test_bad_input_is_refused_and_nothing_is_stored(partner, personas, overrides, code, field):
    body = inbound(**overrides)
    if body.get("identities") is None:
        del body["identities"]

    error = error_of(partner.post(URL, body, format="json"), 400, code)

    assert field in error["fields"], error
    assert nothing_stored()


def test_missing_external_id_is_refused(partner):
    body = inbound()
    del body["external_id"]

    error = error_of(partner.post(URL, body, format="json"), 400, "required")

    assert "external_id" in error["fields"]
    assert nothing_stored()


def test_empty_text_without_attachment_is_refused(partner):
    error_of(partner.post(URL, inbound(text="   "), format="json"), 400, "empty_message")
    assert nothing_stored()


def test_too_many_attachments_are_refused(partner):
    files = [{"filename": f"{n}.png", "content_base64": b64(PNG)} for n in range(6)]

    error_of(partner.post(URL, inbound(attachments=files), format="json"), 400, "max_length")
    assert nothing_stored()


def test_a_body_that_is_not_an_object_is_refused(partner):
    error_of(partner.post(URL, [inbound()], format="json"), 400, "invalid")
    assert nothing_stored()
