"""Agent actions on a ticket: reply (through the outbox), note, status, assignment, merge."""

from __future__ import annotations

from datetime import timedelta
from itertools import product

import pytest
from django.utils import timezone

from channels_hub import adapters
from channels_hub.adapters import Adapter, PermanentDeliveryError, SendResult
from customers.services import merge_customers
from omniservice.errors import ConflictError, DomainError
from omniservice.outbox import services as outbox_services
from omniservice.outbox.models import OutboxMessage, OutboxStatus
from tests.factories import CustomerFactory, MessageFactory, TicketFactory, UserFactory
from tickets.models import (
    ALLOWED_TRANSITIONS,
    AuthorKind,
    Channel,
    DeliveryStatus,
    Direction,
    Message,
    Priority,
    Ticket,
    TicketLink,
    TicketStatus,
    TicketStatusChange,
)
from tickets.services import (
    DELIVER_TOPIC,
    add_note,
    assign,
    change_status,
    link_tickets,
    merge_tickets,
    record_delivery,
    reply,
    update_ticket,
)

pytestmark = pytest.mark.django_db

ALLOWED_PAIRS = sorted((a, b) for a, targets in ALLOWED_TRANSITIONS.items() for b in targets)
REFUSED_PAIRS = sorted(
    (a, b)
    for a, b in product(TicketStatus.values, repeat=2)
    if a != b and b not in ALLOWED_TRANSITIONS[a]
)


def status_of(ticket: Ticket) -> str:
    return Ticket.objects.values_list("status", flat=True).get(pk=ticket.pk)


# --- reply ------------------------------------------------------------------------------


def test_reply_is_queued_on_the_channel_the_customer_used_last(personas):
    ticket = TicketFactory(origin_channel=Channel.WEB_CHAT, last_channel=Channel.API)

    message = reply(ticket=ticket, author=personas.agent.user, text="We are on it")

    assert (message.direction, message.channel) == (Direction.OUTBOUND, Channel.API)
    assert (message.author_kind, message.author_user) == (AuthorKind.AGENT, personas.agent.user)
    assert message.delivery_status == DeliveryStatus.QUEUED
    outbox = OutboxMessage.objects.get()
    assert (outbox.topic, outbox.payload) == (DELIVER_TOPIC, {"message_id": message.pk})


def test_reply_goes_out_on_the_chosen_channel(personas):
    ticket = TicketFactory(last_channel=Channel.API)

    message = reply(ticket=ticket, author=personas.agent.user, text="hi", channel=Channel.SMS)

    assert message.channel == Channel.SMS


def test_reply_falls_back_to_the_origin_channel():
    ticket = TicketFactory(origin_channel=Channel.KIOSK, last_channel="")

    assert reply(ticket=ticket, author=None, text="hi").channel == Channel.KIOSK


def test_first_reply_sets_first_response_once_and_opens_a_new_ticket(personas):
    ticket = TicketFactory(status=TicketStatus.NEW)

    reply(ticket=ticket, author=personas.agent.user, text="first")
    ticket.refresh_from_db()
    first_response_at = ticket.first_response_at
    reply(ticket=ticket, author=personas.teammate.user, text="second")

    ticket.refresh_from_db()
    assert first_response_at is not None
    assert ticket.first_response_at == first_response_at
    assert ticket.last_agent_message_at >= first_response_at
    assert ticket.status == TicketStatus.OPEN
    [change] = TicketStatusChange.objects.filter(ticket=ticket)
    assert (change.from_status, change.to_status) == ("new", "open")
    assert change.actor == personas.agent.user


@pytest.mark.parametrize("status", [TicketStatus.PENDING, TicketStatus.SOLVED])
def test_reply_leaves_a_status_other_than_new_alone(personas, status):
    ticket = TicketFactory(status=status)

    reply(ticket=ticket, author=personas.agent.user, text="fyi")

    assert status_of(ticket) == status


