"""The pure part of routing: what a ticket costs, who may take it, who is chosen.

No database access here, so the rules can be read (and tested) one by one:

- **channel -> capacity kind**: live conversations cost a *chat* slot, asynchronous ones
  an *email* slot, calls a *phone* slot (``CHANNEL_KIND``). ``StaffProfile.capacity``
  (e.g. ``{"chat": 5, "email": 20, "phone": 1}``) limits the open tickets of each kind an
  agent holds; a kind missing or 0 means the agent does not work that channel.
- **eligibility** (``rejection``), checked in this order, the first failing rule is the
  reason an agent was left out: routable role, presence (only *online*), channel,
  language, skills, tier reserved for seniors, store-first window, free capacity.
- **strategies** (``ranking_key``): least-loaded takes the lowest share of the kind's
  capacity in use, ties to the agent idle longest; round robin takes the agent who got
  routed work least recently (a rotation), whatever their load.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from omniservice.org.models import Presence, Role
from tickets.models import CapacityKind, Channel, RoutingStrategy

CHANNEL_KIND: dict[str, str] = {
    Channel.WEB_CHAT: CapacityKind.CHAT,
    Channel.WECHAT: CapacityKind.CHAT,
    Channel.WHATSAPP: CapacityKind.CHAT,
    Channel.MESSENGER: CapacityKind.CHAT,
    Channel.INSTAGRAM: CapacityKind.CHAT,
    Channel.SMS: CapacityKind.CHAT,
    Channel.KIOSK: CapacityKind.CHAT,
    Channel.EMAIL: CapacityKind.EMAIL,
    Channel.API: CapacityKind.EMAIL,
    Channel.CONSOLE: CapacityKind.EMAIL,
    Channel.STORE: CapacityKind.EMAIL,
    Channel.PHONE: CapacityKind.PHONE,
}
ROUTABLE_ROLES = frozenset({Role.AGENT, Role.STORE_STAFF})
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Reason codes, in the order the rules are checked (rendered by tickets.routing.selectors).
NOT_ROUTABLE = "role"
AWAY = "away"
OFFLINE = "offline"
NO_CHANNEL = "channel"
NO_LANGUAGE = "language"
NO_SKILLS = "skills"
RESERVED = "reserved"
STORE_FIRST = "store_first"
FULL = "full"
BUSY = "busy"


def kind_of(channel: str) -> str:
    return CHANNEL_KIND.get(channel, CapacityKind.EMAIL)


def ticket_kind(last_channel: str, origin_channel: str) -> str:
    """The channel the customer is on now decides what the ticket costs."""
    return kind_of(last_channel or origin_channel)


@dataclass
class Agent:
    """A staff member as routing sees them during one batch (``load`` moves as it assigns)."""

    profile_id: int
    user_id: int
    name: str
    role: str
    presence: str
    languages: frozenset[str]
    skills: frozenset[int]
    capacity: dict[str, int]
    seniority: int
    team_ids: frozenset[int]
    store_ids: frozenset[int]  # home store and the stores of their teams
    online_since: datetime | None = None
    last_assigned_at: datetime | None = None
    load: dict[str, int] = field(default_factory=dict)
    locked: bool = True  # False: another worker holds this agent right now

    def free(self, kind: str) -> int:
        return self.capacity.get(kind, 0) - self.load.get(kind, 0)

    @property
    def idle_since(self) -> datetime:
        """Since when the agent has had no new routed work (or since they came online)."""
        times = [t for t in (self.last_assigned_at, self.online_since) if t is not None]
        return max(times) if times else EPOCH


@dataclass(frozen=True)
class Work:
    """What a queued ticket needs from an agent."""

    ticket_id: int
    team_id: int | None
    store_id: int | None
    kind: str
    language: str
    skill_ids: frozenset[int]
    tier: str
    store_only: bool  # still inside the store-first window

    def signature(self) -> tuple:
        return (self.kind, self.language, self.skill_ids, self.tier, self.store_id, self.store_only)


@dataclass(frozen=True)
class Reservation:
    tiers: frozenset[str]
    min_seniority: int


def is_candidate(agent: Agent, work: Work) -> bool:
    """Whose queue this is: members of the ticket's team and the staff of its store.

    The general queue (no team) is the contact centre's: store staff work their own
    store's tickets and their teams' queues, never online work that concerns no store.
    """
    in_store = work.store_id is not None and work.store_id in agent.store_ids
    if work.store_only:
        return in_store
    if work.team_id is None:
        return in_store or agent.role != Role.STORE_STAFF
    return in_store or work.team_id in agent.team_ids


def static_rejection(agent: Agent, work: Work, reservation: Reservation) -> str | None:
    """The first rule (other than capacity) that keeps ``agent`` from ``work``, or None."""
    if agent.role not in ROUTABLE_ROLES:
        return NOT_ROUTABLE
    if agent.presence != Presence.ONLINE:
        return AWAY if agent.presence == Presence.AWAY else OFFLINE
    if agent.capacity.get(work.kind, 0) <= 0:
        return NO_CHANNEL
    if work.language and work.language not in agent.languages:
        return NO_LANGUAGE
    if not work.skill_ids <= agent.skills:
        return NO_SKILLS
    if work.tier in reservation.tiers and agent.seniority < reservation.min_seniority:
        return RESERVED
    return None


def rejection(agent: Agent, work: Work, reservation: Reservation) -> str | None:
    """Every rule, capacity included; None when ``agent`` may take ``work`` now."""
    found = static_rejection(agent, work, reservation)
    if found is not None:
        return found
    if agent.free(work.kind) <= 0:
        return FULL
    if not agent.locked:
        return BUSY
    return None


def ranking_key(agent: Agent, kind: str, strategy: str) -> tuple:
    """Smaller is better."""
    if strategy == RoutingStrategy.ROUND_ROBIN:
        return (agent.last_assigned_at or EPOCH, agent.user_id)
    capacity = agent.capacity.get(kind, 0) or 1
    return (agent.load.get(kind, 0) / capacity, agent.idle_since, agent.user_id)


def choose(agents: list[Agent], work: Work, strategy: str) -> Agent | None:
    """The best of ``agents`` (already known eligible apart from capacity) with room."""
    best, best_key = None, None
    for agent in agents:
        if not agent.locked or agent.free(work.kind) <= 0:
            continue
        key = ranking_key(agent, work.kind, strategy)
        if best_key is None or key < best_key:
            best, best_key = agent, key
    return best
