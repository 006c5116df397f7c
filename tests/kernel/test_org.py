import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError

from omniservice.org.models import Presence, Role, StaffProfile
from omniservice.org.roles import group_name
from omniservice.org.services import change_role, create_staff_member, set_presence
from tests.factories import StoreFactory, TeamFactory

pytestmark = pytest.mark.django_db


def test_every_role_has_a_group_with_permissions():
    for role in Role.values:
        group = Group.objects.get(name=group_name(role))
        assert group.permissions.exists()
    manager = Group.objects.get(name=group_name(Role.MANAGER))
    assert manager.permissions.filter(codename="merge_customer").exists()
    agent = Group.objects.get(name=group_name(Role.AGENT))
    assert not agent.permissions.filter(codename="merge_customer").exists()


def test_staff_member_gets_exactly_the_group_of_their_role():
    team = TeamFactory()
    profile = create_staff_member(
        username="li.na",
        password="a-long-demo-password",
        role=Role.AGENT,
        teams=[team],
        languages=["zh-hans", "en"],
    )
    assert list(profile.user.groups.values_list("name", flat=True)) == [group_name(Role.AGENT)]
    assert profile.user.check_password("a-long-demo-password")
    change_role(profile=profile, role=Role.MANAGER)
    assert list(profile.user.groups.values_list("name", flat=True)) == [group_name(Role.MANAGER)]
    assert profile.user.has_perm("customers.merge_customer")


def test_admin_role_makes_a_superuser():
    profile = create_staff_member(username="root", password=None, role=Role.ADMIN)
    profile.user.refresh_from_db()
    assert profile.user.is_superuser
    assert not profile.user.has_usable_password()


def test_store_staff_without_home_store_is_refused():
    with pytest.raises(ValidationError):
        create_staff_member(username="clerk", password=None, role=Role.STORE_STAFF)
    assert not StaffProfile.objects.exists()


def test_store_staff_with_home_store_is_created():
    store = StoreFactory()
    profile = create_staff_member(
        username="clerk", password=None, role=Role.STORE_STAFF, home_store=store
    )
    assert profile.home_store == store


def test_unknown_language_or_bad_capacity_is_refused():
    with pytest.raises(ValidationError):
        create_staff_member(username="a1", password=None, role=Role.AGENT, languages=["fr"])
    with pytest.raises(ValidationError):
        create_staff_member(username="a2", password=None, role=Role.AGENT, capacity={"chat": -1})


def test_presence_change_is_published_once(django_capture_on_commit_callbacks):
    profile = create_staff_member(username="a3", password=None, role=Role.AGENT)
    with django_capture_on_commit_callbacks() as first:
        assert set_presence(profile=profile, presence=Presence.ONLINE) is True
    with django_capture_on_commit_callbacks() as repeat:
        assert set_presence(profile=profile, presence=Presence.ONLINE) is False
    assert first  # the live event (and what presence_changed receivers schedule)
    assert repeat == []  # a repeat sends nothing
    profile.refresh_from_db()
    assert profile.presence == Presence.ONLINE
    assert profile.presence_changed_at is not None


def test_opening_hours_are_validated():
    store = StoreFactory.build(code="bad-hours", opening_hours={"mon": [["22:00", "10:00"]]})
    with pytest.raises(ValidationError):
        store.full_clean()
    store.opening_hours = {"funday": []}
    with pytest.raises(ValidationError):
        store.full_clean()
