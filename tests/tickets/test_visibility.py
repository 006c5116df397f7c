"""Who sees which ticket: the queryset, the per-ticket check and the live groups agree."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.contrib.auth.models import AnonymousUser

from tests.factories import StaffProfileFactory, TicketFactory, UserFactory
from tickets.models import Ticket
from tickets.visibility import (
    GENERAL_QUEUE_GROUP,
    MANAGERS_GROUP,
    can_see,
    console_groups_for,
    ticket_groups,
    tickets_visible_to,
)

pytestmark = pytest.mark.django_db

PERSONAS = ["agent", "teammate", "outsider", "store_clerk", "manager"]


@dataclass
class Matrix:
    team_a: Ticket
    team_b: Ticket
    store_one: Ticket
    store_two: Ticket
    general: Ticket
    team_a_at_store_two: Ticket
    team_b_assigned_to_agent: Ticket
    store_two_assigned_to_clerk: Ticket
    assigned_to_outsider: Ticket

    def all(self) -> dict[str, Ticket]:
        return dict(vars(self))


@pytest.fixture
def matrix(personas) -> Matrix:
    return Matrix(
        team_a=TicketFactory(team=personas.team_a),
        team_b=TicketFactory(team=personas.team_b),
        store_one=TicketFactory(store=personas.store_one),
        store_two=TicketFactory(store=personas.store_two),
        general=TicketFactory(),
        team_a_at_store_two=TicketFactory(team=personas.team_a, store=personas.store_two),
        team_b_assigned_to_agent=TicketFactory(team=personas.team_b, assignee=personas.agent.user),
        store_two_assigned_to_clerk=TicketFactory(
            store=personas.store_two, assignee=personas.store_clerk.user
        ),
        assigned_to_outsider=TicketFactory(
            store=personas.store_one, assignee=personas.outsider.user
        ),
    )


EXPECTED = {
    "manager": set(Matrix.__dataclass_fields__),
    "agent": {"team_a", "general", "team_a_at_store_two", "team_b_assigned_to_agent"},
    "teammate": {"team_a", "general", "team_a_at_store_two"},
    "outsider": {"team_b", "general", "team_b_assigned_to_agent", "assigned_to_outsider"},
    "store_clerk": {"store_one", "store_two_assigned_to_clerk", "assigned_to_outsider"},
}


def visible_names(user, matrix: Matrix) -> set[str]:
    visible = set(tickets_visible_to(user).values_list("pk", flat=True))
    return {name for name, ticket in matrix.all().items() if ticket.pk in visible}


def live_names(user, matrix: Matrix) -> set[str]:
    joined = set(console_groups_for(user))
    return {
        name
        for name, ticket in matrix.all().items()
        if joined & (ticket_groups(ticket) - {f"ticket.{ticket.pk}"})
    }


@pytest.mark.parametrize("persona", PERSONAS)
def test_each_persona_sees_exactly_the_expected_tickets(personas, matrix, persona):
    user = getattr(personas, persona).user

    assert visible_names(user, matrix) == EXPECTED[persona]


@pytest.mark.parametrize("persona", PERSONAS)
def test_queryset_check_and_live_groups_agree_for_every_ticket(personas, matrix, persona):
    user = getattr(personas, persona).user
    visible = set(tickets_visible_to(user).values_list("pk", flat=True))
    joined = set(console_groups_for(user))

    for name, ticket in matrix.all().items():
        in_queryset = ticket.pk in visible
        by_groups = bool(joined & (ticket_groups(ticket) - {f"ticket.{ticket.pk}"}))
        assert can_see(user, ticket) == in_queryset == by_groups, name


def test_manager_sees_all_and_listens_on_the_managers_group(personas, matrix):
    user = personas.manager.user

    assert tickets_visible_to(user).count() == len(matrix.all())
    assert MANAGERS_GROUP in console_groups_for(user)
    assert all(MANAGERS_GROUP in ticket_groups(t) for t in matrix.all().values())


def test_superuser_without_profile_sees_everything(matrix):
    admin = UserFactory(is_superuser=True)

    assert visible_names(admin, matrix) == set(matrix.all())
    assert live_names(admin, matrix) == set(matrix.all())
    assert all(can_see(admin, t) for t in matrix.all().values())


@pytest.mark.parametrize(
    "make_user", [lambda: UserFactory(), AnonymousUser], ids=["no-profile", "anonymous"]
)
def test_user_without_staff_profile_sees_nothing(matrix, make_user):
    user = make_user()

    assert not tickets_visible_to(user).exists()
    assert console_groups_for(user) == []
    assert not any(can_see(user, t) for t in matrix.all().values())


def test_agent_in_no_team_sees_the_general_queue_only(matrix):
    loner = StaffProfileFactory(role="agent").user

    assert visible_names(loner, matrix) == {"general"}
    assert live_names(loner, matrix) == {"general"}


def test_general_queue_is_the_tickets_with_neither_team_nor_store(personas, matrix):
    assert GENERAL_QUEUE_GROUP in ticket_groups(matrix.general)
    for name in ("team_a", "store_one", "team_a_at_store_two"):
        assert GENERAL_QUEUE_GROUP not in ticket_groups(getattr(matrix, name)), name


def test_ticket_groups_name_the_ticket_its_team_store_and_assignee(personas, matrix):
    ticket = matrix.team_b_assigned_to_agent

    assert ticket_groups(ticket) == {
        MANAGERS_GROUP,
        f"ticket.{ticket.pk}",
        f"team.{personas.team_b.pk}",
        f"agent.{personas.agent.user.pk}",
    }


def test_visibility_follows_a_reassignment(personas, matrix):
    ticket = matrix.team_b
    agent = personas.agent.user
    assert not can_see(agent, ticket)

    Ticket.objects.filter(pk=ticket.pk).update(team=personas.team_a)
    ticket.refresh_from_db()

    assert can_see(agent, ticket)
    assert tickets_visible_to(agent).filter(pk=ticket.pk).exists()
    assert not can_see(personas.outsider.user, ticket)
