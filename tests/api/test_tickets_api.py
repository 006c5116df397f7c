"""The tickets endpoints: list, retrieve, update, conversation, partner messages, receipts."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from customers.identity import IdentityClaim
from customers.models import Customer, IdentityKind
from tests.api.assertions import error_of
from tests.factories import (
    CustomerFactory,
    IdentityFactory,
    MessageFactory,
    StaffProfileFactory,
    TicketFactory,
    UserFactory,
)
from tickets import services
from tickets.attachments import check_attachments
from tickets.models import (
    Attachment,
    AuthorKind,
    Channel,
    DeliveryStatus,
    Direction,
    Message,
    Ticket,
    TicketStatus,
    TicketTag,
)

pytestmark = pytest.mark.django_db

LIST = "/api/v1/tickets/"
T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
PHONE = "+8613800138000"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def detail(ticket: Ticket | int, suffix: str = "") -> str:
    number = ticket if isinstance(ticket, int) else ticket.pk
    return f"/api/v1/tickets/{number}/{suffix}"


def numbers_of(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [item["number"] for item in response.json()["results"]]


def set_updated_at(ticket: Ticket, when: datetime) -> None:
    Ticket.objects.filter(pk=ticket.pk).update(updated_at=when)


def inbound_ticket(text: str = "我的订单还没到", phone: str = PHONE, **kwargs) -> Ticket:
    """A ticket opened the real way, by a customer's message on the api channel."""
    result = services.thread_inbound_message(
        channel=Channel.API,
        external_id=kwargs.pop("external_id", f"seed-{phone}-{text}"),
        identities=[IdentityClaim(IdentityKind.PHONE, phone)],
        text=text,
        **kwargs,
    )
    return result.ticket


def team_ticket(team, **fields) -> Ticket:
    return TicketFactory(team=team, **fields)


# --- list -------------------------------------------------------------------------------


def test_list_shows_the_newest_activity_first_and_never_counts(partner):
    tickets = [TicketFactory() for _ in range(3)]
    for hours, ticket in zip((2, 0, 1), tickets, strict=True):
        set_updated_at(ticket, T0 + timedelta(hours=hours))

    response = partner.get(LIST)

    assert "count" not in response.json()
    assert numbers_of(response) == [tickets[0].pk, tickets[2].pk, tickets[1].pk]


def test_cursor_pages_neither_skip_nor_repeat_tickets_sharing_an_update_time(partner):
    tickets = [TicketFactory() for _ in range(5)]
    Ticket.objects.update(updated_at=T0)

    page = partner.get(LIST, {"page_size": 2})
    seen = numbers_of(page)
    while page.json()["next"]:
        page = partner.get(page.json()["next"])
        seen += numbers_of(page)

    assert seen == sorted((t.pk for t in tickets), reverse=True)


def test_list_representation_has_the_explicit_fields(partner, personas):
    customer = CustomerFactory(name="王芳")
    ticket = TicketFactory(
        customer=customer,
        subject="Late delivery",
        status=TicketStatus.OPEN,
        priority="high",
        origin_channel=Channel.KIOSK,
        last_channel=Channel.WEB_CHAT,
        store=personas.store_one,
        team=personas.team_a,
        assignee=personas.agent.user,
        reopen_count=1,
    )
    ticket.tags.set([TicketTag.objects.create(name="vip"), TicketTag.objects.create(name="late")])

    (item,) = partner.get(LIST).json()["results"]

    assert set(item) == {
        "number",
        "subject",
        "status",
        "priority",
        "origin_channel",
        "last_channel",
        "customer",
        "store",
        "team",
        "assignee",
        "tags",
        "created_at",
        "updated_at",
        "first_response_at",
        "solved_at",
        "reopen_count",
        "merged_into",
    }
    assert item["number"] == ticket.pk
    assert item["customer"] == {"id": customer.public_id, "name": "王芳"}
    assert (item["status"], item["priority"]) == ("open", "high")
    assert (item["origin_channel"], item["last_channel"]) == ("kiosk", "web_chat")
    assert (item["store"], item["team"]) == ("sh-001", "team-a")
    assert item["assignee"] == personas.agent.user.username
    assert item["tags"] == ["late", "vip"]
    assert item["reopen_count"] == 1
    assert item["merged_into"] is None
    assert item["first_response_at"] is None


