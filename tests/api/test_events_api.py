"""POST /api/v1/events/: batches of timeline events, one result per item."""

from __future__ import annotations

import json

import pytest
from django.conf import settings as django_settings

from customers.models import Customer, CustomerEvent, Identity, IdentityKind
from tests.api.assertions import error_of
from tests.factories import CustomerEventFactory, IdentityFactory, StoreFactory

pytestmark = pytest.mark.django_db

EVENTS = "/api/v1/events/"


def order(external_id: str, **overrides) -> dict:
    item = {
        "kind": "order",
        "source": "shop",
        "external_id": external_id,
        "occurred_at": "2025-03-01T10:00:00+08:00",
        "amount": "199.00",
        "currency": "CNY",
        "identities": [{"kind": "member_no", "value": f"M-{external_id}"}],
    }
    item.update(overrides)
    return item


def post_batch(client, items):
    return client.post(EVENTS, {"events": items}, format="json")


def test_batch_stores_every_valid_event_with_a_result_per_item(partner):
    store = StoreFactory(code="sh-001")
    known = IdentityFactory(kind=IdentityKind.EMAIL, value="wang@example.com").customer
    phone = [{"kind": "phone", "value": "138 0013 8000"}]

    response = post_batch(
        partner,
        [
            order("o-1", identities=phone, customer={"name": "李雷"}),
            order("o-2", identities=phone, kind="return", amount="-50.5", store="sh-001"),
            order(
                "v-1",
                kind="store_visit",
                amount=None,
                identities=[{"kind": "email", "value": "WANG@example.com"}],
                store="sh-001",
            ),
        ],
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["created"], body["duplicates"], body["errors"]) == (3, 0, 0)
    assert "error" not in body
    assert [r["index"] for r in body["results"]] == [0, 1, 2]
    assert all(r["status"] == "created" for r in body["results"])
    new_customer = Identity.objects.get(kind="phone", value="+8613800138000").customer
    assert new_customer.name == "李雷"
    assert [r["customer_id"] for r in body["results"]] == [
        new_customer.public_id,
        new_customer.public_id,
        known.public_id,
    ]
    events = {e.pk: e for e in CustomerEvent.objects.all()}
    assert set(events) == {r["event_id"] for r in body["results"]}
    returned = events[body["results"][1]["event_id"]]
    assert (returned.kind, str(returned.amount), returned.currency, returned.store) == (
        "return",
        "-50.50",
        "CNY",
        store,
    )


def test_stored_events_show_on_the_customer_timeline(partner):
    post_batch(partner, [order("o-1", data={"items": [{"sku": "A1", "qty": 2}]})])
    customer = Identity.objects.get(value="M-O-1").customer

    timeline = partner.get(f"/api/v1/customers/{customer.public_id}/timeline/").json()

    (event,) = timeline["results"]
    assert (event["kind"], event["source"], event["external_id"]) == ("order", "shop", "o-1")
    assert event["amount"] == "199.00"
    assert event["data"] == {"items": [{"sku": "A1", "qty": 2}]}


def test_malformed_json_is_400_malformed_request_and_stores_nothing(partner):
    response = partner.post(
        EVENTS, '{"events": [{"kind": "order",', content_type="application/json"
    )

    error_of(response, 400, "malformed_request")
    assert not CustomerEvent.objects.exists()


@pytest.mark.parametrize(
    "body",
    [{"items": [order("o-1")]}, [order("o-1")], {"events": "o-1"}, {"events": {"0": order("o")}}],
    ids=["no-events-key", "bare-list", "events-not-a-list", "events-an-object"],
)
def test_body_without_an_events_list_is_400_invalid_batch(partner, body):
    response = partner.post(EVENTS, body, format="json")

    error = error_of(response, 400, "invalid_batch")
    assert "events" in error["fields"]
    assert not CustomerEvent.objects.exists()


def test_empty_batch_is_400(partner):
    error_of(post_batch(partner, []), 400, "empty_batch")


def test_invalid_items_get_their_own_error_while_the_others_are_stored(partner):
    response = post_batch(
        partner,
        [
            order("o-1"),
            order("o-2", kind="teleport"),
            order("o-3", identities=[{"kind": "phone", "value": "12345"}]),
            order("o-4", identities=[]),
            {key: value for key, value in order("o-5").items() if key != "identities"},
            order("o-6", store="nowhere"),
            order("o-7", amount="12.999"),
            order("o-8"),
        ],
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["created"], body["duplicates"], body["errors"]) == (2, 0, 6)
    results = body["results"]
    assert [r["status"] for r in results] == ["created"] + ["error"] * 6 + ["created"]
    codes = [r["error"]["code"] for r in results[1:7]]
    assert codes == [
        "unknown_event_kind",
        "invalid_phone",
        "missing_identities",
        "missing_identities",
        "unknown_store",
        "invalid_amount",
    ]
    assert "kind" in results[1]["error"]["fields"]
    assert "identities" in results[2]["error"]["fields"]
    assert "identities" in results[3]["error"]["fields"]
    assert all(r["error"]["message"] for r in results[1:7])
    assert all("event_id" not in r for r in results[1:7])
    assert set(CustomerEvent.objects.values_list("external_id", flat=True)) == {"o-1", "o-8"}


