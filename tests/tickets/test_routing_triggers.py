"""When routing runs: a ticket needing an assignee, an agent coming online or freeing
capacity, an agent going offline, the periodic sweep; and assignment by hand."""

from __future__ import annotations

from datetime import timedelta

import pytest
from celery.exceptions import Retry
from django.conf import settings
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from customers.identity import IdentityClaim
from customers.models import IdentityKind
from omniservice import outages
from omniservice.errors import DomainError
from omniservice.org.services import set_presence
from tests.factories import (
    IdentityFactory,
    RoutableAgentFactory,
    TeamFactory,
    TicketFactory,
    UserFactory,
)
from tests.tickets.routing_helpers import assignee_of, is_queued, queued_ticket
from tickets import services
from tickets.models import (
    Channel,
    DecisionKind,
    DefaultTeamRule,
    Message,
    QueueEntry,
    RoutingDecision,
    Ticket,
)
from tickets.routing import triggers
from tickets.routing.services import requeue_unanswered_chats, transfer_ticket

pytestmark = pytest.mark.django_db


@pytest.fixture
def team():
    team = TeamFactory(slug="care")
    DefaultTeamRule.objects.create(team=team)
    return team


def inbound(external_id: str, phone: str = "+8613800000001", channel: str = Channel.WEB_CHAT):
    return services.thread_inbound_message(
        channel=channel,
        external_id=external_id,
        identities=[IdentityClaim(IdentityKind.PHONE, phone)],
        text="你好, 我的订单",
    )


def test_a_new_ticket_is_queued_in_its_transaction_and_assigned_on_commit(
    team, django_capture_on_commit_callbacks
):
    agent = RoutableAgentFactory(teams=[team])

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        result = inbound("m-1")
        assert is_queued(result.ticket)  # in the same transaction, before any task
        assert Ticket.objects.get(pk=result.ticket.pk).team_id == team.pk
    for callback in callbacks:
        callback()

    assert assignee_of(result.ticket) == agent.user_id
    assert not is_queued(result.ticket)
    kinds = list(
        RoutingDecision.objects.filter(ticket=result.ticket)
        .order_by("pk")
        .values_list("kind", flat=True)
    )
    assert kinds == [DecisionKind.QUEUED, DecisionKind.ASSIGNED]


def test_unassigning_a_ticket_puts_it_back_in_the_queue(team, django_capture_on_commit_callbacks):
    agent = RoutableAgentFactory(teams=[team], presence="offline")
    ticket = TicketFactory(team=team, assignee=agent.user, status="open")
    manager = UserFactory()

    with django_capture_on_commit_callbacks(execute=True):
        services.assign(ticket=ticket, actor=manager, assignee=None)

    assert is_queued(ticket)
    manual = RoutingDecision.objects.get(ticket=ticket, kind=DecisionKind.MANUAL)
    assert manual.reason == "unassigned"


def test_an_agent_coming_online_gets_the_waiting_work(team, django_capture_on_commit_callbacks):
    agent = RoutableAgentFactory(teams=[team], presence="offline")
    with django_capture_on_commit_callbacks(execute=True):
        ticket = inbound("m-2").ticket
    assert assignee_of(ticket) is None
    assert QueueEntry.objects.get(pk=ticket.pk).retry_at is not None  # backed off

    with django_capture_on_commit_callbacks(execute=True):
        set_presence(profile=agent, presence="online")

    assert assignee_of(ticket) == agent.user_id


def test_solving_a_ticket_frees_capacity_for_the_next_one(team, django_capture_on_commit_callbacks):
    agent = RoutableAgentFactory(teams=[team], capacity={"chat": 1})
    with django_capture_on_commit_callbacks(execute=True):
        first = inbound("m-3", phone="+8613800000003").ticket
        second = inbound("m-4", phone="+8613800000004").ticket
    assert assignee_of(first) == agent.user_id
    assert assignee_of(second) is None

    with django_capture_on_commit_callbacks(execute=True):
        services.change_status(
            ticket=Ticket.objects.get(pk=first.pk), status="solved", actor=agent.user
        )

    assert assignee_of(second) == agent.user_id


def test_an_unassigned_ticket_changing_status_leaves_backed_off_work_alone(
    team, monkeypatch, django_capture_on_commit_callbacks
):
    """Nobody's capacity was freed: reopening the queue would re-scan every waiting
    ticket on each such change (a burst of missed calls opens hundreds a minute)."""
    RoutableAgentFactory(teams=[team], presence="offline")
    with django_capture_on_commit_callbacks(execute=True):
        other = inbound("m-other", phone="+8613800000006").ticket
    reopened = []
    monkeypatch.setattr(triggers.queue, "reopen_for", lambda **kwargs: reopened.append(kwargs))

    with django_capture_on_commit_callbacks(execute=True):
        services.change_status(ticket=Ticket.objects.get(pk=other.pk), status="open", actor=None)
    assert reopened == []

    assigned = TicketFactory(team=team, assignee=UserFactory(), status="open")
    with django_capture_on_commit_callbacks(execute=True):
        services.change_status(ticket=assigned, status="pending", actor=None)
    assert reopened == [{"team_ids": [team.pk], "general": True}]  # its agent may have room