@pytest.fixture
def three_tickets(personas):
    first_customer, second_customer = CustomerFactory(), CustomerFactory()
    t1 = TicketFactory(
        customer=first_customer,
        status=TicketStatus.NEW,
        priority="high",
        last_channel=Channel.API,
        team=personas.team_a,
        store=personas.store_one,
        assignee=personas.agent.user,
    )
    t2 = TicketFactory(
        customer=second_customer,
        status=TicketStatus.OPEN,
        priority="normal",
        last_channel=Channel.WEB_CHAT,
        team=personas.team_b,
        store=personas.store_two,
    )
    t3 = TicketFactory(
        customer=first_customer, status=TicketStatus.SOLVED, priority="low", last_channel="kiosk"
    )
    for hours, ticket in ((0, t1), (2, t2), (4, t3)):
        set_updated_at(ticket, T0 + timedelta(hours=hours))
    return t1, t2, t3


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"status": ["new", "open"]}, {1, 2}),
        ({"status": "solved"}, {3}),
        ({"priority": "high"}, {1}),
        ({"channel": "web_chat"}, {2}),
        ({"team": "team-a"}, {1}),
        ({"store": "bj-001"}, {2}),
        ({"customer": "first"}, {1, 3}),
        ({"assignee": "agent"}, {1}),
        ({"updated_since": (T0 + timedelta(hours=1)).isoformat()}, {2, 3}),
        ({"subject": "not a filter"}, {1, 2, 3}),
    ],
    ids=lambda value: str(value) if isinstance(value, set) else "-".join(value),
)
def test_list_filters(partner, personas, three_tickets, query, expected):
    if query.get("customer") == "first":
        query = {"customer": three_tickets[0].customer.public_id}
    if query.get("assignee") == "agent":
        query = {"assignee": personas.agent.user.username}

    response = partner.get(LIST, query)

    assert set(numbers_of(response)) == {three_tickets[n - 1].pk for n in expected}


def test_list_refuses_an_unknown_filter_value(partner):
    error = error_of(partner.get(LIST, {"status": "lost"}), 400, "invalid_choice")

    assert "status" in error["fields"]


def test_list_refuses_a_nul_character_in_a_filter(partner):
    error_of(partner.get(LIST, {"customer": "cus_\x00"}), 400, "null_characters_not_allowed")


def test_list_query_count_does_not_grow_with_the_page(
    partner, personas, django_assert_max_num_queries
):
    tags = [TicketTag.objects.create(name="a"), TicketTag.objects.create(name="b")]
    for _ in range(50):
        ticket = TicketFactory(
            team=personas.team_a, store=personas.store_one, assignee=personas.agent.user
        )
        ticket.tags.set(tags)
    partner.get(LIST, {"page_size": 1})  # the key's last_used_at is written once

    with django_assert_max_num_queries(4):
        big = partner.get(LIST, {"page_size": 50})
    with django_assert_max_num_queries(4):
        small = partner.get(LIST, {"page_size": 5})

    assert len(numbers_of(big)) == 50
    assert len(numbers_of(small)) == 5
    assert big.json()["results"][0]["tags"] == ["a", "b"]


def test_partner_keys_see_every_ticket(partner, personas):
    tickets = {team_ticket(personas.team_a).pk, team_ticket(personas.team_b).pk}
    tickets.add(TicketFactory(store=personas.store_two).pk)

    assert set(numbers_of(partner.get(LIST))) == tickets


def test_console_users_list_only_the_tickets_they_may_see(console_client, personas):
    of_team_a = team_ticket(personas.team_a)
    of_team_b = team_ticket(personas.team_b)
    general = TicketFactory()

    agent_sees = numbers_of(console_client(personas.agent).get(LIST))
    outsider_sees = numbers_of(console_client(personas.outsider).get(LIST))
    manager_sees = numbers_of(console_client(personas.manager).get(LIST))

    assert set(agent_sees) == {of_team_a.pk, general.pk}
    assert set(outsider_sees) == {of_team_b.pk, general.pk}
    assert set(manager_sees) == {of_team_a.pk, of_team_b.pk, general.pk}


def test_list_needs_the_tickets_read_scope(partner_no_scope, key_client):
    error_of(partner_no_scope.get(LIST), 403, "missing_scope")
    error_of(key_client("tickets:write").get(LIST), 403, "missing_scope")
    assert key_client("tickets:read").get(LIST).status_code == 200