def test_batch_where_every_item_is_invalid_is_400_invalid_events(partner):
    response = post_batch(partner, [order("o-1", kind="teleport"), order("o-2", identities=[])])

    error_of(response, 400, "invalid_events")
    body = response.json()
    assert body["errors"] == 2
    assert [r["error"]["code"] for r in body["results"]] == [
        "unknown_event_kind",
        "missing_identities",
    ]
    assert not CustomerEvent.objects.exists()
    assert not Customer.objects.exists()


def test_batch_over_the_limit_is_400_and_stores_nothing(partner):
    items = [order(f"o-{n}") for n in range(django_settings.API_EVENT_BATCH_LIMIT + 1)]
    assert len(items) == 1001

    error_of(post_batch(partner, items), 400, "batch_too_large")

    assert not CustomerEvent.objects.exists()
    assert not Customer.objects.exists()


def test_batch_at_the_limit_is_accepted(partner, settings):
    settings.API_EVENT_BATCH_LIMIT = 5

    accepted = post_batch(partner, [order(f"o-{n}") for n in range(5)])
    refused = post_batch(partner, [order(f"p-{n}") for n in range(6)])

    assert accepted.status_code == 200
    assert accepted.json()["created"] == 5
    error_of(refused, 400, "batch_too_large")
    assert CustomerEvent.objects.count() == 5


def test_resending_a_batch_answers_duplicates_and_stores_nothing_new(partner):
    items = [order("o-1"), order("o-2", identities=[{"kind": "phone", "value": "13800138000"}])]
    first = post_batch(partner, items).json()
    counts = (CustomerEvent.objects.count(), Customer.objects.count(), Identity.objects.count())

    again = post_batch(partner, items)

    assert again.status_code == 200
    body = again.json()
    assert (body["created"], body["duplicates"], body["errors"]) == (0, 2, 0)
    assert [r["status"] for r in body["results"]] == ["duplicate", "duplicate"]
    assert [(r["event_id"], r["customer_id"]) for r in body["results"]] == [
        (r["event_id"], r["customer_id"]) for r in first["results"]
    ]
    assert (
        CustomerEvent.objects.count(),
        Customer.objects.count(),
        Identity.objects.count(),
    ) == counts


def test_an_event_already_stored_by_another_path_is_a_duplicate(partner):
    existing = CustomerEventFactory(source="shop", external_id="o-1")

    body = post_batch(partner, [order("o-1")]).json()

    assert body["results"] == [
        {
            "index": 0,
            "status": "duplicate",
            "event_id": existing.pk,
            "customer_id": existing.customer.public_id,
        }
    ]


def test_the_same_event_twice_in_one_batch_is_stored_once(partner):
    body = post_batch(partner, [order("o-1"), order("o-1")]).json()

    assert [r["status"] for r in body["results"]] == ["created", "duplicate"]
    assert body["results"][0]["event_id"] == body["results"][1]["event_id"]
    assert CustomerEvent.objects.count() == 1


@pytest.mark.parametrize(
    ("content_type", "payload"),
    [
        ("text/plain", json.dumps({"events": [order("o-1")]})),
        ("application/x-www-form-urlencoded", "events=o-1"),
        ("application/xml", "<events/>"),
    ],
)
def test_non_json_body_is_415(partner, content_type, payload):
    response = partner.post(EVENTS, payload, content_type=content_type)

    error_of(response, 415, "unsupported_media_type")
    assert not CustomerEvent.objects.exists()


def test_multipart_body_is_415(partner):
    response = partner.post(EVENTS, {"events": "o-1"}, format="multipart")

    error_of(response, 415, "unsupported_media_type")


def test_batch_query_count_does_not_grow_with_the_batch(partner, django_assert_max_num_queries):
    StoreFactory(code="sh-001")
    partner.get("/api/v1/stores/")  # the key's last_used_at is written once

    # 9 queries for any batch, plus a few when SQLite splits a bulk insert into chunks;
    # one resolution per item would be hundreds.
    with django_assert_max_num_queries(12):
        small = post_batch(partner, [order(f"a-{n}", store="sh-001") for n in range(5)])
    with django_assert_max_num_queries(12):
        big = post_batch(partner, [order(f"b-{n}", store="sh-001") for n in range(100)])

    assert small.json()["created"] == 5
    assert big.json()["created"] == 100
