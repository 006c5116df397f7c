"""Store and kiosk: the store tablet's interaction form (own store only), the kiosk
posting through the generic API channel with its store, and the handover of an online
conversation to a store (visible to its staff, announced to the store group)."""

from __future__ import annotations

import pytest
from django.utils import translation

from customers.identity import IdentityClaim
from customers.models import Customer, Identity, IdentityKind
from omniservice.org.models import Role
from tests.factories import CustomerFactory, IdentityFactory, StaffProfileFactory, TeamFactory
from tests.layer_listener import LayerListener
from tickets.models import Channel, Direction, Message, Ticket
from tickets.services import hand_over_to_store, thread_inbound_message
from tickets.visibility import can_see, tickets_visible_to

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english(settings):
    """System text is stored in the site's language: English here, whatever is compiled."""
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


PHONE = "+8613800138000"


def interaction(**fields) -> dict:
    data = {
        "kind": "pickup",
        "phone": "13800138000",
        "member_no": "",
        "name": "王芳",
        "text": "Picked up the reserved jacket",
        "token": "form-token-1",
    }
    data.update(fields)
    return data


def store_url(store) -> str:
    return f"/console/store/{store.code}/"


# --- the store tablet ---------------------------------------------------------------------


def test_store_staff_log_a_visit_as_a_store_message_on_the_customers_ticket(
    personas, console_client
):
    customer = CustomerFactory(name="王芳")
    IdentityFactory(customer=customer, kind=IdentityKind.PHONE, value=PHONE)
    clerk = console_client(personas.store_clerk)

    response = clerk.post(store_url(personas.store_one), interaction())

    assert response.status_code == 302
    message = Message.objects.get()
    assert (message.channel, message.direction) == (Channel.STORE, Direction.INBOUND)
    assert message.store_id == personas.store_one.pk
    assert message.ticket.customer_id == customer.pk
    assert message.ticket.store_id == personas.store_one.pk
    assert "Pickup" in message.body_text and "Picked up the reserved jacket" in message.body_text
    assert personas.store_clerk.display_name in message.body_text
    assert can_see(personas.store_clerk.user, message.ticket)


def test_a_double_submit_of_the_same_form_is_stored_once(personas, console_client):
    clerk = console_client(personas.store_clerk)
    clerk.post(store_url(personas.store_one), interaction())
    clerk.post(store_url(personas.store_one), interaction())
    assert Message.objects.count() == 1


def test_a_visitor_found_by_member_number_or_created(personas, console_client):
    member = CustomerFactory(name="李雷")
    IdentityFactory(customer=member, kind=IdentityKind.MEMBER_NO, value="M0001")
    clerk = console_client(personas.store_clerk)

    clerk.post(store_url(personas.store_one), interaction(phone="", member_no="M0001"))
    clerk.post(
        store_url(personas.store_one),
        interaction(phone="13900139000", kind="repair", name="New visitor", token="t2"),
    )

    assert Message.objects.get(ticket__customer=member).channel == Channel.STORE
    created = Identity.objects.get(kind=IdentityKind.PHONE, value="+8613900139000").customer
    assert created.name == "New visitor"
    assert Customer.objects.count() == 2


@pytest.mark.parametrize(
    "fields",
    [{"phone": "", "member_no": ""}, {"kind": "party"}, {"phone": "not a phone"}],
    ids=["no-identity", "unknown-kind", "bad-phone"],
)
def test_bad_interaction_input_is_shown_again_with_no_write(personas, console_client, fields):
    response = console_client(personas.store_clerk).post(
        store_url(personas.store_one), interaction(**fields)
    )
    assert response.status_code == 400
    assert 'id="interaction-form"' in response.content.decode()
    assert not Message.objects.exists()


def test_store_staff_of_another_store_get_404(personas, console_client):
    clerk = console_client(personas.store_clerk)
    assert clerk.get(store_url(personas.store_two)).status_code == 404
    assert clerk.post(store_url(personas.store_two), interaction()).status_code == 404
    assert not Message.objects.exists()


def test_contact_centre_agents_have_no_store_page_and_managers_any(personas, console_client):
    agent = console_client(personas.agent)
    assert agent.get(store_url(personas.store_one)).status_code == 403
    assert agent.post(store_url(personas.store_one), interaction()).status_code == 403
    assert console_client(personas.manager).get(store_url(personas.store_two)).status_code == 200
    assert not Message.objects.exists()


def test_store_home_leads_the_clerk_to_their_store(personas, console_client):
    response = console_client(personas.store_clerk).get("/console/store/")
    assert response.status_code == 302
    assert response["Location"] == store_url(personas.store_one)


