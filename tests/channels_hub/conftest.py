from __future__ import annotations

import pytest

from channels_hub.models import ChannelConnection
from tests.channels_hub.fake_provider import FakeProvider


@pytest.fixture
def fake_provider():
    provider = FakeProvider().start()
    yield provider
    provider.stop()


@pytest.fixture
def make_connection(db, fake_provider):
    def make(channel: str, *, secrets: dict[str, str], **settings: str) -> ChannelConnection:
        connection = ChannelConnection(
            channel=channel,
            name=f"{channel} main",
            settings={"base_url": fake_provider.base_url, **settings},
        )
        connection.set_secrets(secrets)
        connection.save()
        return connection

    return make


def webhook_url(connection: ChannelConnection) -> str:
    return f"/hooks/{connection.channel}/{connection.webhook_key}/"


@pytest.fixture(autouse=True)
def _english(settings):
    """Failure reasons are written in the installation's language; these tests read English."""
    settings.LANGUAGE_CODE = "en"