@pytest.mark.parametrize(
    ("channel", "status", "provider_id"),
    [
        (Channel.API, DeliveryStatus.SENT, True),
        (Channel.KIOSK, DeliveryStatus.SENT, True),
        (Channel.CONSOLE, DeliveryStatus.DELIVERED, True),
    ],
)
def test_outbox_delivers_the_reply_through_the_channel_adapter(
    personas, django_capture_on_commit_callbacks, channel, status, provider_id
):
    ticket = TicketFactory(last_channel=channel)

    with django_capture_on_commit_callbacks(execute=True):
        message = reply(ticket=ticket, author=personas.agent.user, text="Your order shipped")

    message.refresh_from_db()
    assert message.delivery_status == status
    assert message.provider_message_id == f"omni-{message.pk}"
    assert message.failure_reason == ""
    assert OutboxMessage.objects.get().status == OutboxStatus.DONE


def test_reply_on_a_channel_without_adapter_fails_naming_the_channel(
    personas, django_capture_on_commit_callbacks
):
    ticket = TicketFactory(last_channel=Channel.WHATSAPP)

    with django_capture_on_commit_callbacks(execute=True):
        message = reply(ticket=ticket, author=personas.agent.user, text="Hello")

    message.refresh_from_db()
    assert message.delivery_status == DeliveryStatus.FAILED
    assert "WhatsApp" in message.failure_reason
    assert OutboxMessage.objects.get().status == OutboxStatus.DONE


class FakeAdapter(Adapter):
    channels = (Channel.WHATSAPP,)
    needs_connection = False

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.sent: list[int] = []

    def send(self, message: Message, connection: object) -> SendResult:
        if self.error is not None:
            raise self.error
        self.sent.append(message.pk)
        return SendResult(status=DeliveryStatus.SENT, provider_message_id="wamid-out-1")


def test_reply_refused_for_good_by_the_provider_fails_with_its_reason(
    personas, monkeypatch, django_capture_on_commit_callbacks
):
    adapter = FakeAdapter(PermanentDeliveryError("24-hour window closed"))
    monkeypatch.setitem(adapters._ADAPTERS, Channel.WHATSAPP, adapter)
    ticket = TicketFactory(last_channel=Channel.WHATSAPP)

    with django_capture_on_commit_callbacks(execute=True):
        message = reply(ticket=ticket, author=personas.agent.user, text="Hello")

    message.refresh_from_db()
    assert message.delivery_status == DeliveryStatus.FAILED
    assert message.failure_reason == "24-hour window closed"
    assert OutboxMessage.objects.get().status == OutboxStatus.DONE


def test_reply_hit_by_a_transient_error_stays_queued_and_is_retried(
    personas, monkeypatch, django_capture_on_commit_callbacks
):
    adapter = FakeAdapter(ConnectionError("provider timed out"))
    monkeypatch.setitem(adapters._ADAPTERS, Channel.WHATSAPP, adapter)
    ticket = TicketFactory(last_channel=Channel.WHATSAPP)

    with django_capture_on_commit_callbacks(execute=True):
        message = reply(ticket=ticket, author=personas.agent.user, text="Hello")

    outbox = OutboxMessage.objects.get()
    assert (outbox.status, outbox.attempts) == (OutboxStatus.PENDING, 1)
    assert "provider timed out" in outbox.last_error
    assert delivery_status_of(message) == DeliveryStatus.QUEUED

    adapter.error = None
    OutboxMessage.objects.filter(pk=outbox.pk).update(
        available_at=timezone.now() - timedelta(seconds=1)
    )
    assert outbox_services.deliver(outbox.pk) == OutboxStatus.DONE
    assert outbox_services.deliver(outbox.pk) == "skipped"

    message.refresh_from_db()
    assert message.delivery_status == DeliveryStatus.SENT
    assert message.provider_message_id == "wamid-out-1"
    assert adapter.sent == [message.pk]


