"""The one rate-limit counter and the client address every limit is keyed by."""

from __future__ import annotations

import pytest

from omniservice import ratelimit

WINDOW_START = 1_800_000_000.0  # a multiple of 60


@pytest.fixture
def clock(monkeypatch):
    moments = {"now": WINDOW_START + 10}
    monkeypatch.setattr(ratelimit, "now", lambda: moments["now"])
    return moments


def test_a_window_allows_the_limit_then_refuses_with_the_wait(clock):
    hits = [ratelimit.hit("k", 3) for _ in range(4)]

    assert [h.allowed for h in hits] == [True, True, True, False]
    assert [h.count for h in hits] == [1, 2, 3, 4]
    assert hits[-1].retry_after == pytest.approx(50)


def test_the_next_window_starts_again_and_keys_do_not_share_counts(clock):
    for _ in range(3):
        ratelimit.hit("k", 3)
    assert not ratelimit.hit("k", 3).allowed
    assert ratelimit.hit("other", 3).allowed

    clock["now"] = WINDOW_START + 60

    assert ratelimit.hit("k", 3).count == 1


def test_other_window_lengths(clock):
    clock["now"] = WINDOW_START + 1
    assert ratelimit.hit("k", 1, window_seconds=10).retry_after == pytest.approx(9)
    clock["now"] = WINDOW_START + 11
    assert ratelimit.hit("k", 1, window_seconds=10).allowed


def test_forwarded_for_is_ignored_without_the_proxy(settings):
    settings.SECURE_PROXY_SSL_HEADER = None
    meta = {"REMOTE_ADDR": "198.51.100.4", "HTTP_X_FORWARDED_FOR": "203.0.113.9"}

    assert ratelimit.client_address(meta) == "198.51.100.4"


def test_behind_the_proxy_the_last_hop_counts_not_what_the_client_wrote(settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    meta = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "6.6.6.6, 203.0.113.9"}

    assert ratelimit.client_address(meta) == "203.0.113.9"
    assert ratelimit.client_address({"REMOTE_ADDR": "10.0.0.2"}) == "10.0.0.2"
    assert ratelimit.client_address({}) == "unknown"
