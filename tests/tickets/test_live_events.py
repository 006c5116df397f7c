"""Live events of tickets: published after commit, to exactly the groups that may see them,
thin (ids and changed fields, never the customer's words or contact details)."""

from __future__ import annotations

import json

import pytest
from django.db import transaction

from customers.identity import IdentityClaim
from customers.models import IdentityKind
from tests.factories import TicketFactory
from tests.layer_listener import LayerListener
from tickets.models import Channel, Ticket, TicketStatus
from tickets.services import assign, reply, thread_inbound_message
from tickets.visibility import GENERAL_QUEUE_GROUP, MANAGERS_GROUP

pytestmark = pytest.mark.django_db

PHONE = "+8613812345678"
SECRET_TEXT = "My card 4111 is blocked, call me at home"
CUSTOMER_NAME = "Wang Xiaoming"
TICKET_FIELDS = {
    "type",
    "id",
    "stream",
    "seq",
    "seqs",
    "ticket_id",
    "changed",
    "status",
    "priority",
    "team_id",
    "assignee_id",
    "store_id",
}
MESSAGE_FIELDS = {
    "type",
    "id",
    "stream",
    "seq",
    "seqs",
    "ticket_id",
    "message_id",
    "direction",
    "channel",
    "author_id",
}


@pytest.fixture
def listener():
    """``join(*groups)`` on one channel; ``received()`` returns every event sent so far."""
    listening = LayerListener()
    yield listening.join, listening.received
    listening.close()


@pytest.fixture
def every_group(personas) -> list[str]:
    """The groups any persona's console could be in."""
    p = personas
    return [
        MANAGERS_GROUP,
        GENERAL_QUEUE_GROUP,
        f"team.{p.team_a.pk}",
        f"team.{p.team_b.pk}",
        f"store.{p.store_one.pk}",
        f"store.{p.store_two.pk}",
        *(f"agent.{getattr(p, n).user.pk}" for n in ("agent", "outsider", "store_clerk")),
    ]


def inbound(text: str = SECRET_TEXT, **kwargs):
    kwargs.setdefault("channel", Channel.WHATSAPP)
    kwargs.setdefault("external_id", None)
    kwargs.setdefault("identities", [IdentityClaim(IdentityKind.PHONE, PHONE)])
    kwargs.setdefault("profile", {"name": CUSTOMER_NAME})
    return thread_inbound_message(text=text, **kwargs)


def routes(events: list[dict]) -> set[tuple[str, str]]:
    return {(event["type"], event["stream"]) for event in events}


def test_new_ticket_is_announced_to_the_general_queue_and_managers_only(
    listener, every_group, django_capture_on_commit_callbacks
):
    join, received = listener
    join(*every_group)

    with django_capture_on_commit_callbacks(execute=True):
        result = inbound()

    events = received()
    assert routes(events) == {
        ("ticket.created", MANAGERS_GROUP),
        ("ticket.created", GENERAL_QUEUE_GROUP),
        ("message.added", MANAGERS_GROUP),
        ("message.added", GENERAL_QUEUE_GROUP),
    }
    created = next(e for e in events if e["type"] == "ticket.created")
    assert created["ticket_id"] == result.ticket.pk
    assert created["status"] == TicketStatus.NEW
    assert "last_channel" in created["changed"]
    added = next(e for e in events if e["type"] == "message.added")
    assert (added["ticket_id"], added["message_id"]) == (result.ticket.pk, result.message.pk)
    assert (added["direction"], added["channel"]) == ("inbound", Channel.WHATSAPP)


def test_message_at_a_store_is_announced_to_that_store_not_the_general_queue(
    personas, listener, every_group, django_capture_on_commit_callbacks
):
    join, received = listener
    join(*every_group)

    with django_capture_on_commit_callbacks(execute=True):
        inbound(channel=Channel.STORE, store=personas.store_one)

    assert {stream for _type, stream in routes(received())} == {
        MANAGERS_GROUP,
        f"store.{personas.store_one.pk}",
    }


def test_next_message_reaches_the_ticket_group_with_what_changed(
    listener, every_group, django_capture_on_commit_callbacks
):
    join, received = listener
    with django_capture_on_commit_callbacks(execute=True):
        ticket = inbound().ticket
    Ticket.objects.filter(pk=ticket.pk).update(status=TicketStatus.PENDING)
    join(*every_group, f"ticket.{ticket.pk}")

    with django_capture_on_commit_callbacks(execute=True):
        inbound("second", channel=Channel.SMS)

    events = received()
    assert ("ticket.updated", f"ticket.{ticket.pk}") in routes(events)
    assert ("message.added", f"ticket.{ticket.pk}") in routes(events)
    updated = next(e for e in events if e["type"] == "ticket.updated")
    assert set(updated["changed"]) == {"last_customer_message_at", "last_channel", "status"}
    assert updated["status"] == TicketStatus.OPEN


