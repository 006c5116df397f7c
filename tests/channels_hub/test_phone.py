"""Phone / hotline (CTI): signed call events in our documented JSON format, idempotent per
(call id, event), the caller found by number, the screen pop to the answering agent only,
the call as a message on the ticket, and one call-back task per missed call."""

from __future__ import annotations

import json
import threading
import time

import pytest
from django.db import connections
from django.utils import translation
from kombu.exceptions import OperationalError as BrokerError

from channels_hub import phone_calls
from channels_hub.adapters.phone import phone_signature
from channels_hub.phone_models import CallbackStatus, CallbackTask, CallEventReceipt, CallRecord
from customers.identity import IdentityClaim
from customers.models import Customer
from omniservice.celery import app as celery_app
from omniservice.org.models import Role
from tests.factories import CustomerFactory, IdentityFactory, StaffProfileFactory
from tests.layer_listener import LayerListener
from tickets.models import Channel, Message, Priority, Ticket, TicketStatus
from tickets.services import reply, thread_inbound_message
from tickets.visibility import GENERAL_QUEUE_GROUP, MANAGERS_GROUP

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english(settings):
    """System text is stored in the site's language: English here, whatever is compiled."""
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


SECRET = "pbx-signing-secret"
CALLER = "+8613800138000"


@pytest.fixture
def connection(db):
    from channels_hub.models import ChannelConnection

    phone = ChannelConnection(
        channel=Channel.PHONE, name="hotline", settings={"extensions": {"201": "agent-ext"}}
    )
    phone.set_secrets({"signing_secret": SECRET})
    phone.save()
    return phone


def hook(connection) -> str:
    return f"/hooks/phone/{connection.webhook_key}/"


def event(kind: str = "ringing", call_id: str = "call-1", **fields) -> dict:
    body = {
        "call_id": call_id,
        "event": kind,
        "direction": "inbound",
        "from": "13800138000",  # national format: normalised to +86
        "to": "+862161234567",
        "occurred_at": "2026-12-04T08:00:00+00:00",
    }
    body.update(fields)
    return body


def post(client, connection, body, *, secret=SECRET, timestamp=None, signature=None, raw=None):
    data = raw if raw is not None else json.dumps(body).encode()
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    headers = {"HTTP_X_OMNISERVICE_TIMESTAMP": stamp}
    if signature is not False:
        headers["HTTP_X_OMNISERVICE_SIGNATURE"] = signature or phone_signature(secret, stamp, data)
    return client.post(hook(connection), data, content_type="application/json", **headers)


@pytest.fixture
def agent(personas):
    return personas.agent.user


# --- verification -----------------------------------------------------------------------


def test_signed_ringing_event_opens_the_callers_ticket_with_a_phone_message(client, connection):
    response = post(client, connection, event())

    assert response.status_code == 200
    call = CallRecord.objects.get()
    assert response.json() == {
        "ok": True,
        "duplicate": False,
        "call": call.pk,
        "ticket": call.ticket_id,
    }
    assert (call.state, call.customer_number) == ("ringing", CALLER)
    message = Message.objects.get()
    assert (message.channel, message.direction) == (Channel.PHONE, "inbound")
    assert CALLER in message.body_text
    assert call.message_id == message.pk
    assert call.ticket.customer.identities.get().value == CALLER


@pytest.mark.parametrize(
    "change",
    [
        {"signature": False},
        {"signature": "sha256=" + "0" * 64},
        {"secret": "another-secret"},
    ],
    ids=["unsigned", "forged", "wrong-secret"],
)
def test_unsigned_or_forged_event_is_refused_with_no_write(client, connection, change):
    response = post(client, connection, event(), **change)

    assert response.status_code == 401
    assert response.json()["error"]["code"] in {"signature_missing", "signature_invalid"}
    assert not CallRecord.objects.exists()
    assert not CallEventReceipt.objects.exists()
    assert not Message.objects.exists()


