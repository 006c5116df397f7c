"""The web chat widget's HTTP API: sessions, messages, history, offline form, identity."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils.translation import gettext

from channels_hub.delivery import deliver_message
from channels_hub.models import ChannelConnection, WebChatVisitor
from channels_hub.webchat_access import user_hash
from customers.identity import IdentityClaim
from customers.models import Identity, MergeSuggestion
from omniservice.org.models import Presence
from tests.factories import CustomerFactory, IdentityFactory
from tests.tickets.test_console_views import client_for
from tickets import services
from tickets.models import BusinessCalendar, Channel, DeliveryStatus, Direction, Message, Ticket

ORIGIN = "https://shop.example.com"
SECRET = "s3cret-identity-key"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture
def connection(db) -> ChannelConnection:
    connection = ChannelConnection(
        channel=Channel.WEB_CHAT,
        name="shop chat",
        settings={"allowed_origins": [ORIGIN], "title": "Shop help"},
    )
    connection.set_secrets({"identity_secret": SECRET})
    connection.save()
    return connection


@pytest.fixture
def online_agent(personas):
    profile = personas.agent
    profile.presence = Presence.ONLINE
    profile.save(update_fields=["presence"])
    return profile


def api(connection: ChannelConnection, path: str) -> str:
    return f"/chat/api/{connection.webhook_key}/{path}"


def start(client, connection, origin=ORIGIN, **body) -> dict:
    response = client.post(
        api(connection, "session"),
        body,
        content_type="application/json",
        headers={"Origin": origin},
    )
    assert response.status_code == 200, response.content
    return response.json()


def post(client, connection, token, *, origin=ORIGIN, **body):
    body.setdefault("client_id", str(uuid.uuid4()))
    return client.post(
        api(connection, "messages"),
        body,
        content_type="application/json",
        headers={"Origin": origin, "Authorization": f"Bearer {token}"},
    )


def get_history(client, connection, token, after=0):
    return client.get(
        api(connection, "messages"),
        {"after": after},
        headers={"Origin": ORIGIN, "Authorization": f"Bearer {token}"},
    )


FORM = {"name": "王芳", "contact": "wang@example.com", "topic": "退货"}


def test_widget_script_is_served_by_the_app(client):
    response = client.get("/chat/widget.js")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/javascript"
    body = response.content.decode()
    assert "textContent" in body and "innerHTML" not in body
    code = body.split("*/", 1)[1]  # after the usage comment: no URL of anybody else
    assert not re.search(r"https?://", code)


def test_session_gives_a_token_and_texts_in_the_visitors_language(client, connection):
    data = start(client, connection) | {}
    assert data["token"] and data["prechat"] is True and data["title"] == "Shop help"
    zh = client.post(
        api(connection, "session") + "?lang=zh-hans",
        {},
        content_type="application/json",
        headers={"Origin": ORIGIN},
    ).json()
    en = client.post(
        api(connection, "session") + "?lang=en",
        {},
        content_type="application/json",
        headers={"Origin": ORIGIN},
    ).json()
    assert en["texts"]["send"] == "Send"
    assert zh["texts"]["send"] == "发送"
    assert WebChatVisitor.objects.count() == 0  # a page view writes nothing


def test_preflight_and_answers_carry_cors_headers_for_allowed_origin(client, connection):
    response = client.options(api(connection, "session"), headers={"Origin": ORIGIN})
    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    assert "Authorization" in response["Access-Control-Allow-Headers"]


def test_page_of_another_site_is_refused_without_a_write(client, connection, online_agent):
    response = client.post(
        api(connection, "session"),
        {},
        content_type="application/json",
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "origin_not_allowed"
    assert "Access-Control-Allow-Origin" not in response
    token = start(client, connection)["token"]
    refused = post(client, connection, token, origin="https://evil.example", text="hi", **FORM)
    assert refused.status_code == 403
    assert Message.objects.count() == 0


def test_unknown_key_is_404(client, connection):
    response = client.post(
        "/chat/api/nope/session", {}, content_type="application/json", headers={"Origin": ORIGIN}
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_widget"


def test_first_message_opens_a_ticket_with_the_prechat_details(client, connection, online_agent):
    token = start(client, connection)["token"]
    response = post(client, connection, token, text="我的订单还没到", **FORM)
    assert response.status_code == 201, response.content
    message = Message.objects.get()
    assert (message.channel, message.direction) == (Channel.WEB_CHAT, Direction.INBOUND)
    ticket = message.ticket
    assert ticket.subject == "退货"
    assert ticket.customer.name == "王芳"
    kinds = set(ticket.customer.identities.values_list("kind", "verified"))
    assert kinds == {("web_visitor_id", False), ("email", False)}
    visitor = WebChatVisitor.objects.get()
    assert (visitor.customer_id, visitor.contact) == (ticket.customer_id, "wang@example.com")
    assert response.json()["message"]["text"] == "我的订单还没到"


def test_same_client_id_twice_stores_one_message(client, connection, online_agent):
    token = start(client, connection)["token"]
    client_id = str(uuid.uuid4())
    first = post(client, connection, token, client_id=client_id, text="hello", **FORM)
    again = post(client, connection, token, client_id=client_id, text="hello", **FORM)
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json()["message"]["id"] == again.json()["message"]["id"]
    assert Message.objects.count() == 1


def test_another_visitor_replaying_a_client_id_gets_nothing_of_the_first(client, connection):
    first = start(client, connection)["token"]
    second = start(client, connection)["token"]
    client_id = str(uuid.uuid4())
    post(client, connection, first, client_id=client_id, text="secret order 123", **FORM)
    other = post(
        client,
        connection,
        second,
        client_id=client_id,
        text="hi",
        name="Eve",
        contact="eve@example.com",
    )
    assert other.status_code == 201
    assert other.json()["message"]["text"] == "hi"
    assert Ticket.objects.count() == 2


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"text": "hi", "name": "A"}, "invalid_prechat", "contact"),
        ({"text": "hi", "name": "A", "contact": "not a phone"}, "invalid_prechat", "contact"),
        ({"text": "hi", "contact": "a@example.com"}, "invalid_prechat", "name"),
        ({"text": "", **FORM}, "empty_message", None),
        ({"text": "x" * 5001, **FORM}, "message_too_long", None),
        ({"text": "hi", "client_id": "not-a-uuid", **FORM}, "invalid_client_id", None),
    ],
)
def test_bad_input_is_400_with_an_error_body_and_no_write(client, connection, body, code, field):
    token = start(client, connection)["token"]
    response = post(client, connection, token, **body)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == code and error["message"]
    if field:
        assert field in error["fields"]
    assert Message.objects.count() == Ticket.objects.count() == 0


def test_malformed_json_is_400(client, connection):
    token = start(client, connection)["token"]
    response = client.post(
        api(connection, "messages"),
        "{not json",
        content_type="application/json",
        headers={"Origin": ORIGIN, "Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_json"


@pytest.mark.parametrize("token", ["", "forged.token:value", "Bearer"])
def test_missing_or_forged_token_is_401(client, connection, token):
    response = post(client, connection, token, text="hi", **FORM)
    assert response.status_code == 401
    assert response.json()["error"]["code"] in {"missing_token", "invalid_token"}
    assert get_history(client, connection, token).status_code == 401
    assert Message.objects.count() == 0


def test_token_of_another_connection_is_refused(client, connection):
    other = ChannelConnection.objects.create(
        channel=Channel.WEB_CHAT, name="other", settings={"allowed_origins": [ORIGIN]}
    )
    token = start(client, other)["token"]
    assert post(client, connection, token, text="hi", **FORM).status_code == 401


def test_history_on_return_shows_replies_but_never_notes(client, connection, personas):
    data = start(client, connection)
    token = data["token"]
    post(client, connection, token, text="where is my parcel?", **FORM)
    ticket = Ticket.objects.get()
    reply = services.reply(ticket=ticket, author=personas.agent.user, text="It left today.")
    deliver_message({"message_id": reply.pk})
    services.add_note(ticket=ticket, author=personas.agent.user, text="INTERNAL: VIP, be nice")
    services.reply(ticket=ticket, author=personas.agent.user, text="By email", channel="email")

    again = start(client, connection, token=token)  # a later page load
    assert again["visitor"]["has_conversation"] is True
    assert again["prechat"] is True
    messages = get_history(client, connection, again["token"]).json()["messages"]
    assert [m["text"] for m in messages] == ["where is my parcel?", "It left today."]
    agent = messages[1]
    assert agent["from"] == "agent"
    assert agent["author"]["name"] == personas.agent.display_name
    assert agent["author"]["initials"]
    assert "INTERNAL" not in str(messages)
    newer = get_history(client, connection, token, after=messages[0]["id"]).json()["messages"]
    assert [m["text"] for m in newer] == ["It left today."]


def test_another_visitor_cannot_read_the_conversation(client, connection):
    first = start(client, connection)["token"]
    post(client, connection, first, text="my address is 1 Main St", **FORM)
    second = start(client, connection)["token"]
    assert get_history(client, connection, second).json()["messages"] == []


def test_typing_someone_elses_email_never_joins_their_ticket(client, connection, personas):
    victim = CustomerFactory(name="Victim")
    IdentityFactory(customer=victim, kind="email", value="victim@example.com")
    their = services.thread_inbound_message(
        channel="whatsapp",
        external_id="wamid.1",
        identities=[IdentityClaim("email", "victim@example.com")],
        text="private order details",
    )
    token = start(client, connection)["token"]
    response = post(client, connection, token, text="hi", name="Eve", contact="victim@example.com")
    assert response.status_code == 201
    mine = Message.objects.get(channel=Channel.WEB_CHAT)
    assert mine.ticket_id != their.ticket.pk
    assert mine.ticket.customer_id != victim.pk
    assert not mine.ticket.customer.identities.filter(kind="email").exists()
    assert MergeSuggestion.objects.filter(evidence=["web_chat_contact"]).exists()
    assert "private" not in str(get_history(client, connection, token).json())


def test_verified_member_becomes_a_verified_app_user_identity(client, connection):
    data = start(client, connection, user_id="member-42", user_hash=user_hash(SECRET, "member-42"))
    assert data["visitor"]["verified"] is True and data["prechat"] is False
    response = post(client, connection, data["token"], text="hello from a member")
    assert response.status_code == 201, response.content
    identity = Identity.objects.get(kind="app_user_id")
    assert (identity.value, identity.verified) == ("member-42", True)
    # The same member on another device sees the same conversation.
    other = start(client, connection, user_id="member-42", user_hash=user_hash(SECRET, "member-42"))
    assert other["token"] != data["token"]
    texts = [m["text"] for m in get_history(client, connection, other["token"]).json()["messages"]]
    assert texts == ["hello from a member"]


def test_forged_user_hash_is_refused(client, connection):
    response = client.post(
        api(connection, "session"),
        {"user_id": "member-42", "user_hash": user_hash("wrong secret", "member-42")},
        content_type="application/json",
        headers={"Origin": ORIGIN},
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "identity_forged"
    assert not Identity.objects.exists()


def test_members_token_is_not_reused_anonymously(client, connection):
    member = start(client, connection, user_id="m-1", user_hash=user_hash(SECRET, "m-1"))
    post(client, connection, member["token"], text="member secret")
    anonymous = start(client, connection, token=member["token"])  # after logging out
    assert anonymous["visitor"]["verified"] is False
    assert anonymous["visitor"]["has_conversation"] is False
    assert get_history(client, connection, anonymous["token"]).json()["messages"] == []


def test_posting_is_rate_limited(client, connection, settings):
    settings.WEB_CHAT_MESSAGES_PER_MINUTE = 3
    token = start(client, connection)["token"]
    codes = [post(client, connection, token, text=f"m{i}", **FORM).status_code for i in range(5)]
    assert codes == [201, 201, 201, 429, 429]
    assert Message.objects.count() == 3


def test_attachment_is_stored_and_downloadable_by_its_visitor_only(client, connection):
    token = start(client, connection)["token"]
    response = client.post(
        api(connection, "messages"),
        {
            "client_id": str(uuid.uuid4()),
            "text": "",
            **FORM,
            "files": [SimpleUploadedFile("photo.png", PNG, content_type="image/png")],
        },
        headers={"Origin": ORIGIN, "Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201, response.content
    attachment = response.json()["message"]["attachments"][0]
    assert attachment["content_type"] == "image/png"
    url = api(connection, f"attachments/{attachment['id']}")
    mine = client.get(url, headers={"Origin": ORIGIN, "Authorization": f"Bearer {token}"})
    assert mine.status_code == 200 and b"".join(mine.streaming_content) == PNG
    stranger = start(client, connection)["token"]
    theirs = client.get(url, headers={"Origin": ORIGIN, "Authorization": f"Bearer {stranger}"})
    assert theirs.status_code == 404


def test_attachment_of_a_refused_type_is_400(client, connection):
    token = start(client, connection)["token"]
    response = client.post(
        api(connection, "messages"),
        {
            "client_id": str(uuid.uuid4()),
            **FORM,
            "files": [SimpleUploadedFile("x.exe", b"MZ\x90\x00\x03\x00\xff\xfe", "application/x")],
        },
        headers={"Origin": ORIGIN, "Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unsupported_attachment_type"


def test_offline_when_no_agent_is_online_and_the_form_still_opens_a_ticket(client, connection):
    data = start(client, connection)
    assert (data["online"], data["offline_reason"]) == (False, "no_agent")
    response = client.post(
        api(connection, "offline"),
        {"client_id": str(uuid.uuid4()), "text": "Call me back please", **FORM},
        content_type="application/json",
        headers={"Origin": ORIGIN, "Authorization": f"Bearer {data['token']}"},
    )
    assert response.status_code == 201, response.content
    ticket = Ticket.objects.get()
    assert "web-chat-offline" in set(ticket.tags.values_list("name", flat=True))
    assert ticket.messages.get().body_text == "Call me back please"


def test_offline_form_needs_a_contact_and_a_message(client, connection):
    token = start(client, connection)["token"]
    response = client.post(
        api(connection, "offline"),
        {"client_id": str(uuid.uuid4()), "text": "", "name": "A"},
        content_type="application/json",
        headers={"Origin": ORIGIN, "Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 400
    assert "contact" in response.json()["error"]["fields"]
    assert Ticket.objects.count() == 0


def test_outside_business_hours_is_offline(client, connection, online_agent, monkeypatch):
    BusinessCalendar.objects.create(
        name="Chat hours", timezone="Asia/Shanghai", hours={"mon": [["09:00", "18:00"]]}
    )
    connection.settings["calendar"] = "Chat hours"
    connection.save()
    monday = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)  # 22:00 in Shanghai
    monkeypatch.setattr("channels_hub.webchat_views.timezone.now", lambda: monday)
    data = start(client, connection)
    assert (data["online"], data["offline_reason"]) == (False, "outside_hours")
    morning = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
    monkeypatch.setattr("channels_hub.webchat_views.timezone.now", lambda: morning)
    assert start(client, connection)["online"] is True


def test_online_without_agents_keeps_the_chat_open(client, connection):
    assert start(client, connection)["online"] is False
    connection.settings["online_without_agents"] = True
    connection.save()
    assert start(client, connection)["online"] is True


def test_skipping_the_prechat_form_needs_no_contact(client, connection):
    connection.settings["no_prechat"] = True
    connection.save()
    data = start(client, connection)
    assert data["prechat"] is False
    assert post(client, connection, data["token"], text="just a question").status_code == 201


def test_manager_connects_a_web_chat_in_the_console_and_gets_the_tag(personas):
    client = client_for(personas.manager)
    response = client.post(
        reverse("channels:connection-create", args=["web_chat"]),
        {
            "name": "Shop chat",
            "is_active": "on",
            "allowed_origins": f"{ORIGIN}, https://m.example.com",
            "identity_secret": SECRET,
            "online_without_agents": "on",
        },
    )
    assert response.status_code == 302, response.content
    connection = ChannelConnection.objects.get(channel=Channel.WEB_CHAT)
    assert connection.secrets == {"identity_secret": SECRET}
    assert connection.settings["online_without_agents"] is True
    page = client.get(reverse("channels:connection-edit", args=[connection.pk])).content.decode()
    assert f"data-key=&quot;{connection.webhook_key}&quot;" in page
    assert "/chat/widget.js" in page and "/hooks/web_chat/" not in page
    assert SECRET not in page
    # and the widget on the second site works with what was saved
    session = client.post(
        api(connection, "session"),
        {"user_id": "m-9", "user_hash": user_hash(SECRET, "m-9")},
        content_type="application/json",
        headers={"Origin": "https://m.example.com"},
    )
    assert session.status_code == 200 and session.json()["online"] is True


def test_reply_to_a_customer_without_chat_fails_with_the_reason(personas, connection):
    result = services.thread_inbound_message(
        channel="api",
        external_id="a-1",
        identities=[IdentityClaim("phone", "+8613800138000")],
        text="hi",
    )
    reply = services.reply(
        ticket=result.ticket, author=personas.agent.user, text="hello", channel="web_chat"
    )
    deliver_message({"message_id": reply.pk})
    reply.refresh_from_db()
    assert reply.delivery_status == DeliveryStatus.FAILED
    assert reply.failure_reason == gettext("The customer has no web chat conversation to reply to.")


def test_webhook_url_of_a_web_chat_connection_is_refused(client, connection):
    response = client.post(f"/hooks/web_chat/{connection.webhook_key}/", b"{}", "application/json")
    assert response.status_code == 404


def test_a_merge_by_a_human_moves_the_chat_to_the_surviving_customer(client, connection, personas):
    from customers.services import merge_customers

    token = start(client, connection)["token"]
    post(client, connection, token, text="hi", **FORM)
    visitor = WebChatVisitor.objects.get()
    target = CustomerFactory(name="Wang Fang")
    merge_customers(source_id=visitor.customer_id, target_id=target.pk, actor="t", reason="same")
    visitor.refresh_from_db()
    assert visitor.customer_id == target.pk
    assert [m["text"] for m in get_history(client, connection, token).json()["messages"]] == ["hi"]


def test_create_web_chat_command_prints_the_tag(db, capsys):
    from django.core.management import call_command

    call_command("create_web_chat", "Shop", "--origin", ORIGIN, "--base-url", "https://help.test")
    out = capsys.readouterr().out
    connection = ChannelConnection.objects.get(name="Shop")
    assert connection.settings["allowed_origins"] == [ORIGIN]
    secret = connection.secrets["identity_secret"]
    assert secret in out
    assert f'src="https://help.test/chat/widget.js" data-key="{connection.webhook_key}"' in out


def test_rate_limit_per_address_uses_the_proxys_last_hop_only_behind_the_proxy(settings):
    from omniservice.ratelimit import client_address

    meta = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "6.6.6.6, 203.0.113.9"}
    assert client_address(meta) == "10.0.0.2"
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert client_address(meta) == "203.0.113.9"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"user_id": "m-1"}, 400, "invalid_identity"),
        ({"user_id": 42, "user_hash": "ab"}, 400, "invalid_identity"),
        ({"user_id": "has space", "user_hash": "ab"}, 400, "invalid_identity"),
    ],
)
def test_session_with_a_malformed_identity_is_refused(client, connection, body, status, code):
    response = client.post(
        api(connection, "session"),
        body,
        content_type="application/json",
        headers={"Origin": ORIGIN},
    )
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


def test_verified_identity_without_a_secret_on_the_connection_is_refused(client, connection):
    connection.set_secrets({})
    connection.save()
    response = client.post(
        api(connection, "session"),
        {"user_id": "m-1", "user_hash": user_hash("", "m-1")},
        content_type="application/json",
        headers={"Origin": ORIGIN},
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "identity_not_configured"


def test_history_with_a_bad_after_is_400(client, connection):
    token = start(client, connection)["token"]
    response = client.get(
        api(connection, "messages"),
        {"after": "abc"},
        headers={"Origin": ORIGIN, "Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_after"


def test_history_costs_a_bounded_number_of_queries(
    client, connection, personas, django_assert_max_num_queries
):
    token = start(client, connection)["token"]
    for i in range(3):
        post(client, connection, token, text=f"question {i}", **FORM)
    ticket = Ticket.objects.get()
    for i in range(5):
        reply = services.reply(ticket=ticket, author=personas.agent.user, text=f"answer {i}")
        deliver_message({"message_id": reply.pk})
    with django_assert_max_num_queries(4):
        response = get_history(client, connection, token)
    assert len(response.json()["messages"]) == 8