def test_a_message_that_only_moves_activity_is_one_event_carrying_the_ticket_state(
    personas, listener, every_group, django_capture_on_commit_callbacks
):
    """An open ticket's next message: message.added with the ticket's state, no separate
    ticket.updated (half the frames per socket)."""
    join, received = listener
    with django_capture_on_commit_callbacks(execute=True):
        ticket = inbound().ticket
    Ticket.objects.filter(pk=ticket.pk).update(status=TicketStatus.OPEN)
    join(*every_group, f"ticket.{ticket.pk}")

    with django_capture_on_commit_callbacks(execute=True):
        inbound("second", channel=Channel.SMS)

    events = received()
    assert {e["type"] for e in events} == {"message.added"}
    event = next(e for e in events if e["stream"] == f"ticket.{ticket.pk}")
    assert set(event["changed"]) == {"last_customer_message_at", "last_channel"}
    assert event["status"] == TicketStatus.OPEN
    assert event["channel"] == Channel.SMS
    assert set(event) <= MESSAGE_FIELDS | TICKET_FIELDS


def test_one_event_sent_to_several_groups_keeps_one_id_and_a_seq_per_group(
    listener, every_group, django_capture_on_commit_callbacks
):
    join, received = listener
    join(*every_group)

    with django_capture_on_commit_callbacks(execute=True):
        inbound()

    events = received()
    created = [e for e in events if e["type"] == "ticket.created"]
    assert len(created) == 2
    assert len({e["id"] for e in created}) == 1
    assert all(isinstance(e["seq"], int) and e["seq"] >= 1 for e in events)
    # every copy carries the seq of every group, so a socket keeping one copy of two
    # still sees the other stream advance
    assert created[0]["seqs"] == created[1]["seqs"]
    assert {c["stream"]: c["seq"] for c in created}.items() <= created[0]["seqs"].items()


def test_events_carry_ids_and_changed_fields_but_no_customer_text_or_contact(
    personas, listener, every_group, django_capture_on_commit_callbacks
):
    join, received = listener
    join(*every_group)

    with django_capture_on_commit_callbacks(execute=True):
        result = inbound(subject="Blocked card of Wang Xiaoming")
    join(f"ticket.{result.ticket.pk}")
    with django_capture_on_commit_callbacks(execute=True):
        reply(ticket=result.ticket, author=personas.agent.user, text=f"Dear {CUSTOMER_NAME}")

    events = received()
    types = {e["type"] for e in events}
    assert {"ticket.created", "ticket.updated", "message.added"} <= types
    assert "message.delivery_changed" in types  # the outbox ran (eager Celery)
    for event in events:
        if event["type"].startswith("ticket."):
            assert set(event) <= TICKET_FIELDS, event
        elif event["type"] == "message.added":
            assert set(event) <= MESSAGE_FIELDS, event
        payload = json.dumps(event, ensure_ascii=False)
        for secret in (SECRET_TEXT, "Blocked card", CUSTOMER_NAME, PHONE, PHONE[3:]):
            assert secret not in payload, (secret, event)
        for key in ("subject", "body", "body_text", "body_html", "text", "phone", "name"):
            assert key not in event


def test_reassignment_notifies_the_groups_before_and_after(
    personas, listener, every_group, django_capture_on_commit_callbacks
):
    join, received = listener
    ticket = TicketFactory(team=personas.team_a, assignee=personas.agent.user)
    join(*every_group)

    with django_capture_on_commit_callbacks(execute=True):
        assign(
            ticket=ticket,
            actor=personas.manager.user,
            team=personas.team_b,
            assignee=personas.outsider.user,
        )

    events = received()
    assert routes(events) == {
        ("ticket.updated", group)
        for group in (
            MANAGERS_GROUP,
            f"team.{personas.team_a.pk}",
            f"team.{personas.team_b.pk}",
            f"agent.{personas.agent.user.pk}",
            f"agent.{personas.outsider.user.pk}",
        )
    }
    assert all(e["changed"] == ["team", "assignee"] for e in events)
    assert all(e["team_id"] == personas.team_b.pk for e in events)


def test_assignment_that_changes_nothing_publishes_nothing(
    personas, listener, every_group, django_capture_on_commit_callbacks
):
    join, received = listener
    ticket = TicketFactory(team=personas.team_a)
    join(*every_group)

    with django_capture_on_commit_callbacks(execute=True):
        assign(ticket=ticket, actor=None, team=personas.team_a)

    assert received() == []


def test_nothing_is_published_when_the_transaction_rolls_back(
    listener, every_group, django_capture_on_commit_callbacks
):
    join, received = listener
    join(*every_group)

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError, match="rolled back"),
        transaction.atomic(),
    ):
        inbound()
        raise RuntimeError("rolled back")

    assert callbacks == []
    assert received() == []
    assert not Ticket.objects.exists()