# --- retrieve ---------------------------------------------------------------------------


def test_retrieve_by_number(partner):
    ticket = inbound_ticket()

    body = partner.get(detail(ticket)).json()

    assert body["number"] == ticket.pk
    assert body["subject"] == "我的订单还没到"
    assert body["status"] == "new"
    assert body["origin_channel"] == "api"


def test_a_merged_ticket_shows_where_it_went(partner):
    customer = CustomerFactory()
    source, target = TicketFactory(customer=customer), TicketFactory(customer=customer)
    services.merge_tickets(source=source, target=target, actor=None)

    body = partner.get(detail(source)).json()

    assert body["merged_into"] == target.pk
    assert body["status"] == "closed"


def test_unknown_number_is_not_found(partner):
    error_of(partner.get(detail(999_999)), 404, "ticket_not_found")
    error_of(partner.get("/api/v1/tickets/abc/"), 404, "not_found")


def test_an_agent_of_another_team_cannot_see_the_ticket(console_client, personas):
    ticket = team_ticket(personas.team_a)
    outsider = console_client(personas.outsider)

    error_of(outsider.get(detail(ticket)), 404, "ticket_not_found")
    error_of(outsider.get(detail(ticket, "messages/")), 404, "ticket_not_found")
    error_of(
        outsider.patch(detail(ticket), {"priority": "high"}, format="json"), 404, "ticket_not_found"
    )
    assert console_client(personas.agent).get(detail(ticket)).status_code == 200


def test_retrieve_query_count(partner, personas, django_assert_max_num_queries):
    ticket = team_ticket(personas.team_a, store=personas.store_one, assignee=personas.agent.user)
    partner.get(LIST)  # the key's last_used_at is written once

    with django_assert_max_num_queries(4):
        response = partner.get(detail(ticket))

    assert response.status_code == 200


# --- update -----------------------------------------------------------------------------


def test_patch_changes_status_priority_subject_and_tags(partner):
    ticket = inbound_ticket()

    response = partner.patch(
        detail(ticket),
        {"status": "pending", "priority": "urgent", "subject": "Parcel lost", "tags": ["b", "a"]},
        format="json",
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["priority"], body["subject"]) == (
        "pending",
        "urgent",
        "Parcel lost",
    )
    assert body["tags"] == ["a", "b"]
    change = ticket.status_changes.order_by("-id").first()
    assert (change.from_status, change.to_status) == ("new", "pending")
    assert "apikey:partner-full" in change.reason


def test_patch_assigns_team_and_assignee_and_clears_them(partner, personas):
    ticket = inbound_ticket()

    assigned = partner.patch(
        detail(ticket),
        {"team": "team-b", "assignee": personas.outsider.user.username},
        format="json",
    )
    cleared = partner.patch(detail(ticket), {"team": None, "assignee": None}, format="json")

    assert assigned.status_code == 200, assigned.content
    assert assigned.json()["team"] == "team-b"
    assert assigned.json()["assignee"] == personas.outsider.user.username
    assert (cleared.json()["team"], cleared.json()["assignee"]) == (None, None)


def test_a_console_agent_may_hand_a_ticket_to_another_team(console_client, personas):
    ticket = team_ticket(personas.team_a)

    response = console_client(personas.agent).patch(
        detail(ticket), {"team": "team-b"}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["team"] == "team-b"


def test_an_invalid_transition_is_a_conflict_and_changes_nothing(partner):
    ticket = inbound_ticket()

    response = partner.patch(
        detail(ticket), {"status": "closed", "priority": "high"}, format="json"
    )

    error_of(response, 409, "invalid_transition")
    ticket.refresh_from_db()
    assert (ticket.status, ticket.priority) == ("new", "normal")


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"team": "no-such-team"}, "unknown_team", "team"),
        ({"assignee": "nobody"}, "unknown_assignee", "assignee"),
        ({"status": "new"}, "invalid_choice", "status"),
        ({"priority": "whenever"}, "invalid_choice", "priority"),
        ({"tags": "vip"}, "not_a_list", "tags"),
    ],
    ids=["unknown-team", "unknown-assignee", "status-new", "bad-priority", "tags-not-list"],
)
def test_patch_refuses_bad_input(partner, body, code, field):
    ticket = inbound_ticket()

    error = error_of(partner.patch(detail(ticket), body, format="json"), 400, code)

    assert field in error["fields"]
    ticket.refresh_from_db()
    assert (ticket.team_id, ticket.assignee_id, ticket.priority) == (None, None, "normal")


