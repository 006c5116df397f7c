"""The routing queue: which tickets wait for an agent, in which team, in what order.

A ticket **needs routing** while it is new or open, unassigned and not merged. Its queue
entry is written in the transaction of the ticket change that made it so (the
``ticket_changed`` receiver in ``tickets.routing.triggers``) and removed in the one that
ends it; ``reconcile_queue`` (the periodic sweep) repairs whatever a crash or a bulk
update left behind.

**Which team** a ticket without one joins, first match wins:

1. a store ticket joins its store's own team (``Team.store``; the lowest id if several);
2. the most specific ``DefaultTeamRule`` for the ticket's channel and language
   (channel and language, then channel only, then language only, then the catch-all);
3. otherwise the general queue (no team), served by every routable agent.

**Store first**: a store ticket is offered only to the staff of that store (home store,
or member of a team of that store) for ``store_first_minutes`` (team policy, else the
``ROUTING_STORE_FIRST_MINUTES`` setting); after that the rest of its team may take it,
and ``overflow_store_tickets`` moves tickets still waiting in a store team to the
policy's overflow team (the contact centre; else the team the default rules give).

**Order** inside a team: priority, then customer value tier, then waiting time (since
the ticket opened, or since the customer's unanswered message once it had an answer).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from customers.models import TIER_RANK, Customer, ValueTier
from omniservice.config_cache import snapshot
from omniservice.org.models import Team
from tickets.models import (
    PRIORITY_RANK,
    DecisionKind,
    DefaultTeamRule,
    QueueEntry,
    RoutingDecision,
    RoutingPolicy,
    Ticket,
    TicketStatus,
)
from tickets.routing.rules import ticket_kind

ROUTABLE_STATUSES = frozenset({TicketStatus.NEW, TicketStatus.OPEN})
# Reasons a ticket joined a team (rendered by tickets.routing.selectors).
STORE_TEAM = "store_team"
DEFAULT_RULE = "default_rule"
GENERAL_QUEUE = "general_queue"
TEAM_SET = "team_set"


def needs_routing(ticket: Ticket) -> bool:
    return (
        ticket.status in ROUTABLE_STATUSES
        and ticket.assignee_id is None
        and ticket.merged_into_id is None
    )


def routable_tickets() -> Q:
    return Q(status__in=ROUTABLE_STATUSES, assignee__isnull=True, merged_into__isnull=True)


DEFAULT_TEAM_RULES = "routing-default-teams"


def _load_default_team_rules() -> dict[tuple[str, str], Team]:
    return {
        (rule.channel, rule.language): rule.team
        for rule in DefaultTeamRule.objects.select_related("team")
    }


# Read on every new ticket; rebuilt when a rule or a team changes (tickets.routing.triggers).
default_team_rules = snapshot(DEFAULT_TEAM_RULES, _load_default_team_rules)


class TeamResolver:
    """Team resolution with its lookups cached, for one ticket or a sweep of thousands."""

    def __init__(self) -> None:
        self._store_teams: dict[int, Team | None] = {}
        self._rules: dict[tuple[str, str], Team] | None = None

    def store_team(self, store_id: int) -> Team | None:
        if store_id not in self._store_teams:
            self._store_teams[store_id] = (
                Team.objects.filter(store_id=store_id).order_by("pk").first()
            )
        return self._store_teams[store_id]

    def default_team(self, channel: str, language: str) -> Team | None:
        if self._rules is None:
            self._rules = default_team_rules.get()
        for key in ((channel, language), (channel, ""), ("", language), ("", "")):
            if key in self._rules:
                return self._rules[key]
        return None

    def resolve(
        self, *, store_id: int | None, channel: str, language: str
    ) -> tuple[Team | None, str]:
        if store_id is not None:
            team = self.store_team(store_id)
            if team is not None:
                return team, STORE_TEAM
        team = self.default_team(channel, language)
        if team is not None:
            return team, DEFAULT_RULE
        return None, GENERAL_QUEUE


def store_first_minutes(team_id: int | None) -> int:
    if team_id is not None:
        minutes = (
            RoutingPolicy.objects.filter(team_id=team_id)
            .values_list("store_first_minutes", flat=True)
            .first()
        )
        if minutes is not None:
            return minutes
    return settings.ROUTING_STORE_FIRST_MINUTES


def waiting_since(ticket: Ticket, now: datetime) -> datetime:
    if ticket.first_response_at is None:
        return ticket.created_at or now
    return ticket.last_customer_message_at or now


def _entry_values(
    ticket: Ticket, *, tier: str, skill_ids: Iterable[int], since: datetime, minutes: int
) -> dict:
    return {
        "team_id": ticket.team_id,
        "store_id": ticket.store_id,
        "kind": ticket_kind(ticket.last_channel, ticket.origin_channel),
        "language": ticket.language,
        "skill_ids": sorted(skill_ids),
        "tier": tier,
        "priority_rank": PRIORITY_RANK.get(ticket.priority, 1),
        "tier_rank": TIER_RANK.get(tier, 0),
        "waiting_since": since,
        "store_only_until": since + timedelta(minutes=minutes)
        if ticket.store_id is not None and minutes > 0
        else None,
    }


def sync_ticket(ticket: Ticket, *, resolver: TeamResolver | None = None) -> tuple[bool, list[str]]:
    """Make the queue agree with ``ticket``, inside the caller's transaction.

    Returns whether the ticket waits for an agent, and the ticket fields this set (a
    language from the customer, a team from the resolution rules), which the caller
    publishes.
    """
    if not needs_routing(ticket):
        QueueEntry.objects.filter(ticket_id=ticket.pk).delete()
        return False, []
    now = timezone.now()
    customer = (  # the caller's copy when it has one (locked by the inbound message)
        ticket.customer
        if Ticket.customer.is_cached(ticket)
        else Customer.objects.only("tier", "language").get(pk=ticket.customer_id)
    )
    changed: list[str] = []
    if not ticket.language:
        ticket.language = customer.language
        changed.append("language")
    decision = None
    if ticket.team_id is None:
        team, reason = (resolver or TeamResolver()).resolve(
            store_id=ticket.store_id,
            channel=ticket.last_channel or ticket.origin_channel,
            language=ticket.language,
        )
        if team is not None:
            ticket.team = team
            changed.append("team")
        decision = RoutingDecision(
            ticket=ticket, kind=DecisionKind.QUEUED, reason=reason, team=team
        )
    if changed:
        Ticket.objects.filter(pk=ticket.pk).update(
            **{name: getattr(ticket, name) for name in changed}
        )
    entry = QueueEntry.objects.filter(ticket_id=ticket.pk).first()
    since = entry.waiting_since if entry else waiting_since(ticket, now)
    values = _entry_values(
        ticket,
        tier=customer.tier,
        skill_ids=ticket.required_skills.values_list("pk", flat=True),
        since=since,
        minutes=store_first_minutes(ticket.team_id) if ticket.store_id else 0,
    )
    if entry is None:
        QueueEntry.objects.create(ticket=ticket, **values)
        if decision is None:
            decision = RoutingDecision(
                ticket=ticket, kind=DecisionKind.QUEUED, reason=TEAM_SET, team_id=ticket.team_id
            )
        decision.save()
    else:
        if entry.store_id == ticket.store_id:  # the store-first window runs once
            values["store_only_until"] = entry.store_only_until
        for name, value in values.items():
            setattr(entry, name, value)
        entry.retry_at = None
        entry.save()
    return True, changed


def reconcile_queue(*, chunk: int = 2000) -> dict[str, int]:
    """Sweep: drop entries of tickets that no longer wait, add the missing ones, follow
    tier changes. Returns counts. Tickets it gives a team or language get no live event
    (they were not in anyone's team view either)."""
    removed, _detail = QueueEntry.objects.exclude(
        ticket__status__in=ROUTABLE_STATUSES,
        ticket__assignee__isnull=True,
        ticket__merged_into__isnull=True,
    ).delete()
    added = 0
    resolver = TeamResolver()
    now = timezone.now()
    minutes_of: dict[int | None, int] = {}
    while True:
        tickets = list(
            Ticket.objects.filter(routable_tickets(), queue_entry__isnull=True).order_by("pk")[
                :chunk
            ]
        )
        if not tickets:
            break
        customers = {
            pk: (tier, language)
            for pk, tier, language in Customer.objects.filter(
                pk__in={t.customer_id for t in tickets}
            ).values_list("pk", "tier", "language")
        }
        skills: dict[int, list[int]] = {}
        through = Ticket.required_skills.through
        for ticket_id, skill_id in through.objects.filter(
            ticket_id__in=[t.pk for t in tickets]
        ).values_list("ticket_id", "skill_id"):
            skills.setdefault(ticket_id, []).append(skill_id)
        touched, entries, decisions = [], [], []
        for ticket in tickets:
            fixed = False
            if not ticket.language:
                ticket.language = customers.get(ticket.customer_id, ("", ""))[1]
                fixed = True
            if ticket.team_id is None:
                team, reason = resolver.resolve(
                    store_id=ticket.store_id,
                    channel=ticket.last_channel or ticket.origin_channel,
                    language=ticket.language,
                )
                ticket.team, fixed = team, fixed or team is not None
                decisions.append(
                    RoutingDecision(
                        ticket=ticket, kind=DecisionKind.QUEUED, reason=reason, team=team
                    )
                )
            if fixed:
                touched.append(ticket)
            if ticket.store_id is not None and ticket.team_id not in minutes_of:
                minutes_of[ticket.team_id] = store_first_minutes(ticket.team_id)
            tier = customers.get(ticket.customer_id, (ValueTier.STANDARD, ""))[0]
            entries.append(
                QueueEntry(
                    ticket=ticket,
                    **_entry_values(
                        ticket,
                        tier=tier,
                        skill_ids=skills.get(ticket.pk, ()),
                        since=waiting_since(ticket, now),
                        minutes=minutes_of.get(ticket.team_id, 0) if ticket.store_id else 0,
                    ),
                )
            )
        if touched:
            Ticket.objects.bulk_update(touched, ["language", "team"])
        QueueEntry.objects.bulk_create(entries, ignore_conflicts=True)
        RoutingDecision.objects.bulk_create(decisions)
        added += len(entries)
    retiered = 0
    for entry in QueueEntry.objects.exclude(tier=F("ticket__customer__tier")).select_related(
        "ticket__customer"
    )[:chunk]:
        entry.tier = entry.ticket.customer.tier
        entry.tier_rank = TIER_RANK.get(entry.tier, 0)
        entry.save(update_fields=["tier", "tier_rank"])
        retiered += 1
    return {"removed": removed, "added": added, "retiered": retiered}


def reopen_for(
    *, team_ids: Iterable[int] = (), store_ids: Iterable[int] = (), general: bool = False
) -> int:
    """Make backed-off entries of these queues ready again (an agent came online or freed
    capacity); returns how many."""
    condition = Q(team_id__in=list(team_ids)) | Q(store_id__in=list(store_ids))
    if general:
        condition |= Q(team__isnull=True)
    return QueueEntry.objects.filter(condition, retry_at__isnull=False).update(retry_at=None)