def test_delivery_of_a_message_no_longer_queued_is_a_no_op(
    personas, django_capture_on_commit_callbacks
):
    from channels_hub.delivery import deliver_message

    ticket = TicketFactory(last_channel=Channel.API)
    with django_capture_on_commit_callbacks(execute=True):
        message = reply(ticket=ticket, author=personas.agent.user, text="Hello")
    record_delivery(message_id=message.pk, status=DeliveryStatus.READ)

    deliver_message({"message_id": message.pk})

    message.refresh_from_db()
    assert message.delivery_status == DeliveryStatus.READ


def test_reply_on_a_closed_ticket_is_refused(personas):
    ticket = TicketFactory(status=TicketStatus.CLOSED)

    with pytest.raises(ConflictError) as error:
        reply(ticket=ticket, author=personas.agent.user, text="too late")

    assert error.value.code == "ticket_closed"
    assert not Message.objects.exists()
    assert not OutboxMessage.objects.exists()


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"text": "  "}, "empty_message"),
        ({"text": "x" * 20_001}, "message_too_long"),
        ({"text": "hi", "channel": "fax"}, "unknown_channel"),
    ],
)
def test_bad_reply_is_refused(personas, kwargs, code):
    ticket = TicketFactory()

    with pytest.raises(DomainError) as error:
        reply(ticket=ticket, author=personas.agent.user, **kwargs)

    assert error.value.code == code
    assert not Message.objects.exists()


# --- note -------------------------------------------------------------------------------


def test_note_is_stored_as_an_internal_note_and_never_sent(personas):
    ticket = TicketFactory(status=TicketStatus.NEW)

    note = add_note(ticket=ticket, author=personas.agent.user, text="  VIP, be quick  ")

    assert note.direction == Direction.NOTE
    assert (note.channel, note.author_user) == (Channel.CONSOLE, personas.agent.user)
    assert note.body_text == "VIP, be quick"
    assert note.delivery_status == DeliveryStatus.NOT_APPLICABLE
    assert not OutboxMessage.objects.exists()
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.NEW
    assert ticket.first_response_at is None


@pytest.mark.parametrize(
    ("text", "code"), [(" ", "empty_message"), ("x" * 20_001, "message_too_long")]
)
def test_bad_note_is_refused(personas, text, code):
    with pytest.raises(DomainError) as error:
        add_note(ticket=TicketFactory(), author=personas.agent.user, text=text)

    assert error.value.code == code


# --- status -----------------------------------------------------------------------------


@pytest.mark.parametrize(("before", "after"), ALLOWED_PAIRS)
def test_every_allowed_transition_is_accepted_and_recorded(personas, before, after):
    ticket = TicketFactory(status=before)
    user = personas.agent.user

    change_status(ticket=ticket, status=after, actor=user, reason="because")

    assert status_of(ticket) == after
    [change] = TicketStatusChange.objects.filter(ticket=ticket)
    assert (change.from_status, change.to_status) == (before, after)
    assert (change.actor, change.actor_label) == (user, f"user:{user.get_username()}")
    assert change.reason == "because"


@pytest.mark.parametrize(("before", "after"), REFUSED_PAIRS)
def test_every_other_transition_is_refused(personas, before, after):
    ticket = TicketFactory(status=before)

    with pytest.raises(ConflictError) as error:
        change_status(ticket=ticket, status=after, actor=personas.agent.user)

    assert error.value.code == "invalid_transition"
    assert status_of(ticket) == before
    assert not TicketStatusChange.objects.exists()


def test_closed_to_open_is_refused(personas):
    ticket = TicketFactory(status=TicketStatus.CLOSED)

    with pytest.raises(ConflictError) as error:
        change_status(ticket=ticket, status=TicketStatus.OPEN, actor=personas.agent.user)

    assert error.value.code == "invalid_transition"


def test_unknown_status_is_refused(personas):
    with pytest.raises(ConflictError) as error:
        change_status(ticket=TicketFactory(), status="archived", actor=personas.agent.user)

    assert error.value.code == "invalid_transition"