def test_patch_refuses_an_assignee_who_is_not_staff(partner):
    ticket = inbound_ticket()
    user = UserFactory()

    error_of(
        partner.patch(detail(ticket), {"assignee": user.username}, format="json"),
        400,
        "invalid_assignee",
    )


def test_patch_of_a_merged_ticket_is_a_conflict(partner):
    customer = CustomerFactory()
    source, target = TicketFactory(customer=customer), TicketFactory(customer=customer)
    services.merge_tickets(source=source, target=target, actor=None)

    error = error_of(
        partner.patch(detail(source), {"priority": "high"}, format="json"), 409, "ticket_merged"
    )

    assert error["merged_into"] == target.pk


def test_patch_needs_the_tickets_write_scope(key_client):
    ticket = inbound_ticket()

    error_of(
        key_client("tickets:read").patch(detail(ticket), {"priority": "high"}, format="json"),
        403,
        "missing_scope",
    )
    ticket.refresh_from_db()
    assert ticket.priority == "normal"


def test_put_is_not_allowed(partner):
    ticket = inbound_ticket()

    error_of(
        partner.put(detail(ticket), {"priority": "high"}, format="json"), 405, "method_not_allowed"
    )


# --- conversation -----------------------------------------------------------------------


def test_conversation_is_oldest_first_without_internal_notes(partner, personas):
    ticket = inbound_ticket("Where is my parcel?")
    agent = personas.agent
    agent.display_name = "小李"
    agent.save()
    services.add_note(ticket=ticket, author=agent.user, text="VIP, handle with care")
    reply = services.reply(ticket=ticket, author=agent.user, text="It ships today.")

    response = partner.get(detail(ticket, "messages/"))

    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [m["direction"] for m in results] == ["inbound", "outbound"]
    assert all("VIP" not in m["body_text"] for m in results)
    customer_message, agent_reply = results
    assert set(agent_reply) == {
        "id",
        "direction",
        "channel",
        "author_kind",
        "author_name",
        "body_text",
        "body_html",
        "delivery_status",
        "failure_reason",
        "created_at",
        "attachments",
    }
    assert customer_message["author_kind"] == "customer"
    assert customer_message["author_name"] is None
    assert customer_message["delivery_status"] == "received"
    assert agent_reply["id"] == reply.pk
    assert agent_reply["author_name"] == "小李"
    assert agent_reply["channel"] == "api"
    assert agent_reply["delivery_status"] == "queued"


def test_notes_never_reach_partners_even_when_they_are_all_there_is(partner, personas):
    ticket = team_ticket(personas.team_a)
    for n in range(3):
        services.add_note(ticket=ticket, author=personas.agent.user, text=f"note {n}")

    response = partner.get(detail(ticket, "messages/"))

    assert response.json()["results"] == []


def test_conversation_lists_attachments(partner):
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
    result = services.thread_inbound_message(
        channel=Channel.API,
        external_id="with-photo",
        identities=[IdentityClaim(IdentityKind.PHONE, PHONE)],
        attachments=check_attachments([("photo.png", png)]),
    )

    (message,) = partner.get(detail(result.ticket, "messages/")).json()["results"]

    (attachment,) = message["attachments"]
    assert attachment | {"id": 0, "url": ""} == {
        "id": 0,
        "filename": "photo.png",
        "content_type": "image/png",
        "size": len(png),
        "url": "",
    }
    download = partner.get(attachment["url"])
    assert download.status_code == 200
    assert download["Content-Type"] == "image/png"
    assert download["X-Content-Type-Options"] == "nosniff"
    assert "attachment;" in download["Content-Disposition"]
    assert b"".join(download.streaming_content) == png


