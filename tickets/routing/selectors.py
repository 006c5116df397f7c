"""Routing's read side for the console: a ticket's decisions in the reader's language, its
place in the queue, and the people and teams a ticket can be transferred to."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Case, Q, Value, When
from django.utils.translation import gettext_lazy as _

from omniservice.org.models import Presence, StaffProfile, Team
from tickets.models import DecisionKind, QueueEntry, RoutingDecision, Ticket
from tickets.routing import queue, rules

DECISIONS_SHOWN = 20
TRANSFER_OPTIONS = 300

# Reason codes (rules, queue, engine, services) -> what the console says.
REASONS: dict[str, Any] = {
    queue.STORE_TEAM: _("store ticket: joined its store's team"),
    queue.DEFAULT_RULE: _("joined the team of the default rule for its channel and language"),
    queue.GENERAL_QUEUE: _("no team rule matched: general queue"),
    queue.TEAM_SET: _("waiting in its team's queue"),
    "least_loaded": _("least loaded (ties: longest idle)"),
    "round_robin": _("round robin: next in rotation"),
    "store_staff": _("store staff first"),
    "only_candidate": _("the only eligible agent with room"),
    "all_full": _("every eligible agent is at capacity"),
    "no_eligible": _("no eligible agent"),
    "agent_offline": _("the agent went offline with the chat unanswered"),
    "store_wait_over": _("the store's staff did not take it in time"),
    "assigned": _("assigned by hand"),
    "unassigned": _("unassigned by hand"),
    "to_agent": _("to an agent"),
    "to_team": _("to a team"),
}
RULED_OUT: dict[str, Any] = {
    rules.NOT_ROUTABLE: _("not an agent"),
    rules.AWAY: _("away"),
    rules.OFFLINE: _("offline"),
    rules.NO_CHANNEL: _("does not work this channel"),
    rules.NO_LANGUAGE: _("does not speak the language"),
    rules.NO_SKILLS: _("lacks a required skill"),
    rules.RESERVED: _("tier reserved for senior agents"),
    rules.STORE_FIRST: _("store staff first"),
    rules.FULL: _("at capacity"),
    rules.BUSY: _("busy with another batch"),
}


@dataclass
class DecisionView:
    created_at: datetime
    kind: str
    kind_label: str
    reason: str
    team: str
    assignee: str
    actor: str
    note: str
    candidates: list[dict] = field(default_factory=list)
    ruled_out: list[tuple[str, int, str]] = field(default_factory=list)


@dataclass
class RoutingPanel:
    decisions: list[DecisionView]
    queued: QueueEntry | None
    position: int | None


def _name(profile_names: dict[int, str], user_id: int | None) -> str:
    return profile_names.get(user_id, "") if user_id else ""


def routing_panel(ticket: Ticket, *, limit: int = DECISIONS_SHOWN) -> RoutingPanel:
    """The latest decisions about ``ticket`` (newest first) and its place in the queue."""
    decisions = list(
        RoutingDecision.objects.filter(ticket=ticket).order_by("-created_at", "-pk")[:limit]
    )
    user_ids = {d.assignee_id for d in decisions} | {d.actor_id for d in decisions}
    user_ids.discard(None)
    names = {
        user.pk: (getattr(user, "staff_profile", None) and user.staff_profile.display_name)
        or user.get_username()
        for user in get_user_model().objects.filter(pk__in=user_ids).select_related("staff_profile")
    }
    teams = dict(
        Team.objects.filter(pk__in={d.team_id for d in decisions if d.team_id}).values_list(
            "pk", "name"
        )
    )
    labels = dict(DecisionKind.choices)
    views = []
    for decision in decisions:
        details = decision.details or {}
        examples = details.get("examples") or {}
        views.append(
            DecisionView(
                created_at=decision.created_at,
                kind=decision.kind,
                kind_label=str(labels.get(decision.kind, decision.kind)),
                reason=str(REASONS.get(decision.reason, decision.reason)),
                team=teams.get(decision.team_id, ""),
                assignee=_name(names, decision.assignee_id),
                actor=_name(names, decision.actor_id),
                note=decision.note,
                candidates=list(details.get("candidates") or []),
                ruled_out=[
                    (str(RULED_OUT.get(code, code)), count, ", ".join(examples.get(code, [])))
                    for code, count in sorted((details.get("ruled_out") or {}).items())
                ],
            )
        )
    entry = QueueEntry.objects.filter(pk=ticket.pk).first()
    position = None
    if entry is not None:
        scope = Q(team__isnull=True) if entry.team_id is None else Q(team_id=entry.team_id)
        ahead = (
            Q(priority_rank__gt=entry.priority_rank)
            | Q(priority_rank=entry.priority_rank, tier_rank__gt=entry.tier_rank)
            | Q(
                priority_rank=entry.priority_rank,
                tier_rank=entry.tier_rank,
                waiting_since__lt=entry.waiting_since,
            )
        )
        position = QueueEntry.objects.filter(scope, ahead).count() + 1
    return RoutingPanel(decisions=views, queued=entry, position=position)


def transfer_targets() -> list[tuple[int, str]]:
    """Routable staff a ticket may be transferred to, online first, with their presence."""
    presence = dict(Presence.choices)
    rank = Case(
        When(presence=Presence.ONLINE, then=Value(0)),
        When(presence=Presence.AWAY, then=Value(1)),
        default=Value(2),
    )
    profiles = (
        StaffProfile.objects.filter(role__in=rules.ROUTABLE_ROLES, user__is_active=True)
        .select_related("user")
        .annotate(rank=rank)
        .order_by("rank", "display_name", "user__username")[:TRANSFER_OPTIONS]
    )
    return [
        (p.user_id, f"{p.display_name or p.user.get_username()} · {presence.get(p.presence, '')}")
        for p in profiles
    ]
