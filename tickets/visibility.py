"""Who may see which ticket, and the live groups that carry a ticket's events.

The two must agree: a user receives a ticket's live events exactly when
``tickets_visible_to(user)`` contains the ticket. Rules:

- managers and administrators see every ticket;
- agents see the tickets of their teams, those assigned to them, and the general queue
  (tickets with neither team nor store);
- store staff see the tickets of their home store and those assigned to them.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q, QuerySet

from omniservice.org.models import Role, StaffProfile
from tickets.models import Ticket

MANAGERS_GROUP = "managers"
GENERAL_QUEUE_GROUP = "queue.general"
FULL_VIEW_ROLES = frozenset({Role.MANAGER, Role.ADMIN})


def profile_of(user: AbstractBaseUser | AnonymousUser | None) -> StaffProfile | None:
    if user is None or not user.is_authenticated:
        return None
    try:
        return user.staff_profile
    except StaffProfile.DoesNotExist:
        return None


def sees_everything(user: AbstractBaseUser) -> bool:
    profile = profile_of(user)
    return bool(user.is_superuser or (profile and profile.role in FULL_VIEW_ROLES))


def visibility_filter(user: AbstractBaseUser) -> Q | None:
    """A Q selecting the tickets ``user`` may see; None means all of them."""
    if sees_everything(user):
        return None
    profile = profile_of(user)
    if profile is None:
        return Q(pk__in=[])
    mine = Q(assignee_id=user.pk)
    if profile.role == Role.STORE_STAFF:
        return mine | Q(store_id=profile.home_store_id) if profile.home_store_id else mine
    team_ids = list(profile.teams.values_list("id", flat=True))
    return mine | Q(team_id__in=team_ids) | Q(team__isnull=True, store__isnull=True)


def tickets_visible_to(user: AbstractBaseUser) -> QuerySet[Ticket]:
    condition = visibility_filter(user)
    queryset = Ticket.objects.all()
    return queryset if condition is None else queryset.filter(condition)


def can_see(user: AbstractBaseUser, ticket: Ticket) -> bool:
    if sees_everything(user):
        return True
    profile = profile_of(user)
    if profile is None:
        return False
    if ticket.assignee_id == user.pk:
        return True
    if profile.role == Role.STORE_STAFF:
        return bool(profile.home_store_id) and ticket.store_id == profile.home_store_id
    if ticket.team_id is None and ticket.store_id is None:
        return True
    return ticket.team_id is not None and profile.teams.filter(pk=ticket.team_id).exists()


def ticket_groups(ticket: Ticket) -> set[str]:
    """The live groups whose members may see this ticket."""
    groups = {MANAGERS_GROUP, f"ticket.{ticket.pk}"}
    if ticket.team_id:
        groups.add(f"team.{ticket.team_id}")
    if ticket.store_id:
        groups.add(f"store.{ticket.store_id}")
    if ticket.assignee_id:
        groups.add(f"agent.{ticket.assignee_id}")
    if not ticket.team_id and not ticket.store_id:
        groups.add(GENERAL_QUEUE_GROUP)
    return groups


def console_groups_for(user: AbstractBaseUser) -> list[str]:
    """The groups a console socket of ``user`` joins (mirror of ``visibility_filter``)."""
    profile = profile_of(user)
    groups = [f"agent.{user.pk}"]
    if sees_everything(user):
        return [*groups, MANAGERS_GROUP]
    if profile is None:
        return []
    if profile.role == Role.STORE_STAFF:
        if profile.home_store_id:
            groups.append(f"store.{profile.home_store_id}")
        return groups
    groups += [f"team.{team_id}" for team_id in profile.teams.values_list("id", flat=True)]
    groups.append(GENERAL_QUEUE_GROUP)
    return groups