def test_attachment_download_is_refused_for_notes_other_tickets_and_missing_scope(
    partner, personas, partner_no_scope
):
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
    ticket = team_ticket(personas.team_a)
    other = team_ticket(personas.team_a)
    note = services.add_note(
        ticket=ticket,
        author=personas.agent.user,
        text="internal scan",
        attachments=check_attachments([("scan.png", png)]),
    )
    note_attachment = note.attachments.get()

    as_note = partner.get(detail(ticket, f"attachments/{note_attachment.pk}/"))
    elsewhere = partner.get(detail(other, f"attachments/{note_attachment.pk}/"))
    unscoped = partner_no_scope.get(detail(ticket, f"attachments/{note_attachment.pk}/"))

    error_of(as_note, 404, "attachment_not_found")
    error_of(elsewhere, 404, "attachment_not_found")
    error_of(unscoped, 403, "missing_scope")


def test_conversation_pages_with_a_cursor(partner):
    ticket = TicketFactory()
    messages = [MessageFactory(ticket=ticket) for _ in range(5)]

    page = partner.get(detail(ticket, "messages/"), {"page_size": 2})
    seen = [m["id"] for m in page.json()["results"]]
    while page.json()["next"]:
        page = partner.get(page.json()["next"])
        seen += [m["id"] for m in page.json()["results"]]

    assert seen == [m.pk for m in messages]


def test_conversation_query_count_does_not_grow_with_the_page(
    partner, personas, django_assert_max_num_queries
):
    ticket = team_ticket(personas.team_a)
    ticket.tags.set([TicketTag.objects.create(name="a")])
    other_agent = StaffProfileFactory()
    for n in range(20):
        inbound = MessageFactory(ticket=ticket)
        Attachment.objects.create(
            message=inbound,
            file=f"attachments/00/{n}",
            filename=f"{n}.png",
            content_type="image/png",
            size=10,
            sha256="0" * 64,
        )
        MessageFactory(
            ticket=ticket,
            direction=Direction.OUTBOUND,
            author_kind=AuthorKind.AGENT,
            author_user=(personas.agent if n % 2 else other_agent).user,
            delivery_status=DeliveryStatus.SENT,
        )
    partner.get(LIST)  # the key's last_used_at is written once

    with django_assert_max_num_queries(5):
        big = partner.get(detail(ticket, "messages/"), {"page_size": 40})
    with django_assert_max_num_queries(5):
        small = partner.get(detail(ticket, "messages/"), {"page_size": 4})

    assert len(big.json()["results"]) == 40
    assert len(small.json()["results"]) == 4
    assert all(m["author_name"] for m in big.json()["results"] if m["direction"] == "outbound")


def test_conversation_needs_the_tickets_read_scope(partner_no_scope):
    ticket = inbound_ticket()

    error_of(partner_no_scope.get(detail(ticket, "messages/")), 403, "missing_scope")


# --- partner posts a customer message on a ticket --------------------------------------


def test_partner_adds_a_customer_message_to_the_ticket(partner):
    ticket = inbound_ticket()
    Ticket.objects.filter(pk=ticket.pk).update(status=TicketStatus.PENDING)

    response = partner.post(
        detail(ticket, "messages/"), {"external_id": "app-2", "text": "更多信息"}, format="json"
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["ticket"] == ticket.pk
    assert body["created_ticket"] is False
    assert body["duplicate"] is False
    assert body["customer_id"] == ticket.customer.public_id
    message = Message.objects.get(pk=body["message_id"])
    assert (message.direction, message.channel, message.author_kind) == (
        "inbound",
        "api",
        "customer",
    )
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.OPEN  # the customer replied
    assert Customer.objects.count() == 1


def test_partner_message_on_a_ticket_is_deduplicated(partner):
    ticket = inbound_ticket()
    url = detail(ticket, "messages/")

    first = partner.post(url, {"external_id": "app-2", "text": "hi"}, format="json")
    again = partner.post(url, {"external_id": "app-2", "text": "hi"}, format="json")

    assert again.status_code == 200
    assert again.json() == {**first.json(), "duplicate": True}
    assert ticket.messages.count() == 2


def test_partner_message_with_attachment_only(partner):
    ticket = inbound_ticket()
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 8).decode()

    response = partner.post(
        detail(ticket, "messages/"),
        {"external_id": "app-3", "attachments": [{"filename": "p.png", "content_base64": png}]},
        format="json",
    )

    assert response.status_code == 201, response.content
    assert Attachment.objects.get().message_id == response.json()["message_id"]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"external_id": "app-9", "text": ""}, "empty_message"),
        ({"text": "hello"}, "required"),
        (
            {"external_id": "app-9", "attachments": [{"filename": "x", "content_base64": "%%"}]},
            "invalid_attachment",
        ),
    ],
    ids=["empty", "no-external-id", "bad-base64"],
)
def test_partner_message_bad_input_stores_nothing(partner, body, code):
    ticket = inbound_ticket()

    error_of(partner.post(detail(ticket, "messages/"), body, format="json"), 400, code)

    assert ticket.messages.count() == 1


