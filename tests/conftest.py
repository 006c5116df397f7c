"""Shared personas and helpers, reused by every permission test.

Personas: an agent and a teammate (team A), an outsider (team B), a store clerk (store
one), a manager, and partner API keys with and without scopes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient

from omniservice.api.keys import create_api_key
from omniservice.celery import app as celery_app
from omniservice.org.models import Role
from tests.factories import StaffProfileFactory, StoreFactory, TeamFactory

celery_app.conf.task_always_eager = True
celery_app.conf.task_eager_propagates = True


def pytest_configure(config):
    # Password stretching is irrelevant to tests and costs ~0.3 s per user created.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Redis pub/sub channels ignore the database number: a prefix of this run's own keeps
    # test runs sharing one Redis server from hearing each other's events.
    layer = settings.CHANNEL_LAYERS["default"]
    if layer["BACKEND"].endswith("RedisPubSubChannelLayer"):
        layer.setdefault("CONFIG", {})["prefix"] = f"test{os.getpid()}"


def pytest_collection_modifyitems(config, items):
    skip_pg = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL)")
    skip_redis = pytest.mark.skip(reason="needs Redis (set REDIS_URL)")
    for item in items:
        if "postgres" in item.keywords and not settings.IS_POSTGRES:
            item.add_marker(skip_pg)
        if "redis" in item.keywords and not settings.REDIS_URL:
            item.add_marker(skip_redis)


@pytest.fixture(autouse=True)
def _isolated_cache():
    """Throttle counters and realtime sequences never leak between tests."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _rate_window_held(monkeypatch):
    """Rate limits count in fixed one-minute windows; a test that fills one must not see
    it roll over midway. Tests of the windows themselves move this clock."""
    from omniservice import ratelimit

    monkeypatch.setattr(ratelimit, "now", lambda: 1_800_000_010.0)


@pytest.fixture(autouse=True)
def _celery_join_allowed():
    """Eager ``delay()`` sets and restores a process-wide "joins would block" flag around
    the task; tests that run eager tasks from several threads at once (the PostgreSQL
    concurrency tests) can restore it in the wrong order and leave it set, so a later
    test's ``result.get()`` fails with "Never call result.get() within a task!". The
    project never joins a result; each test starts with the flag cleared."""
    from celery.result import _set_task_join_will_block

    _set_task_join_will_block(False)
    yield


@dataclass
class Personas:
    store_one: object
    store_two: object
    team_a: object
    team_b: object
    agent: object
    teammate: object
    outsider: object
    store_clerk: object
    manager: object


@pytest.fixture
def personas(db) -> Personas:
    store_one, store_two = StoreFactory(code="sh-001"), StoreFactory(code="bj-001", city="北京")
    team_a, team_b = TeamFactory(slug="team-a"), TeamFactory(slug="team-b")
    return Personas(
        store_one=store_one,
        store_two=store_two,
        team_a=team_a,
        team_b=team_b,
        agent=StaffProfileFactory(role=Role.AGENT, teams=[team_a]),
        teammate=StaffProfileFactory(role=Role.AGENT, teams=[team_a]),
        outsider=StaffProfileFactory(role=Role.AGENT, teams=[team_b]),
        store_clerk=StaffProfileFactory(role=Role.STORE_STAFF, home_store=store_one),
        manager=StaffProfileFactory(role=Role.MANAGER),
    )


def api_client_for_key(raw_key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    return client


@pytest.fixture
def partner(db) -> APIClient:
    """A partner key with every customer and event scope."""
    _key, raw = create_api_key(
        name="partner-full",
        scopes=[
            "customers:read",
            "customers:write",
            "customers:merge",
            "events:write",
            "tickets:read",
            "tickets:write",
            "kb:read",
        ],
    )
    return api_client_for_key(raw)


@pytest.fixture
def partner_read_only(db) -> APIClient:
    """A partner key that may only read customers."""
    _key, raw = create_api_key(name="partner-read", scopes=["customers:read"])
    return api_client_for_key(raw)


@pytest.fixture
def partner_no_scope(db) -> APIClient:
    """A valid key with a scope unrelated to customers."""
    _key, raw = create_api_key(name="partner-kb", scopes=["kb:read"])
    return api_client_for_key(raw)


@pytest.fixture
def console_client():
    """Log a persona's user in: ``console_client(personas.agent)``."""

    def login(profile) -> APIClient:
        client = APIClient()
        client.force_login(profile.user)
        return client

    return login


@pytest.fixture
def is_postgres() -> bool:
    return connection.vendor == "postgresql"