def test_the_tablet_lists_only_the_stores_open_tickets(personas, console_client):
    ours = thread_inbound_message(
        channel=Channel.STORE,
        external_id=None,
        identities=[IdentityClaim(IdentityKind.PHONE, PHONE)],
        text="Size question",
        store=personas.store_one,
    ).ticket
    theirs = thread_inbound_message(
        channel=Channel.STORE,
        external_id=None,
        identities=[IdentityClaim(IdentityKind.PHONE, "+8613900139000")],
        text="Other store",
        store=personas.store_two,
    ).ticket

    page = console_client(personas.store_clerk).get(store_url(personas.store_one))

    html = page.content.decode()
    assert f"/console/tickets/{ours.pk}/" in html
    assert f"/console/tickets/{theirs.pk}/" not in html


@pytest.mark.parametrize("visitors", [2, 12])
def test_the_tablet_costs_the_same_queries_for_2_or_12_open_tickets(
    personas, console_client, visitors, django_assert_max_num_queries
):
    for n in range(visitors):
        thread_inbound_message(
            channel=Channel.STORE,
            external_id=None,
            identities=[IdentityClaim(IdentityKind.PHONE, f"+86139001390{n:02d}")],
            text="Size question",
            store=personas.store_one,
        )
    clerk = console_client(personas.store_clerk)

    with django_assert_max_num_queries(5):
        page = clerk.get(store_url(personas.store_one))

    assert page.content.decode().count("/console/tickets/") >= visitors


def test_strangers_go_to_the_login(client, personas):
    response = client.get(store_url(personas.store_one))
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


# --- the kiosk --------------------------------------------------------------------------


def test_a_kiosk_posts_through_the_generic_api_with_its_store(partner, personas):
    response = partner.post(
        "/api/v1/messages/",
        {
            "channel": "kiosk",
            "external_id": "kiosk-sh-001-000123",
            "store": personas.store_one.code,
            "identities": [{"kind": "phone", "value": "13800138000"}],
            "text": "The self-service printer is out of paper",
            "customer": {"name": "王芳"},
        },
        format="json",
    )

    assert response.status_code == 201
    message = Message.objects.get()
    assert (message.channel, message.store_id) == (Channel.KIOSK, personas.store_one.pk)
    assert message.ticket.store_id == personas.store_one.pk
    assert can_see(personas.store_clerk.user, message.ticket)
    assert message.ticket in tickets_visible_to(personas.store_clerk.user)


def test_a_kiosk_message_sent_twice_is_stored_once(partner, personas):
    body = {
        "channel": "kiosk",
        "external_id": "kiosk-sh-001-000124",
        "store": personas.store_one.code,
        "identities": [{"kind": "phone", "value": PHONE}],
        "text": "Hello",
    }
    first = partner.post("/api/v1/messages/", body, format="json")
    second = partner.post("/api/v1/messages/", body, format="json")
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["duplicate"] is True
    assert Message.objects.count() == 1


def test_a_kiosk_with_an_unknown_store_code_is_refused(partner):
    response = partner.post(
        "/api/v1/messages/",
        {
            "channel": "kiosk",
            "external_id": "kiosk-x-1",
            "store": "nowhere",
            "identities": [{"kind": "phone", "value": PHONE}],
            "text": "Hello",
        },
        format="json",
    )
    assert response.status_code == 400
    assert "store" in response.json()["error"]["fields"]
    assert not Message.objects.exists()


def test_a_kiosk_reply_is_sent_for_the_kiosk_to_read(partner, personas):
    from channels_hub.delivery import deliver_message
    from tickets.services import reply

    partner.post(
        "/api/v1/messages/",
        {
            "channel": "kiosk",
            "external_id": "kiosk-sh-001-000125",
            "store": personas.store_one.code,
            "identities": [{"kind": "phone", "value": PHONE}],
            "text": "Where is the fitting room?",
        },
        format="json",
    )
    answer = reply(ticket=Ticket.objects.get(), author=personas.store_clerk.user, text="Floor 2")

    deliver_message({"message_id": answer.pk})

    answer.refresh_from_db()
    assert (answer.channel, answer.delivery_status) == (Channel.KIOSK, "sent")


# --- handover to a store ---------------------------------------------------------------


@pytest.fixture
def online_ticket(personas):
    return thread_inbound_message(
        channel=Channel.WHATSAPP,
        external_id="wamid.handover",
        identities=[IdentityClaim(IdentityKind.PHONE, PHONE)],
        text="Do you have the jacket in size 42?",
    ).ticket


def test_handover_makes_the_ticket_and_its_history_visible_to_the_stores_staff(
    personas, online_ticket, console_client
):
    clerk = personas.store_clerk.user
    assert not can_see(clerk, online_ticket)

    response = console_client(personas.agent).post(
        f"/console/store/handover/{online_ticket.pk}/",
        {
            "store": personas.store_one.code,
            "reason": "Reserved the last size 42",
            "reply": "Visit us, we have reserved it",
        },
        HTTP_ACCEPT="application/json",
    )

    assert response.status_code == 200
    ticket = Ticket.objects.get()
    assert ticket.store_id == personas.store_one.pk
    assert can_see(clerk, ticket)
    page = console_client(personas.store_clerk).get(f"/console/tickets/{ticket.pk}/")
    assert page.status_code == 200
    assert "Do you have the jacket in size 42?" in page.content.decode()
    note = Message.objects.get(direction=Direction.NOTE)
    assert "Reserved the last size 42" in note.body_text
    outbound = Message.objects.get(direction=Direction.OUTBOUND)
    assert (outbound.channel, outbound.body_text) == (
        Channel.WHATSAPP,
        "Visit us, we have reserved it",
    )