def test_partner_message_on_a_merged_ticket_is_a_conflict(partner):
    customer = IdentityFactory(kind=IdentityKind.PHONE, value=PHONE).customer
    source, target = TicketFactory(customer=customer), TicketFactory(customer=customer)
    services.merge_tickets(source=source, target=target, actor=None)

    error = error_of(
        partner.post(detail(source, "messages/"), {"external_id": "m", "text": "x"}, format="json"),
        409,
        "ticket_merged",
    )

    assert error["merged_into"] == target.pk


def test_partner_message_for_a_customer_without_identity_is_a_conflict(partner):
    ticket = TicketFactory()

    error_of(
        partner.post(detail(ticket, "messages/"), {"external_id": "m", "text": "x"}, format="json"),
        409,
        "customer_without_identity",
    )
    assert not Message.objects.exists()


def test_partner_message_needs_the_tickets_write_scope(key_client):
    ticket = inbound_ticket()

    error_of(
        key_client("tickets:read").post(
            detail(ticket, "messages/"), {"external_id": "m", "text": "x"}, format="json"
        ),
        403,
        "missing_scope",
    )
    assert ticket.messages.count() == 1


# --- delivery receipts ------------------------------------------------------------------


@pytest.fixture
def api_reply(personas) -> Message:
    ticket = inbound_ticket()
    return services.reply(ticket=ticket, author=personas.agent.user, text="It ships today.")


def receipt(client, message: Message, status: str, **extra):
    body = {"message_id": message.pk, "status": status, **extra}
    return client.post(detail(message.ticket_id, "receipts/"), body, format="json")


def test_receipts_move_delivery_forward(partner, api_reply):
    delivered = receipt(partner, api_reply, "delivered")
    read = receipt(partner, api_reply, "read")

    assert delivered.json() == {
        "message_id": api_reply.pk,
        "delivery_status": "delivered",
        "changed": True,
    }
    assert read.json()["delivery_status"] == "read"
    api_reply.refresh_from_db()
    assert api_reply.delivery_status == DeliveryStatus.READ


def test_late_or_repeated_receipts_never_move_delivery_backwards(partner, api_reply):
    receipt(partner, api_reply, "read")

    late = receipt(partner, api_reply, "delivered")
    failed = receipt(partner, api_reply, "failed", reason="timeout")
    repeated = receipt(partner, api_reply, "read")

    for response in (late, failed, repeated):
        assert response.status_code == 200
        assert response.json()["changed"] is False
        assert response.json()["delivery_status"] == "read"
    api_reply.refresh_from_db()
    assert (api_reply.delivery_status, api_reply.failure_reason) == ("read", "")


def test_a_failure_receipt_keeps_its_reason(partner, api_reply):
    response = receipt(partner, api_reply, "failed", reason="app uninstalled")

    assert response.json()["delivery_status"] == "failed"
    api_reply.refresh_from_db()
    assert api_reply.failure_reason == "app uninstalled"


def test_receipts_only_for_replies_of_this_ticket_on_a_partner_channel(
    partner, personas, api_reply
):
    other_ticket = inbound_ticket(phone="+8613900139000")
    other_reply = services.reply(ticket=other_ticket, author=personas.agent.user, text="Hi")
    whatsapp_reply = services.reply(
        ticket=api_reply.ticket, author=personas.agent.user, text="Hi", channel=Channel.WHATSAPP
    )
    customer_message = api_reply.ticket.messages.get(direction=Direction.INBOUND)
    url = detail(api_reply.ticket_id, "receipts/")

    for message_id in (other_reply.pk, whatsapp_reply.pk, customer_message.pk, 999_999):
        response = partner.post(url, {"message_id": message_id, "status": "read"}, format="json")
        error_of(response, 404, "message_not_found")
    other_reply.refresh_from_db()
    whatsapp_reply.refresh_from_db()
    assert other_reply.delivery_status == whatsapp_reply.delivery_status == "queued"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"status": "sent"}, "invalid_choice"),
        ({"status": "read", "message_id": "abc"}, "invalid"),
        ({"message_id": 1}, "required"),
    ],
    ids=["status-sent", "bad-id", "no-status"],
)
def test_receipt_bad_input(partner, api_reply, body, code):
    body = {"message_id": api_reply.pk, **body}

    error_of(partner.post(detail(api_reply.ticket_id, "receipts/"), body, format="json"), 400, code)

    api_reply.refresh_from_db()
    assert api_reply.delivery_status == "queued"