def test_body_changed_after_signing_is_refused(client, connection):
    stamp = str(int(time.time()))
    signed = json.dumps(event()).encode()
    tampered = json.dumps(event(**{"from": "+8613900139000"})).encode()
    response = client.post(
        hook(connection),
        tampered,
        content_type="application/json",
        HTTP_X_OMNISERVICE_TIMESTAMP=stamp,
        HTTP_X_OMNISERVICE_SIGNATURE=phone_signature(SECRET, stamp, signed),
    )
    assert response.status_code == 401
    assert not Message.objects.exists()


@pytest.mark.parametrize("skew", [-3600, 3600], ids=["stale", "future"])
def test_event_outside_the_timestamp_tolerance_is_refused(client, connection, skew, settings):
    settings.CHANNEL_WEBHOOK_TOLERANCE_SECONDS = 300
    response = post(client, connection, event(), timestamp=int(time.time()) + skew)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "stale_timestamp"
    assert not CallRecord.objects.exists()


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[1, 2]",
        json.dumps({"event": "ringing"}).encode(),
        json.dumps(event(kind="exploded")).encode(),
        json.dumps(event(direction="sideways")).encode(),
        json.dumps(event(kind="ended", duration_seconds=-5)).encode(),
        json.dumps(event(kind="voicemail", recording_url="javascript:alert(1)")).encode(),
        json.dumps(event(occurred_at="yesterday")).encode(),
    ],
    ids=[
        "not-json",
        "not-object",
        "no-call-id",
        "unknown-event",
        "bad-direction",
        "negative-duration",
        "bad-recording-url",
        "bad-time",
    ],
)
def test_malformed_signed_event_is_refused_with_400_and_no_write(client, connection, raw):
    response = post(client, connection, None, raw=raw)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed"
    assert not CallRecord.objects.exists()
    assert not CallEventReceipt.objects.exists()


def test_unknown_webhook_key_is_404(client, connection):
    response = client.post("/hooks/phone/nope/", b"{}", content_type="application/json")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_connection"


def test_a_withheld_number_is_acknowledged_without_a_ticket(client, connection):
    response = post(client, connection, event(**{"from": "anonymous"}))

    assert response.status_code == 200
    assert CallRecord.objects.get().ticket_id is None
    assert not Message.objects.exists()


# --- idempotency --------------------------------------------------------------------------