def test_handover_gives_the_ticket_to_the_stores_own_team(personas, online_ticket):
    store_team = TeamFactory(slug="sh-001-team", store=personas.store_one)

    ticket = hand_over_to_store(
        ticket=online_ticket, store=personas.store_one, actor=personas.agent.user, reason="r"
    )

    assert (ticket.store_id, ticket.team_id) == (personas.store_one.pk, store_team.pk)
    assert not Message.objects.filter(direction=Direction.OUTBOUND).exists()


def test_handover_is_announced_to_the_store_group_and_the_queue_it_left(
    personas, online_ticket, django_capture_on_commit_callbacks
):
    listener = LayerListener()
    try:
        listener.join(
            f"store.{personas.store_one.pk}",
            f"store.{personas.store_two.pk}",
            "queue.general",
        )
        with django_capture_on_commit_callbacks(execute=True):
            hand_over_to_store(
                ticket=online_ticket,
                store=personas.store_one,
                actor=personas.agent.user,
                reason="Reserved",
            )
        events = listener.received()
    finally:
        listener.close()

    routes = {(e["type"], e["stream"]) for e in events}
    assert ("ticket.updated", f"store.{personas.store_one.pk}") in routes
    assert ("message.added", f"store.{personas.store_one.pk}") in routes
    assert ("ticket.updated", "queue.general") in routes  # it leaves the general queue
    assert not any(stream == f"store.{personas.store_two.pk}" for _t, stream in routes)
    updated = next(e for e in events if e["type"] == "ticket.updated")
    assert updated["store_id"] == personas.store_one.pk
    assert "store" in updated["changed"]


@pytest.mark.parametrize(
    "data, code",
    [({"store": "sh-001", "reason": ""}, 400), ({"store": "nowhere", "reason": "x"}, 400)],
    ids=["no-reason", "unknown-store"],
)
def test_bad_handover_is_refused_with_no_write(personas, online_ticket, console_client, data, code):
    response = console_client(personas.agent).post(
        f"/console/store/handover/{online_ticket.pk}/", data, HTTP_ACCEPT="application/json"
    )
    assert response.status_code == code
    assert "error" in response.json()
    assert Ticket.objects.get().store_id is None
    assert not Message.objects.filter(direction=Direction.NOTE).exists()


def test_handover_of_a_ticket_the_agent_cannot_see_is_404(personas, online_ticket, console_client):
    Ticket.objects.filter(pk=online_ticket.pk).update(team=personas.team_a)
    response = console_client(personas.outsider).post(
        f"/console/store/handover/{online_ticket.pk}/", {"store": "sh-001", "reason": "x"}
    )
    assert response.status_code == 404
    assert Ticket.objects.get().store_id is None


def test_the_ticket_page_offers_the_handover_form(personas, online_ticket, console_client):
    page = console_client(personas.agent).get(f"/console/tickets/{online_ticket.pk}/")
    html = page.content.decode()
    assert 'id="handover-form"' in html
    assert personas.store_one.code in html


def test_store_staff_role_needs_no_team_to_see_a_handed_over_ticket(personas, online_ticket):
    other_clerk = StaffProfileFactory(role=Role.STORE_STAFF, home_store=personas.store_two).user
    hand_over_to_store(
        ticket=online_ticket, store=personas.store_one, actor=personas.agent.user, reason="x"
    )
    ticket = Ticket.objects.get()
    assert can_see(personas.store_clerk.user, ticket)
    assert not can_see(other_clerk, ticket)


def test_the_tablet_and_the_call_backs_speak_chinese(personas, client):
    client.force_login(personas.store_clerk.user)

    tablet = client.get(store_url(personas.store_one), HTTP_ACCEPT_LANGUAGE="zh-hans")
    callbacks = client.get("/console/calls/callbacks/", HTTP_ACCEPT_LANGUAGE="zh-hans")

    for text in ["记录到店", "取货", "送修", "投诉", "保存到客户工单"]:
        assert text in tablet.content.decode()
    assert "待回电话" in callbacks.content.decode()


def test_handover_puts_the_ticket_in_the_stores_queue(personas, online_ticket):
    from tickets.services import assign

    assign(ticket=online_ticket, actor=None, assignee=personas.agent.user)

    ticket = hand_over_to_store(
        ticket=online_ticket, store=personas.store_one, actor=personas.agent.user, reason="x"
    )

    assert ticket.assignee_id is None
    clerk_ticket = hand_over_to_store(
        ticket=assign(ticket=ticket, actor=None, assignee=personas.store_clerk.user),
        store=personas.store_one,
        actor=personas.agent.user,
        reason="again",
    )
    assert clerk_ticket.assignee_id == personas.store_clerk.user.pk  # works there: kept
