"""Configuration snapshots: built once per version, rebuilt when a writer says so, and
told again after the writer's commit (a reader may have rebuilt from the old rows)."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import transaction

from omniservice import config_cache
from tests.factories import TeamFactory
from tickets.models import DefaultTeamRule
from tickets.models.sla import SlaPolicy
from tickets.routing.queue import default_team_rules
from tickets.sla.policies import active_policies


@pytest.fixture(autouse=True)
def snapshots_on(settings):
    settings.CONFIG_SNAPSHOTS = True  # on with Redis; the embedded default builds every time


class Counter:
    def __init__(self) -> None:
        self.builds = 0

    def __call__(self) -> int:
        self.builds += 1
        return self.builds


@pytest.mark.django_db
def test_a_snapshot_is_built_once_until_invalidated():
    build = Counter()
    snap = config_cache.snapshot("test-a", build)

    assert (snap.get(), snap.get()) == (1, 1)
    config_cache.invalidate("test-a")
    assert (snap.get(), snap.get()) == (2, 2)


def test_without_a_shared_cache_every_read_builds(settings):
    settings.CONFIG_SNAPSHOTS = False
    build = Counter()
    snap = config_cache.snapshot("test-off", build)

    assert (snap.get(), snap.get()) == (1, 2)


def test_a_cleared_cache_means_rebuild():
    build = Counter()
    snap = config_cache.snapshot("test-b", build)
    snap.get()

    cache.clear()

    assert snap.get() == 2


@pytest.mark.django_db(transaction=True)
def test_the_version_moves_again_when_the_writer_commits():
    build = Counter()
    snap = config_cache.snapshot("test-c", build)
    snap.get()

    with transaction.atomic():
        config_cache.invalidate("test-c")
        assert snap.get() == 2  # another process rebuilding now still sees the old rows
    assert snap.get() == 3  # after the commit it is told again


@pytest.mark.django_db
def test_sla_policies_follow_saves_deletes_and_team_changes():
    first = SlaPolicy.objects.create(name="First", first_response_minutes=30, position=1)
    assert [p.name for p in active_policies()] == ["First"]

    second = SlaPolicy.objects.create(name="Second", first_response_minutes=60, position=2)
    team = TeamFactory()
    second.teams.add(team)
    assert [(p.name, [t.pk for t in p.teams.all()]) for p in active_policies()] == [
        ("First", []),
        ("Second", [team.pk]),
    ]

    first.is_active = False
    first.save()
    second.delete()
    assert active_policies() == []


@pytest.mark.django_db
def test_default_team_rules_follow_saves_and_deletes():
    team = TeamFactory()
    assert default_team_rules.get() == {}

    rule = DefaultTeamRule.objects.create(channel="email", language="", team=team)
    assert default_team_rules.get() == {("email", ""): team}

    rule.delete()
    assert default_team_rules.get() == {}