def test_an_agent_going_offline_has_unanswered_chats_requeued(
    team, django_capture_on_commit_callbacks
):
    leaving = RoutableAgentFactory(teams=[team])
    unanswered = queued_ticket(team=team, assignee=leaving.user, status="open")
    answered = queued_ticket(team=team, assignee=leaving.user, status="open")
    email = queued_ticket(team=team, assignee=leaving.user, status="open", origin_channel="email")
    now = timezone.now()
    Ticket.objects.filter(pk=unanswered.pk).update(
        last_agent_message_at=now - timedelta(minutes=5), last_customer_message_at=now
    )
    Ticket.objects.filter(pk=answered.pk).update(
        last_customer_message_at=now - timedelta(minutes=5), last_agent_message_at=now
    )
    colleague = RoutableAgentFactory(teams=[team])

    with django_capture_on_commit_callbacks(execute=True):
        set_presence(profile=leaving, presence="offline")

    assert assignee_of(unanswered) == colleague.user_id  # re-queued, then routed
    assert assignee_of(answered) == leaving.user_id
    assert assignee_of(email) == leaving.user_id  # only chats wait on a live agent
    requeued = RoutingDecision.objects.get(ticket=unanswered, kind=DecisionKind.REQUEUED)
    assert (requeued.reason, requeued.assignee_id) == ("agent_offline", leaving.user_id)


def test_requeue_does_nothing_for_an_agent_who_is_online_again(team):
    agent = RoutableAgentFactory(teams=[team])
    ticket = queued_ticket(team=team, assignee=agent.user, status="open")

    assert requeue_unanswered_chats(user_id=agent.user_id) == 0
    assert assignee_of(ticket) == agent.user_id


def test_the_periodic_sweep_is_scheduled_and_repairs_then_routes(team):
    entry = settings.CELERY_BEAT_SCHEDULE["routing-sweep"]
    assert entry["task"] == "tickets.routing.triggers.sweep_routing_queue"
    agent = RoutableAgentFactory(teams=[team])
    lost = TicketFactory(team=team)  # written without the receiver: no queue entry
    assert not is_queued(lost)

    counts = triggers.sweep_routing_queue.delay().get()

    assert counts["added"] == 1 and counts["assigned"] == 1
    assert assignee_of(lost) == agent.user_id


def test_the_sweep_routes_backed_off_tickets_once_their_retry_is_due(team):
    agent = RoutableAgentFactory(teams=[team], presence="offline")
    ticket = queued_ticket(team=team)
    triggers.sweep_routing_queue()
    assert assignee_of(ticket) is None
    agent.presence = "online"
    agent.save(update_fields=["presence"])  # no signal: only the sweep can notice
    QueueEntry.objects.filter(pk=ticket.pk).update(retry_at=timezone.now() - timedelta(seconds=1))

    triggers.sweep_routing_queue()

    assert assignee_of(ticket) == agent.user_id


# --- by hand ------------------------------------------------------------------------------


def test_transfer_to_another_team_with_a_note_is_logged_and_requeued(
    team, django_capture_on_commit_callbacks
):
    holder = RoutableAgentFactory(teams=[team])
    other = TeamFactory(slug="vip-desk")
    receiver = RoutableAgentFactory(teams=[other])
    ticket = queued_ticket(team=team, assignee=holder.user, status="open")

    with django_capture_on_commit_callbacks(execute=True):
        transfer_ticket(
            ticket=ticket, actor=holder.user, assignee=None, team=other, note="VIP <b>refund</b>"
        )

    decision = RoutingDecision.objects.get(ticket=ticket, kind=DecisionKind.TRANSFERRED)
    assert (decision.team_id, decision.actor_id) == (other.pk, holder.user_id)
    assert decision.note == "VIP <b>refund</b>"
    assert decision.details["from_team"] == team.pk
    assert Message.objects.filter(
        ticket=ticket, direction="note", body_text__contains="VIP"
    ).exists()
    assert assignee_of(ticket) == receiver.user_id  # back in the new team's queue, routed
    assert not RoutingDecision.objects.filter(ticket=ticket, kind=DecisionKind.MANUAL).exists()


def test_transfer_to_an_agent_records_their_load_even_past_capacity(team):
    holder = RoutableAgentFactory(teams=[team])
    busy = RoutableAgentFactory(teams=[team], capacity={"chat": 1})
    queued_ticket(team=team, assignee=busy.user, status="open")
    ticket = queued_ticket(team=team, assignee=holder.user, status="open")

    transfer_ticket(ticket=ticket, actor=holder.user, assignee=busy.user, note="knows the case")

    assert assignee_of(ticket) == busy.user_id
    decision = RoutingDecision.objects.get(ticket=ticket, kind=DecisionKind.TRANSFERRED)
    assert (decision.details["load"], decision.details["capacity"]) == (1, 1)