def test_setting_the_current_status_again_changes_nothing(personas):
    ticket = TicketFactory(status=TicketStatus.OPEN)

    change_status(ticket=ticket, status=TicketStatus.OPEN, actor=personas.agent.user)

    assert not TicketStatusChange.objects.exists()


def test_solving_sets_solved_at_and_reopening_counts_and_clears_it(personas):
    ticket = TicketFactory(status=TicketStatus.OPEN)
    user = personas.agent.user

    solved = change_status(ticket=ticket, status=TicketStatus.SOLVED, actor=user)
    assert solved.solved_at is not None
    reopened = change_status(ticket=ticket, status=TicketStatus.OPEN, actor=user)
    assert (reopened.reopen_count, reopened.solved_at) == (1, None)
    change_status(ticket=ticket, status=TicketStatus.SOLVED, actor=user)
    closed = change_status(ticket=ticket, status=TicketStatus.CLOSED, actor=None)

    ticket.refresh_from_db()
    assert ticket.reopen_count == 1
    assert ticket.solved_at is not None
    assert ticket.closed_at is not None
    assert closed.status == TicketStatus.CLOSED
    assert TicketStatusChange.objects.filter(ticket=ticket).latest("pk").actor_label == "system"


# --- update and assign ------------------------------------------------------------------


def test_update_ticket_changes_priority_tags_and_subject(personas):
    ticket = TicketFactory(subject="old")

    update_ticket(
        ticket=ticket,
        actor=personas.agent.user,
        priority=Priority.URGENT,
        tags=[" vip ", "refund", "vip", ""],
        subject="  Broken screen  ",
    )

    ticket.refresh_from_db()
    assert ticket.priority == Priority.URGENT
    assert ticket.subject == "Broken screen"
    assert sorted(ticket.tags.values_list("name", flat=True)) == ["refund", "vip"]


def test_update_ticket_replaces_tags_and_ignores_what_is_not_given(personas):
    ticket = TicketFactory(subject="keep me", priority=Priority.HIGH)
    update_ticket(ticket=ticket, actor=None, tags=["a", "b"])

    update_ticket(ticket=ticket, actor=None, tags=["b", "c"], subject="   ")

    ticket.refresh_from_db()
    assert sorted(ticket.tags.values_list("name", flat=True)) == ["b", "c"]
    assert (ticket.subject, ticket.priority) == ("keep me", Priority.HIGH)


def test_unknown_priority_is_refused(personas):
    with pytest.raises(DomainError) as error:
        update_ticket(ticket=TicketFactory(), actor=None, priority="asap")

    assert error.value.code == "invalid_priority"
    assert "priority" in error.value.fields


def test_assign_sets_clears_and_leaves_team_and_assignee(personas):
    ticket = TicketFactory()
    agent = personas.agent.user

    assign(ticket=ticket, actor=agent, team=personas.team_a, assignee=agent)
    ticket.refresh_from_db()
    assert (ticket.team_id, ticket.assignee_id) == (personas.team_a.pk, agent.pk)

    assign(ticket=ticket, actor=agent, assignee=None)
    ticket.refresh_from_db()
    assert (ticket.team_id, ticket.assignee_id) == (personas.team_a.pk, None)

    assign(ticket=ticket, actor=agent, team=None, assignee=personas.teammate.user)
    ticket.refresh_from_db()
    assert (ticket.team_id, ticket.assignee_id) == (None, personas.teammate.user.pk)

    assign(ticket=ticket, actor=agent)
    ticket.refresh_from_db()
    assert (ticket.team_id, ticket.assignee_id) == (None, personas.teammate.user.pk)


def test_only_staff_can_be_assigned(personas):
    ticket = TicketFactory()
    not_staff = UserFactory(is_staff=False)

    with pytest.raises(DomainError) as error:
        assign(ticket=ticket, actor=personas.manager.user, assignee=not_staff)

    assert error.value.code == "invalid_assignee"
    ticket.refresh_from_db()
    assert ticket.assignee_id is None


