"""log_outage: one warning per subject and half-minute, not one per request."""

from __future__ import annotations

import logging

import pytest

from omniservice import outages


@pytest.fixture
def clock(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(outages.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(outages, "_last_logged", {})
    return now


def test_an_outage_is_logged_once_per_subject_and_half_minute(clock, caplog):
    logger = logging.getLogger("tests.outages")
    error = ConnectionError("refused")
    with caplog.at_level(logging.WARNING, logger="tests.outages"):
        for _ in range(3):
            outages.log_outage(logger, "drain", error)
        outages.log_outage(logger, "snapshot", error)
        clock[0] += outages.LOG_EVERY_SECONDS
        outages.log_outage(logger, "drain", error)

    assert [r.getMessage() for r in caplog.records] == [
        "redis unreachable (drain): ConnectionError: refused",
        "redis unreachable (snapshot): ConnectionError: refused",
        "redis unreachable (drain): ConnectionError: refused",
    ]