def test_receipts_need_the_tickets_write_scope(key_client, api_reply):
    error_of(receipt(key_client("tickets:read"), api_reply, "read"), 403, "missing_scope")


# --- schema -----------------------------------------------------------------------------


def test_schema_documents_the_tickets_endpoints(client):
    paths = client.get("/api/schema/", {"format": "json"}).json()["paths"]

    assert set(paths["/api/v1/messages/"]) == {"post"}
    assert set(paths["/api/v1/tickets/"]) == {"get"}
    assert set(paths["/api/v1/tickets/{number}/"]) == {"get", "patch"}
    assert set(paths["/api/v1/tickets/{number}/messages/"]) == {"get", "post"}
    assert set(paths["/api/v1/tickets/{number}/receipts/"]) == {"post"}
    parameters = {p["name"] for p in paths["/api/v1/tickets/"]["get"]["parameters"]}
    assert parameters == {
        "cursor",
        "page_size",
        "status",
        "priority",
        "channel",
        "team",
        "store",
        "customer",
        "assignee",
        "updated_since",
    }


# --- transfer -----------------------------------------------------------------------------


def test_a_partner_transfers_a_ticket_with_a_note_logged_as_a_routing_decision(partner, personas):
    from tickets.models import DecisionKind, RoutingDecision

    ticket = inbound_ticket()
    services.assign(ticket=ticket, actor=None, team=personas.team_a, assignee=personas.agent.user)

    response = partner.post(
        detail(ticket, "transfer/"),
        {"team": personas.team_b.slug, "assignee": None, "note": "Order system question"},
        format="json",
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["team"], body["assignee"]) == (personas.team_b.slug, None)
    decision = RoutingDecision.objects.filter(ticket=ticket).latest("pk")
    assert (decision.kind, decision.note, decision.actor_id) == (
        DecisionKind.TRANSFERRED,
        "Order system question",
        None,
    )
    note = Message.objects.get(ticket=ticket, direction=Direction.NOTE)
    assert note.body_text == "Order system question"


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"note": "no target"}, "assignee", "transfer_target_missing"),
        ({"team": "no-such-team"}, "team", "unknown_team"),
        ({"assignee": "nobody-here"}, "assignee", "unknown_assignee"),
        ({"team": None, "note": "x" * 2001}, "note", "max_length"),
    ],
)
def test_a_bad_transfer_is_400_naming_the_field_and_changes_nothing(
    partner, personas, body, field, code
):
    from tickets.models import RoutingDecision

    ticket = inbound_ticket()
    before = RoutingDecision.objects.filter(ticket=ticket).count()

    response = partner.post(detail(ticket, "transfer/"), body, format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert field in error["fields"], error
    assert code in json.dumps(error)
    assert RoutingDecision.objects.filter(ticket=ticket).count() == before
    assert Ticket.objects.get(pk=ticket.pk).team_id == ticket.team_id


def test_a_closed_ticket_cannot_be_transferred(partner, personas):
    ticket = TicketFactory(status=TicketStatus.CLOSED)

    response = partner.post(
        detail(ticket, "transfer/"), {"team": personas.team_a.slug}, format="json"
    )

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "ticket_closed"


def test_transfer_needs_the_write_scope_and_a_visible_ticket(
    partner_read_only, console_client, personas
):
    ticket = team_ticket(personas.team_b)

    assert (
        partner_read_only.post(
            detail(ticket, "transfer/"), {"team": None}, format="json"
        ).status_code
        == 403
    )
    agent = console_client(personas.agent)  # not of team B: the ticket does not exist for them
    assert agent.post(detail(ticket, "transfer/"), {"team": None}, format="json").status_code == 404