def test_superuser_without_staff_profile_can_be_assigned(personas):
    ticket = TicketFactory()
    admin = UserFactory(is_superuser=True)

    assign(ticket=ticket, actor=personas.manager.user, assignee=admin)

    ticket.refresh_from_db()
    assert ticket.assignee_id == admin.pk


# --- merge and link ---------------------------------------------------------------------


def test_merge_moves_the_messages_and_closes_the_source(personas):
    customer = CustomerFactory()
    source = TicketFactory(customer=customer, status=TicketStatus.OPEN)
    target = TicketFactory(customer=customer)
    moved = MessageFactory.create_batch(2, ticket=source)
    MessageFactory(ticket=target)
    update_ticket(ticket=source, actor=None, tags=["vip"])

    merge_tickets(source=source, target=target, actor=personas.agent.user)

    source.refresh_from_db()
    assert source.merged_into_id == target.pk
    assert source.status == TicketStatus.CLOSED
    assert source.closed_at is not None
    assert not source.messages.exists()
    assert set(target.messages.values_list("pk", flat=True)) >= {m.pk for m in moved}
    event = target.messages.get(direction=Direction.EVENT)
    assert (event.author_kind, event.author_user) == (AuthorKind.SYSTEM, personas.agent.user)
    assert f"#{source.pk}" in event.body_text
    assert "2" in event.body_text
    assert list(target.tags.values_list("name", flat=True)) == ["vip"]
    change = TicketStatusChange.objects.get(ticket=source)
    assert (change.from_status, change.to_status) == ("open", "closed")


def test_merge_redirects_tickets_merged_into_the_source(personas):
    customer = CustomerFactory()
    first, second, third = TicketFactory.create_batch(3, customer=customer)
    merge_tickets(source=first, target=second, actor=None)

    merge_tickets(source=second, target=third, actor=None)

    first.refresh_from_db()
    assert first.merged_into_id == third.pk


def test_merge_of_tickets_of_different_customers_is_refused():
    with pytest.raises(DomainError) as error:
        merge_tickets(source=TicketFactory(), target=TicketFactory(), actor=None)

    assert error.value.code == "merge_other_customer"


def test_merge_of_a_ticket_into_itself_is_refused():
    ticket = TicketFactory()

    with pytest.raises(DomainError) as error:
        merge_tickets(source=ticket, target=ticket, actor=None)

    assert error.value.code == "merge_same_ticket"


@pytest.mark.parametrize("which", ["source", "target"])
def test_merge_involving_an_already_merged_ticket_is_refused(which):
    customer = CustomerFactory()
    merged, survivor, other = TicketFactory.create_batch(3, customer=customer)
    merge_tickets(source=merged, target=survivor, actor=None)
    pair = {"source": merged, "target": other} if which == "source" else {}
    pair = pair or {"source": other, "target": merged}

    with pytest.raises(ConflictError) as error:
        merge_tickets(**pair, actor=None)

    assert error.value.code == "ticket_already_merged"


@pytest.mark.parametrize(
    "action",
    [
        lambda t, u: reply(ticket=t, author=u, text="hi"),
        lambda t, u: add_note(ticket=t, author=u, text="hi"),
        lambda t, u: change_status(ticket=t, status=TicketStatus.CLOSED, actor=u),
        lambda t, u: update_ticket(ticket=t, actor=u, priority=Priority.HIGH),
        lambda t, u: assign(ticket=t, actor=u, assignee=u),
    ],
    ids=["reply", "note", "status", "update", "assign"],
)
def test_actions_on_a_merged_ticket_are_refused(personas, action):
    customer = CustomerFactory()
    source, target = TicketFactory.create_batch(2, customer=customer)
    merge_tickets(source=source, target=target, actor=None)

    with pytest.raises(ConflictError) as error:
        action(source, personas.agent.user)

    assert error.value.code == "ticket_merged"
    assert error.value.extra == {"merged_into": target.pk}


