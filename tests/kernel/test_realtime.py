import json

import pytest
from django.db import transaction

from omniservice import realtime
from tests.layer_listener import LayerListener


@pytest.fixture
def listener():
    listening = LayerListener()
    yield listening
    listening.close()


@pytest.mark.django_db
def test_event_reaches_the_group_after_commit_with_a_sequence(
    listener, django_capture_on_commit_callbacks
):
    listener.join("ticket.41")
    with django_capture_on_commit_callbacks(execute=True):
        realtime.publish(["ticket.41"], "ticket.updated", {"ticket_id": 41, "changed": ["status"]})
        realtime.publish(["ticket.41"], "ticket.updated", {"ticket_id": 41, "changed": ["tags"]})

    first, second = listener.messages()
    assert first["type"] == "realtime.event"
    assert first["event"]["type"] == "ticket.updated"
    assert first["event"]["stream"] == "ticket.41"
    assert second["event"]["seq"] == first["event"]["seq"] + 1
    assert second["event"]["changed"] == ["tags"]
    assert json.loads(first["text"]) == first["event"]  # serialised once, sent as is


@pytest.mark.redis
@pytest.mark.django_db
def test_production_layer_is_redis_pubsub_and_synchronous_publishes_reach_subscribers(
    settings, listener, django_capture_on_commit_callbacks
):
    """The publisher PUBLISHes from the request thread itself; a consumer-style subscriber
    on its own loop (the layer's own group_add) must receive it unchanged."""
    assert settings.CHANNEL_LAYERS["default"]["BACKEND"].endswith("RedisPubSubChannelLayer")
    listener.join("team.7", "store.3")
    with django_capture_on_commit_callbacks(execute=True):
        realtime.publish(["team.7", "store.3", "team.8"], "message.added", {"ticket_id": 5})

    events = listener.received()
    assert sorted(e["stream"] for e in events) == ["store.3", "team.7"]
    assert {e["id"] for e in events} == {events[0]["id"]}  # one event id for all groups


@pytest.mark.django_db
def test_nothing_is_sent_when_the_transaction_rolls_back(django_capture_on_commit_callbacks):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(ValueError, match="boom"),
        transaction.atomic(),
    ):
        realtime.publish(["ticket.42"], "ticket.updated", {"ticket_id": 42})
        raise ValueError("boom")
    assert callbacks == []


def test_streams_have_independent_sequences():
    first_of_one = realtime.next_seq("team.1")
    first_of_two = realtime.next_seq("team.2")
    second_of_one = realtime.next_seq("team.1")
    assert second_of_one == first_of_one + 1
    assert first_of_two == 1


@pytest.mark.parametrize("group", ["Ticket 1", "ticket.1;drop", "", "ticket..1"])
def test_malformed_group_names_are_refused(group):
    with pytest.raises(ValueError, match="invalid realtime group"):
        realtime.publish([group], "x.happened", {})