def test_the_same_event_twice_is_stored_once(client, connection):
    first = post(client, connection, event())
    second = post(client, connection, event())

    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json()["duplicate"] is True
    assert second.json()["call"] == first.json()["call"]
    assert CallRecord.objects.count() == 1
    assert Message.objects.count() == 1
    assert CallEventReceipt.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_event_delivered_concurrently_is_stored_once(connection):
    from django.test import Client

    results: list[int] = []

    def deliver():
        try:
            results.append(post(Client(), connection, event(kind="missed")).status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert results == [200] * 4
    assert CallRecord.objects.count() == 1
    assert Message.objects.filter(channel=Channel.PHONE).count() == 1
    assert CallbackTask.objects.count() == 1


# --- the call on the ticket -------------------------------------------------------------


def test_known_caller_is_found_by_normalised_number_and_the_open_ticket_continues(
    client, connection
):
    customer = CustomerFactory(name="王芳")
    IdentityFactory(customer=customer, kind="phone", value=CALLER)
    earlier = thread_inbound_message(
        channel=Channel.WHATSAPP,
        external_id="wamid.1",
        identities=[IdentityClaim("phone", CALLER)],
        text="My order is late",
    )

    post(client, connection, event())

    call = CallRecord.objects.get()
    assert call.customer_id == customer.pk
    assert call.ticket_id == earlier.ticket.pk
    assert Customer.objects.count() == 1


def test_a_call_ends_as_one_message_with_direction_agent_duration_and_notes(
    client, connection, agent, console_client, personas
):
    post(client, connection, event())
    post(client, connection, event("answered", agent={"username": agent.username}))
    post(client, connection, event("ended", duration_seconds=192))
    call = CallRecord.objects.get()

    notes = console_client(personas.agent).post(
        f"/console/calls/{call.pk}/notes/",
        {"notes": "Wants a size 42 reserved"},
        HTTP_ACCEPT="application/json",
    )

    assert notes.status_code == 200
    message = Message.objects.get()
    text = message.body_text
    assert "Inbound call" in text
    assert "3 min 12 s" in text
    assert personas.agent.display_name in text
    assert "Wants a size 42 reserved" in text
    call.refresh_from_db()
    assert (call.state, call.duration_seconds, call.agent_id) == ("ended", 192, agent.pk)
    assert call.ticket.assignee_id == agent.pk  # who answers owns the conversation


def test_an_agent_is_found_by_the_extension_mapped_in_the_connection(client, connection):
    mapped = StaffProfileFactory(role=Role.AGENT, user__username="agent-ext").user

    post(client, connection, event("answered", agent={"extension": "201"}))

    assert CallRecord.objects.get().agent_id == mapped.pk


def test_extensions_as_typed_in_the_console_are_read_too(client, connection):
    mapped = StaffProfileFactory(role=Role.AGENT, user__username="chen.hao").user
    connection.settings = {"extensions": "201=lin.yue, 202 = chen.hao"}
    connection.save()

    post(client, connection, event("answered", agent={"extension": "202"}))

    assert CallRecord.objects.get().agent_id == mapped.pk


def test_a_late_answered_event_does_not_move_an_ended_call_back(client, connection, agent):
    post(client, connection, event("ended", duration_seconds=30))
    post(client, connection, event("answered", agent=agent.username))

    call = CallRecord.objects.get()
    assert call.state == "ended"
    assert call.agent_id == agent.pk


def test_notes_of_a_call_on_a_ticket_the_agent_cannot_see_are_404(
    client, connection, console_client, personas
):
    post(client, connection, event())
    call = CallRecord.objects.get()
    Ticket.objects.filter(pk=call.ticket_id).update(team=personas.team_a)

    response = console_client(personas.outsider).post(
        f"/console/calls/{call.pk}/notes/", {"notes": "hi"}
    )
    assert response.status_code == 404
    assert console_client(personas.outsider).get(f"/console/calls/{call.pk}/").status_code == 404


def test_an_outbound_call_is_a_note_on_the_customers_open_ticket(client, connection, agent):
    post(client, connection, event("missed", call_id="in-1"))
    ticket = Ticket.objects.get()

    post(
        client,
        connection,
        event(
            "ended",
            call_id="out-1",
            direction="outbound",
            **{"from": "+862161234567", "to": CALLER},
            agent=agent.username,
            duration_seconds=60,
        ),
    )

    note = Message.objects.get(direction="note")
    assert note.ticket_id == ticket.pk
    assert "Outbound call" in note.body_text
    assert Ticket.objects.count() == 1


def test_a_reply_on_the_phone_channel_fails_with_a_reason(client, connection, agent):
    from channels_hub.delivery import deliver_message

    post(client, connection, event())
    ticket = Ticket.objects.get()
    message = reply(ticket=ticket, author=agent, text="Thanks", channel=Channel.PHONE)

    deliver_message({"message_id": message.pk})

    message.refresh_from_db()
    assert message.delivery_status == "failed"
    assert "call the customer back" in message.failure_reason


# --- call-back tasks --------------------------------------------------------------------


def test_a_missed_call_creates_one_callback_task(client, connection):
    post(client, connection, event("ringing"))
    post(client, connection, event("missed"))
    post(client, connection, event("missed"))  # a retry
    post(client, connection, event("voicemail", recording_url="https://pbx.example/r/1.mp3"))

    task = CallbackTask.objects.get()
    ticket = Ticket.objects.get()
    assert task.ticket_id == ticket.pk
    assert task.status == CallbackStatus.OPEN
    assert list(ticket.tags.values_list("name", flat=True)) == ["callback"]
    assert (ticket.priority, ticket.status) == (Priority.HIGH, TicketStatus.OPEN)
    assert "https://pbx.example/r/1.mp3" in Message.objects.get().body_text


def test_with_the_broker_down_a_missed_call_reaches_its_ticket_at_once(
    client, connection, monkeypatch, django_capture_on_commit_callbacks
):
    """No sweep would find a call whose ticket work was never queued: it is done inline."""
    monkeypatch.setattr(celery_app.conf, "task_always_eager", False)

    def broker_down(*args, **kwargs):
        raise BrokerError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(phone_calls.write_call_to_ticket, "apply_async", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        answer = post(client, connection, event("missed"))

    assert answer.status_code == 200
    call = CallRecord.objects.get()
    assert call.ticket_id is not None
    assert CallbackTask.objects.get().ticket_id == call.ticket_id


def test_with_a_worker_a_missed_call_reaches_its_ticket_after_the_answer(
    client, connection, monkeypatch, django_capture_on_commit_callbacks
):
    """Production split: nobody waits on the line, so the PBX gets its answer and the
    ticket, the call-back task and the tag come from a worker (run here by hand)."""
    monkeypatch.setattr(celery_app.conf, "task_always_eager", False)
    queued = []
    monkeypatch.setattr(
        phone_calls.write_call_to_ticket,
        "apply_async",
        lambda args=None, kwargs=None, **options: queued.append(kwargs),
    )
    with django_capture_on_commit_callbacks(execute=True):
        answer = post(client, connection, event("missed"))

    assert answer.status_code == 200
    assert answer.json()["ticket"] is None
    call = CallRecord.objects.get()
    assert call.state == "missed" and call.ticket_id is None
    assert queued == [{"call_id": call.pk, "event": "missed"}]

    phone_calls.write_call_to_ticket(**queued[0])
    phone_calls.write_call_to_ticket(**queued[0])  # a redelivered task changes nothing

    call.refresh_from_db()
    task = CallbackTask.objects.get()
    assert task.ticket_id == call.ticket_id is not None
    assert Message.objects.get().channel == Channel.PHONE
    assert list(Ticket.objects.get().tags.values_list("name", flat=True)) == ["callback"]


def test_callback_list_shows_visible_tasks_and_marking_done_clears_the_tag(
    client, connection, console_client, personas
):
    post(client, connection, event("missed"))
    task = CallbackTask.objects.get()

    page = console_client(personas.agent).get("/console/calls/callbacks/")
    assert page.status_code == 200
    assert f'data-callback="{task.pk}"' in page.content.decode()
    Ticket.objects.filter(pk=task.ticket_id).update(team=personas.team_b)
    hidden = console_client(personas.agent).get("/console/calls/callbacks/")
    assert f'data-callback="{task.pk}"' not in hidden.content.decode()

    done = console_client(personas.outsider).post(f"/console/calls/callbacks/{task.pk}/done/")

    assert done.status_code == 302
    task.refresh_from_db()
    assert task.status == CallbackStatus.DONE
    assert not Ticket.objects.get().tags.exists()
    other = console_client(personas.agent).post(f"/console/calls/callbacks/{task.pk}/done/")
    assert other.status_code == 404


@pytest.mark.parametrize("calls", [2, 12])
def test_the_callback_list_costs_the_same_queries_for_2_or_12_tasks(
    client, connection, console_client, personas, calls, django_assert_max_num_queries
):
    for n in range(calls):
        post(
            client,
            connection,
            event("missed", call_id=f"call-{n}", **{"from": f"+86138001380{n:02d}"}),
        )
    assert CallbackTask.objects.count() == calls
    agent = console_client(personas.agent)

    with django_assert_max_num_queries(6):
        page = agent.get("/console/calls/callbacks/")

    assert page.content.decode().count("data-callback=") == calls


def test_an_answered_call_creates_no_callback(client, connection, agent):
    post(client, connection, event("answered", agent=agent.username))
    post(client, connection, event("ended", duration_seconds=10))
    assert not CallbackTask.objects.exists()


# --- screen pop ---------------------------------------------------------------------------


@pytest.fixture
def listener():
    listening = LayerListener()
    yield listening
    listening.close()


def test_screen_pop_reaches_exactly_the_answering_agents_group(
    client, connection, personas, listener, django_capture_on_commit_callbacks
):
    p = personas
    groups = [
        MANAGERS_GROUP,
        GENERAL_QUEUE_GROUP,
        f"team.{p.team_a.pk}",
        f"store.{p.store_one.pk}",
        *(f"agent.{getattr(p, n).user.pk}" for n in ("agent", "teammate", "outsider", "manager")),
    ]
    listener.join(*groups)

    with django_capture_on_commit_callbacks(execute=True):
        post(client, connection, event("answered", agent={"username": p.agent.user.username}))

    events = listener.received()
    pops = [e for e in events if e["type"].startswith("call.")]
    assert [(e["type"], e["stream"]) for e in pops] == [
        ("call.answered", f"agent.{p.agent.user.pk}")
    ]
    call = CallRecord.objects.get()
    pop = pops[0]
    assert {k: pop[k] for k in ("call_id", "ticket_id", "customer_id")} == {
        "call_id": call.pk,
        "ticket_id": call.ticket_id,
        "customer_id": call.customer_id,
    }
    assert set(pop) == {
        "type",
        "id",
        "stream",
        "seq",
        "seqs",
        "call_id",
        "ticket_id",
        "customer_id",
    }
    assert CALLER not in json.dumps(events)  # thin: no number, no name


def test_ringing_at_an_agent_pops_too_and_a_retry_pops_nothing(
    client, connection, agent, listener, django_capture_on_commit_callbacks
):
    listener.join(f"agent.{agent.pk}")
    with django_capture_on_commit_callbacks(execute=True):
        post(client, connection, event("ringing", agent=agent.username))
    with django_capture_on_commit_callbacks(execute=True):
        post(client, connection, event("ringing", agent=agent.username))

    pops = [e for e in listener.received() if e["type"].startswith("call.")]
    assert [e["type"] for e in pops] == ["call.ringing"]


def test_pop_details_are_served_to_the_agent_of_the_call(client, connection, personas):
    post(client, connection, event("answered", agent=personas.agent.user.username))
    call = CallRecord.objects.get()
    client.force_login(personas.agent.user)

    details = client.get(f"/console/calls/{call.pk}/").json()

    assert (details["number"], details["ticket"]) == (CALLER, call.ticket_id)


def test_the_console_loads_the_screen_pop_script(client, connection, personas):
    post(client, connection, event("answered", agent=personas.agent.user.username))
    client.force_login(personas.agent.user)
    page = client.get(f"/console/tickets/{Ticket.objects.get().pk}/").content.decode()

    assert "phone/screen_pop.js" in page
    assert 'id="screen-pop-config"' in page
    assert 'id="call-panel"' in page


def test_a_manager_connects_the_hotline_on_the_channel_pages(personas, console_client):
    from channels_hub.models import ChannelConnection

    manager = console_client(personas.manager)
    response = manager.post(
        "/console/channels/new/phone/",
        {"name": "Hotline", "is_active": "on", "signing_secret": SECRET, "extensions": "201=x"},
    )

    assert response.status_code == 302
    phone = ChannelConnection.objects.get(channel=Channel.PHONE)
    assert phone.secrets == {"signing_secret": SECRET}
    assert phone.settings["extensions"] == "201=x"
    page = manager.get(f"/console/channels/{phone.pk}/").content.decode()
    assert f"/hooks/phone/{phone.webhook_key}/" in page and SECRET not in page