def test_links_are_symmetric_and_stored_once():
    one, two = TicketFactory(), TicketFactory()

    forward = link_tickets(ticket=one, other=two)
    backward = link_tickets(ticket=two, other=one)

    assert forward.pk == backward.pk
    assert TicketLink.objects.count() == 1
    link = TicketLink.objects.get()
    assert (link.from_ticket_id, link.to_ticket_id) == tuple(sorted([one.pk, two.pk]))


def test_a_ticket_cannot_be_linked_to_itself():
    ticket = TicketFactory()

    with pytest.raises(DomainError) as error:
        link_tickets(ticket=ticket, other=ticket)

    assert error.value.code == "link_same_ticket"


# --- delivery receipts ------------------------------------------------------------------


def outbound(status: str = DeliveryStatus.QUEUED) -> Message:
    return MessageFactory(
        direction=Direction.OUTBOUND, author_kind=AuthorKind.AGENT, delivery_status=status
    )


def delivery_status_of(message: Message) -> str:
    message.refresh_from_db()
    return message.delivery_status


def test_delivery_status_moves_forward_through_every_step():
    message = outbound()

    for status in ("sent", "delivered", "read"):
        assert record_delivery(message_id=message.pk, status=status, provider_message_id="p-1")
        assert delivery_status_of(message) == status
    assert message.provider_message_id == "p-1"
    assert message.status_changed_at is not None


def test_delivery_status_may_skip_steps():
    message = outbound()

    assert record_delivery(message_id=message.pk, status=DeliveryStatus.READ)
    assert delivery_status_of(message) == DeliveryStatus.READ


@pytest.mark.parametrize(
    ("current", "late"),
    [
        ("read", "sent"),
        ("read", "delivered"),
        ("delivered", "sent"),
        ("sent", "sent"),
        ("sent", "queued"),
        ("delivered", "failed"),
        ("read", "failed"),
        ("failed", "failed"),
        ("failed", "sent"),
        ("failed", "queued"),
    ],
)
def test_late_or_repeated_receipts_never_move_the_status_backwards(current, late):
    message = outbound(current)
    changed_at = timezone.now() - timedelta(hours=1)
    Message.objects.filter(pk=message.pk).update(status_changed_at=changed_at)

    assert not record_delivery(message_id=message.pk, status=late, reason="late")

    message.refresh_from_db()
    assert (message.delivery_status, message.status_changed_at) == (current, changed_at)
    assert message.failure_reason == ""


@pytest.mark.parametrize("current", ["queued", "sent"])
def test_failure_before_delivery_is_recorded_with_its_reason(current):
    message = outbound(current)

    assert record_delivery(message_id=message.pk, status="failed", reason="number unreachable")

    message.refresh_from_db()
    assert message.delivery_status == DeliveryStatus.FAILED
    assert message.failure_reason == "number unreachable"


@pytest.mark.parametrize("confirmed", ["delivered", "read"])
def test_delivery_confirmed_after_a_failure_report_wins(confirmed):
    message = outbound(DeliveryStatus.FAILED)

    assert record_delivery(message_id=message.pk, status=confirmed)

    message.refresh_from_db()
    assert message.delivery_status == confirmed


def test_unknown_status_and_messages_that_are_not_outbound_are_ignored():
    inbound = MessageFactory()
    message = outbound()

    assert not record_delivery(message_id=inbound.pk, status="delivered")
    assert not record_delivery(message_id=message.pk, status="bounced")
    assert not record_delivery(message_id=10**9, status="delivered")
    assert delivery_status_of(inbound) == DeliveryStatus.RECEIVED
    assert delivery_status_of(message) == DeliveryStatus.QUEUED


# --- customer merge ---------------------------------------------------------------------


def test_merging_customers_moves_the_sources_tickets_to_the_target():
    source, target = CustomerFactory(), CustomerFactory()
    moved = TicketFactory.create_batch(2, customer=source)
    kept = TicketFactory(customer=target)

    merge_customers(source_id=source.pk, target_id=target.pk, actor="agent", reason="same")

    assert set(target.tickets.values_list("pk", flat=True)) == {kept.pk, *(t.pk for t in moved)}
    assert not source.tickets.exists()
