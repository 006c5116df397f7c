"""One person crosses channels: WhatsApp, then email, then a store visit, then web chat.
Each arrives the way it does in production (a signed webhook, an email through the
ingest, the store's entry, the chat widget) and all of it ends on one customer and one
ticket whose timeline holds the four channels."""

from __future__ import annotations

import json

import pytest

from channels_hub.adapters.meta import meta_signature
from channels_hub.email_ingest import ingest_email
from customers.models import Customer, IdentityKind
from tests.channels_hub import email_samples as samples
from tests.channels_hub.conftest import webhook_url
from tests.channels_hub.test_whatsapp import APP_SECRET, text_payload
from tests.factories import CustomerFactory, IdentityFactory, StoreFactory
from tickets.models import Channel, Message, Ticket

pytestmark = pytest.mark.django_db

PHONE = "+16505551234"  # the WhatsApp sender of text_payload()


@pytest.fixture
def member():
    """A loyalty member the brand already knows by phone, email and card."""
    customer = CustomerFactory(name="Sheena Nelson")
    IdentityFactory(customer=customer, kind=IdentityKind.PHONE, value=PHONE, verified=True)
    IdentityFactory(customer=customer, kind=IdentityKind.EMAIL, value=samples.CUSTOMER)
    IdentityFactory(customer=customer, kind=IdentityKind.MEMBER_NO, value="M-880012")
    return customer


def whatsapp(client, make_connection):
    connection = make_connection(
        Channel.WHATSAPP,
        secrets={"app_secret": APP_SECRET, "access_token": "t", "verify_token": "v"},
        phone_number_id="1",
    )
    body = json.dumps(text_payload(body="Is the blue coat in stock?")).encode()
    response = client.post(
        webhook_url(connection),
        body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=meta_signature(APP_SECRET, body),
    )
    assert response.status_code == 200


def email(settings):
    connection = samples.make_email_connection()
    outcome = ingest_email(
        samples.plain(body="I can come to the store on Saturday.").as_bytes(),
        connection=connection,
    )
    assert outcome.status == "stored"


def store_visit(partner, store):
    response = partner.post(
        "/api/v1/messages/",
        {
            "channel": "store",
            "external_id": "visit-2026-12-05-0931",
            "identities": [{"kind": "member_no", "value": "M-880012"}],
            "text": "Tried the coat on in the store; wants size M delivered.",
            "store": store.code,
        },
        format="json",
    )
    assert response.status_code == 201, response.content


def test_whatsapp_then_email_then_store_visit_is_one_customer_and_one_ticket(
    client, make_connection, partner, member, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    store = StoreFactory(code="sh-001")

    whatsapp(client, make_connection)
    email(settings)
    store_visit(partner, store)

    assert Customer.objects.filter(status="active").count() == 1
    ticket = Ticket.objects.get()
    assert ticket.customer_id == member.pk
    channels = list(ticket.messages.order_by("created_at").values_list("channel", flat=True))
    assert channels == [Channel.WHATSAPP, Channel.EMAIL, Channel.STORE]
    assert ticket.store_id == store.pk  # the store now sees the whole conversation
    assert Message.objects.count() == 3
