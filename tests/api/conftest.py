"""Helpers for the partner API contract tests (the personas live in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from omniservice.api.keys import create_api_key
from tests.conftest import api_client_for_key


@pytest.fixture
def key_client(db) -> Callable[..., APIClient]:
    """A client for a fresh key: ``key_client("customers:read", rate_per_minute=3)``."""
    created = 0

    def make(*scopes: str, rate_per_minute: int | None = None) -> APIClient:
        nonlocal created
        created += 1
        _key, raw = create_api_key(
            name=f"test-key-{created}", scopes=list(scopes), rate_per_minute=rate_per_minute
        )
        return api_client_for_key(raw)

    return make
