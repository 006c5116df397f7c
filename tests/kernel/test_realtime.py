import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from omniservice import realtime


@pytest.fixture
def listener():
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    joined = []

    def join(group: str) -> str:
        async_to_sync(layer.group_add)(group, channel)
        joined.append(group)
        return channel

    yield layer, channel, join
    for group in joined:
        async_to_sync(layer.group_discard)(group, channel)


@pytest.mark.django_db
def test_event_reaches_the_group_after_commit_with_a_sequence(
    listener, django_capture_on_commit_callbacks
):
    layer, channel, join = listener
    join("ticket.41")
    with django_capture_on_commit_callbacks(execute=True):
        realtime.publish(["ticket.41"], "ticket.updated", {"ticket_id": 41, "changed": ["status"]})
        realtime.publish(["ticket.41"], "ticket.updated", {"ticket_id": 41, "changed": ["tags"]})

    async def receive_two():  # one event loop, as in a consumer
        return await layer.receive(channel), await layer.receive(channel)

    first, second = async_to_sync(receive_two)()
    assert first["type"] == "realtime.event"
    assert first["event"]["type"] == "ticket.updated"
    assert first["event"]["stream"] == "ticket.41"
    assert second["event"]["seq"] == first["event"]["seq"] + 1
    assert second["event"]["changed"] == ["tags"]


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