def test_a_transfer_needs_a_target_and_a_short_note(team):
    holder = RoutableAgentFactory(teams=[team])
    ticket = queued_ticket(team=team, assignee=holder.user, status="open")

    with pytest.raises(DomainError) as missing:
        transfer_ticket(ticket=ticket, actor=holder.user, note="?")
    with pytest.raises(DomainError) as too_long:
        transfer_ticket(ticket=ticket, actor=holder.user, team=team, note="x" * 2001)

    assert missing.value.code == "transfer_target_missing"
    assert too_long.value.code == "note_too_long"
    assert not RoutingDecision.objects.filter(
        ticket=ticket, kind__in=["manual", "transferred"]
    ).exists()


def test_a_routing_task_retries_a_transient_database_error(team, monkeypatch):
    from django.db import OperationalError

    from tickets.routing import engine

    agent = RoutableAgentFactory(teams=[team])
    ticket = queued_ticket(team=team)
    real, calls = engine.route_waiting_tickets, []

    def flaky(**kwargs):
        calls.append(kwargs)
        if len(calls) == 1:
            raise OperationalError("deadlock detected")
        return real(**kwargs)

    monkeypatch.setattr(engine, "route_waiting_tickets", flaky)
    task = triggers.route_waiting_tickets
    assert task.acks_late and task.retry_jitter
    assert OperationalError in task.autoretry_for

    with pytest.raises(Retry):  # scheduled again with backoff, not failed
        task.delay(team_keys=[team.pk])
    assert assignee_of(ticket) is None

    task.delay(team_keys=[team.pk])  # the retry, as a worker runs it after the backoff

    assert len(calls) == 2
    assert assignee_of(ticket) == agent.user_id


def test_changes_while_a_run_waits_for_a_worker_ride_on_it(
    team, monkeypatch, django_capture_on_commit_callbacks
):
    queued: list[dict] = []
    monkeypatch.setattr(
        triggers.route_waiting_tickets,
        "apply_async",
        lambda args=None, kwargs=None, **options: queued.append(kwargs),
    )

    for _ in range(3):  # three new tickets of the team before any worker picks the run up
        with django_capture_on_commit_callbacks(execute=True):
            queued_ticket_changed(team)

    assert [kw["team_keys"] for kw in queued] == [[team.pk]]
    agent = RoutableAgentFactory(teams=[team])
    triggers.route_waiting_tickets.apply(kwargs=queued[0])  # the worker starts the run

    assert Ticket.objects.filter(team=team, assignee_id=agent.user_id).count() == 3
    with django_capture_on_commit_callbacks(execute=True):
        queued_ticket_changed(team)  # after the start: it needs a run of its own
    assert len(queued) == 2


def test_a_change_commits_while_the_broker_is_down_and_the_next_one_tries_again(
    team, monkeypatch, django_capture_on_commit_callbacks, caplog
):
    """The routing sweep repairs what was not queued; the marker must not hold up the
    next change's run for a minute."""
    attempts: list[dict] = []

    def broker_down(args=None, kwargs=None, **options):
        attempts.append(kwargs)
        raise BrokerError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(outages, "_last_logged", {})
    monkeypatch.setattr(triggers.route_waiting_tickets, "apply_async", broker_down)
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            queued_ticket_changed(team)

    assert [kw["team_keys"] for kw in attempts] == [[team.pk], [team.pk]]
    assert "route_waiting_tickets not queued" in caplog.text


def queued_ticket_changed(team) -> Ticket:
    ticket = TicketFactory(team=team)
    services.publish_ticket_change(ticket, ["team"])
    return ticket


def test_a_vip_message_behind_a_thousand_waiting_tickets_is_routed_first_on_commit(
    team, django_capture_on_commit_callbacks
):
    from customers.models import Customer
    from tickets.routing import queue

    agent = RoutableAgentFactory(teams=[team], capacity={"chat": 1})
    customers = Customer.objects.bulk_create(
        Customer(name=f"c{n}", language="zh-hans") for n in range(1000)
    )
    Ticket.objects.bulk_create(
        Ticket(
            customer=c, subject="q", team=team, origin_channel="web_chat", last_channel="web_chat"
        )
        for c in customers
    )
    assert queue.reconcile_queue()["added"] == 1000  # waiting; nobody routed them yet
    IdentityFactory(customer__tier="vip", kind=IdentityKind.PHONE, value="+8613999999999")

    with django_capture_on_commit_callbacks(execute=True):
        vip = inbound("vip-1", phone="+8613999999999").ticket

    assert assignee_of(vip) == agent.user_id
    assert Ticket.objects.filter(assignee=agent.user).count() == 1
    assert QueueEntry.objects.filter(team=team).count() == 1000
