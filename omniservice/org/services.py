"""Write side of the organisation: staff members, their roles and presence."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser, Group
from django.db import transaction
from django.utils import timezone

from omniservice import realtime
from omniservice.org.models import Presence, Role, Skill, StaffProfile, Store, Team
from omniservice.org.roles import ROLE_PERMISSIONS, group_name
from omniservice.org.signals import presence_changed


@transaction.atomic
def create_staff_member(
    *,
    username: str,
    password: str | None,
    role: str,
    display_name: str = "",
    email: str = "",
    teams: Iterable[Team] = (),
    skills: Iterable[Skill] = (),
    home_store: Store | None = None,
    languages: list[str] | None = None,
    capacity: dict[str, int] | None = None,
) -> StaffProfile:
    user_model = get_user_model()
    user = user_model(username=username, email=email, is_staff=True)
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    profile = StaffProfile(user=user, role=role, display_name=display_name, home_store=home_store)
    if languages is not None:
        profile.languages = languages
    if capacity is not None:
        profile.capacity = capacity
    profile.full_clean(exclude=["user"])
    profile.save()
    profile.teams.set(list(teams))
    profile.skills.set(list(skills))
    sync_role_group(user=user, role=role)
    return profile


def sync_role_group(*, user: AbstractUser, role: str) -> None:
    """Put the user in exactly the group of their role; admins also become superusers."""
    role_groups = Group.objects.filter(name__in=[group_name(r) for r in ROLE_PERMISSIONS])
    user.groups.remove(*role_groups)
    group, _created = Group.objects.get_or_create(name=group_name(role))
    user.groups.add(group)
    if role == Role.ADMIN and not user.is_superuser:
        user.is_superuser = True
        user.save(update_fields=["is_superuser"])


@transaction.atomic
def change_role(*, profile: StaffProfile, role: str) -> StaffProfile:
    profile.role = role
    profile.full_clean(exclude=["user"])
    profile.save(update_fields=["role"])
    sync_role_group(user=profile.user, role=role)
    return profile


def set_presence(*, profile: StaffProfile, presence: str) -> bool:
    """Record a presence change; returns False when nothing changed (no event sent).

    Sends ``presence_changed`` (see ``omniservice.org.signals``) when it did change.
    """
    if presence not in Presence.values:
        raise ValueError(f"unknown presence {presence!r}")
    updated = (
        StaffProfile.objects.filter(pk=profile.pk)
        .exclude(presence=presence)
        .update(presence=presence, presence_changed_at=timezone.now())
    )
    if not updated:
        return False
    previous, profile.presence = profile.presence, presence
    groups = [f"agent.{profile.user_id}", "managers"]
    groups += [f"team.{team_id}" for team_id in profile.teams.values_list("id", flat=True)]
    realtime.publish(
        groups, "agent.presence_changed", {"user_id": profile.user_id, "presence": presence}
    )
    presence_changed.send(StaffProfile, profile=profile, presence=presence, previous=previous)
    return True
