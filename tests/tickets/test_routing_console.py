"""Routing on the console's ticket page: the decision log (escaped, in both languages),
the queue position, and transfer to an agent or team with a note."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from omniservice.org.models import Role
from tests.factories import RoutableAgentFactory, StaffProfileFactory, TeamFactory
from tests.tickets.routing_helpers import assignee_of, queued_ticket, route
from tickets.models import DecisionKind, Message, RoutingDecision, Ticket

pytestmark = pytest.mark.django_db

XSS = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


@pytest.fixture(scope="module")
def catalogue():
    """The zh-hans catalogue compiled (``make messages`` does it for a run), reloaded."""
    from django.utils.translation import trans_real

    call_command("compilemessages", ignore=[".venv/*"], verbosity=0)
    trans_real._translations = {}
    trans_real._default = None


@pytest.fixture
def team():
    return TeamFactory(slug="care", name="Care")


def client_for(profile) -> Client:
    client = Client()
    client.force_login(profile.user)
    return client


def page(client: Client, ticket: Ticket, language: str = "en") -> str:
    response = client.get(
        reverse("console:ticket", args=[ticket.pk]), headers={"accept-language": language}
    )
    assert response.status_code == 200
    return response.content.decode()


def test_the_ticket_page_shows_why_routing_chose_the_agent(team):
    chosen = RoutableAgentFactory(teams=[team], display_name="Li Wei")
    RoutableAgentFactory(teams=[team], display_name="Zoe Off", presence="offline")
    ticket = queued_ticket(team=team)
    route(team)

    html = page(client_for(chosen), ticket)

    assert 'id="routing-panel"' in html
    assert "Assigned by routing" in html
    assert "the only eligible agent with room" in html
    assert "1 ruled out: offline" in html and "(Zoe Off)" in html
    assert "Li Wei 0/5" in html  # the candidate with their load before and capacity


def test_the_routing_panel_is_translated(team, catalogue):
    agent = RoutableAgentFactory(teams=[team])
    ticket = queued_ticket(team=team)

    html = page(client_for(agent), ticket, "zh-hans")

    assert "分配记录" in html and "在团队队列中等待" in html
    assert "排队中：第 1 位" in html


def test_the_queue_position_counts_the_tickets_ahead(team):
    agent = RoutableAgentFactory(teams=[team], presence="offline")
    queued_ticket(team=team, priority="urgent")
    queued_ticket(team=team)
    ticket = queued_ticket(team=team)

    assert "In queue: #3" in page(client_for(agent), ticket)


def test_names_and_notes_in_the_log_are_escaped(team):
    agent = RoutableAgentFactory(teams=[team], display_name=XSS)
    ticket = queued_ticket(team=team, assignee=agent.user, status="open")
    RoutingDecision.objects.create(
        ticket=ticket,
        kind=DecisionKind.TRANSFERRED,
        reason=XSS,
        actor=agent.user,
        assignee=agent.user,
        note=XSS,
        details={"candidates": [{"name": XSS, "load": 0, "capacity": 1, "chosen": True}]},
    )

    html = page(client_for(agent), ticket)

    assert XSS not in html
    assert html.count(ESCAPED) >= 4


def test_transfer_to_another_team_with_a_note_from_the_console(team):
    holder = RoutableAgentFactory(teams=[team])
    vip = TeamFactory(slug="vip", name="VIP desk")
    ticket = queued_ticket(team=team, assignee=holder.user, status="open")

    response = client_for(holder).post(
        reverse("console:transfer", args=[ticket.pk]),
        {"assignee": "", "team": vip.pk, "note": "Gold customer, refund"},
        headers={"accept": "application/json"},
    )

    assert response.status_code == 200 and response.json()["ok"] is True
    ticket.refresh_from_db()
    assert (ticket.team_id, ticket.assignee_id) == (vip.pk, None)
    decision = RoutingDecision.objects.get(ticket=ticket, kind=DecisionKind.TRANSFERRED)
    assert decision.note == "Gold customer, refund"
    assert Message.objects.filter(ticket=ticket, direction="note").count() == 1


def test_transfer_to_an_agent_of_another_team_keeps_the_team(team):
    holder = RoutableAgentFactory(teams=[team])
    expert = RoutableAgentFactory(teams=[TeamFactory(slug="experts")], display_name="Expert")
    ticket = queued_ticket(team=team, assignee=holder.user, status="open")
    client = client_for(holder)

    assert "Expert · " in page(client, ticket)  # offered, with their presence
    response = client.post(
        reverse("console:transfer", args=[ticket.pk]), {"assignee": expert.user_id, "note": ""}
    )

    assert response.status_code == 302
    assert assignee_of(ticket) == expert.user_id
    assert Ticket.objects.get(pk=ticket.pk).team_id == team.pk


def test_a_transfer_without_target_is_refused(team):
    holder = RoutableAgentFactory(teams=[team])
    ticket = queued_ticket(team=team, assignee=holder.user, status="open")

    response = client_for(holder).post(
        reverse("console:transfer", args=[ticket.pk]),
        {"assignee": "", "team": "", "note": "x"},
        headers={"accept": "application/json"},
    )

    assert response.status_code == 400
    assert assignee_of(ticket) == holder.user_id


def test_someone_who_cannot_see_the_ticket_cannot_transfer_it(team):
    ticket = queued_ticket(team=team)
    outsider = StaffProfileFactory(role=Role.AGENT, teams=[TeamFactory(slug="other")])

    response = client_for(outsider).post(
        reverse("console:transfer", args=[ticket.pk]), {"team": team.pk}
    )

    assert response.status_code == 404
    assert not RoutingDecision.objects.filter(ticket=ticket, kind="transferred").exists()


@pytest.mark.parametrize(
    "page_name",
    [
        "admin:tickets_routingpolicy_changelist",
        "admin:tickets_routingpolicy_add",
        "admin:tickets_defaultteamrule_changelist",
        "admin:tickets_queueentry_changelist",
        "admin:tickets_routingdecision_changelist",
    ],
)
def test_routing_is_configured_and_inspected_in_the_admin(admin_client, team, page_name):
    ticket = queued_ticket(team=team)
    RoutingDecision.objects.create(ticket=ticket, kind="waiting", reason=XSS)

    response = admin_client.get(reverse(page_name))

    assert response.status_code == 200
    assert XSS.encode() not in response.content


def test_the_panel_is_served_alone_for_live_refresh(team):
    agent = RoutableAgentFactory(teams=[team])
    ticket = queued_ticket(team=team)
    outsider = StaffProfileFactory(role=Role.AGENT, teams=[TeamFactory(slug="elsewhere")])
    url = reverse("console:routing-panel", args=[ticket.pk])

    response = client_for(agent).get(url)

    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="routing-panel"' in html and "csrfmiddlewaretoken" in html
    assert client_for(outsider).get(url).status_code == 404
