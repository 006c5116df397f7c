"""customers.ingest.ingest_events: batches of timeline events, at the service level."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings

from customers.ingest import ingest_events
from customers.models import (
    Customer,
    CustomerEvent,
    CustomerMerge,
    CustomerStatus,
    Identity,
    IdentityKind,
    MergeSuggestion,
)
from omniservice.errors import DomainError
from tests.factories import CustomerEventFactory, CustomerFactory, IdentityFactory, StoreFactory

pytestmark = pytest.mark.django_db

OCCURRED_AT = "2024-05-01T10:00:00+08:00"
_external_ids = itertools.count(1)


def phone(n: int) -> str:
    return f"+86138{n:08d}"


def item(**overrides: Any) -> dict[str, Any]:
    """A valid raw event; keys set to None in ``overrides`` are removed."""
    raw: dict[str, Any] = {
        "kind": "order",
        "source": "shop",
        "external_id": f"order-{next(_external_ids)}",
        "occurred_at": OCCURRED_AT,
        "identities": [{"kind": "phone", "value": "138 0000 0001"}],
        "amount": "199.00",
        "currency": "CNY",
        "data": {"items": 2},
    }
    raw.update(overrides)
    return {key: value for key, value in raw.items() if value is not None}


def ingest(items: list[Any]) -> list[dict[str, Any]]:
    return [result.as_dict() for result in ingest_events(items=items, actor="partner-shop")]


def test_results_come_one_per_item_in_order():
    store = StoreFactory(code="sh-001")
    items = [
        item(external_id="o-1", identities=[{"kind": "phone", "value": "138 0000 0001"}]),
        item(
            kind="store_visit",
            external_id="v-1",
            store="sh-001",
            amount=None,
            currency=None,
            identities=[{"kind": "member_no", "value": "m-2"}],
        ),
        item(
            kind="order_status",
            external_id="o-1-shipped",
            data={"status": "shipped"},
            identities=[{"kind": "phone", "value": "+86 138 0000 0001"}],
        ),
    ]

    results = ingest(items)

    assert [(r["index"], r["status"]) for r in results] == [
        (0, "created"),
        (1, "created"),
        (2, "created"),
    ]
    events = {e.external_id: e for e in CustomerEvent.objects.select_related("customer")}
    for result, raw in zip(results, items, strict=True):
        event = events[raw["external_id"]]
        assert result["event_id"] == event.pk
        assert result["customer_id"] == event.customer.public_id
    assert results[0]["customer_id"] == results[2]["customer_id"] != results[1]["customer_id"]
    order = events["o-1"]
    assert (order.kind, order.source, order.amount, order.currency) == (
        "order",
        "shop",
        Decimal("199.00"),
        "CNY",
    )
    assert order.occurred_at.isoformat() == "2024-05-01T02:00:00+00:00"
    assert order.data == {"items": 2}
    assert events["v-1"].store == store
    assert (events["v-1"].amount, events["v-1"].currency) == (None, "")
    assert events["o-1-shipped"].data == {"status": "shipped"}


BAD_ITEMS = [
    pytest.param("not an event", "invalid_event", None, id="not_an_object"),
    pytest.param(["order"], "invalid_event", None, id="a_list"),
    pytest.param(item(kind="purchase"), "unknown_event_kind", "kind", id="unknown_kind"),
    pytest.param(item(kind=None), "unknown_event_kind", "kind", id="missing_kind"),
    pytest.param(
        item(identities=[{"kind": "phone", "value": "12345"}]),
        "invalid_phone",
        "identities",
        id="invalid_phone",
    ),
    pytest.param(item(identities=None), "missing_identities", "identities", id="no_identities"),
    pytest.param(item(identities=[]), "missing_identities", "identities", id="empty_identities"),
    pytest.param(
        item(identities=[{"kind": "passport", "value": "E1"}]),
        "unknown_identity_kind",
        "identities",
        id="unknown_identity_kind",
    ),
    pytest.param(item(currency=None), "invalid_currency", "currency", id="amount_no_currency"),
    pytest.param(item(currency="rmb"), "invalid_currency", "currency", id="bad_currency"),
    pytest.param(item(amount="12.345"), "invalid_amount", "amount", id="three_decimals"),
    pytest.param(item(amount="lots"), "invalid_amount", "amount", id="amount_not_a_number"),
    pytest.param(item(amount=True), "invalid_amount", "amount", id="amount_boolean"),
    pytest.param(item(store="nowhere"), "unknown_store", "store", id="unknown_store"),
    pytest.param(
        item(occurred_at="2999-01-01T00:00:00+00:00"),
        "occurred_at_in_future",
        "occurred_at",
        id="occurred_in_future",
    ),
    pytest.param(
        item(occurred_at="yesterday"), "invalid_datetime", "occurred_at", id="bad_datetime"
    ),
    pytest.param(item(occurred_at=None), "invalid_datetime", "occurred_at", id="no_datetime"),
    pytest.param(
        item(kind="order_status", data={"note": "no status"}),
        "required",
        "data",
        id="order_status_without_status",
    ),
    pytest.param(
        item(kind="order_status", data={"status": ""}),
        "required",
        "data",
        id="order_status_with_empty_status",
    ),
    pytest.param(
        item(kind="feedback", amount=None, currency=None, data={"rating": 6}),
        "invalid",
        "data",
        id="rating_out_of_range",
    ),
    pytest.param(item(data=["x"]), "invalid", "data", id="data_not_an_object"),
    pytest.param(item(data={"note": "x" * 17_000}), "data_too_large", "data", id="data_too_big"),
    pytest.param(item(source=None), "required", "source", id="no_source"),
    pytest.param(item(source="shop floor"), "invalid", "source", id="malformed_source"),
    pytest.param(item(external_id=None), "required", "external_id", id="no_external_id"),
    pytest.param(item(external_id="x" * 201), "invalid", "external_id", id="long_external_id"),
    pytest.param(item(customer="李雷"), "invalid", "customer", id="customer_not_an_object"),
    pytest.param(item(customer={"language": "fr"}), "invalid", "customer", id="bad_language"),
]


@pytest.mark.parametrize(("bad", "code", "field_name"), BAD_ITEMS)
def test_bad_item_gets_its_own_error_and_the_good_ones_are_stored(bad, code, field_name):
    StoreFactory(code="sh-001")
    good_before = item(identities=[{"kind": "member_no", "value": "M-1"}])
    good_after = item(identities=[{"kind": "member_no", "value": "M-2"}])

    results = ingest([good_before, bad, good_after])

    assert [r["status"] for r in results] == ["created", "error", "created"]
    error = results[1]["error"]
    assert error["code"] == code
    assert error["message"]
    if field_name is not None:
        assert field_name in error["fields"]
    assert "event_id" not in results[1]
    assert set(CustomerEvent.objects.values_list("external_id", flat=True)) == {
        good_before["external_id"],
        good_after["external_id"],
    }
    assert set(Identity.objects.values_list("value", flat=True)) == {"M-1", "M-2"}
    assert Customer.objects.count() == 2


# Items that once raised out of ingest_events and failed the WHOLE batch (a 500 at the
# API) instead of getting their own error.
INGEST_CRASHES = [
    pytest.param(
        item(occurred_at="2024-02-30T10:00:00+08:00"),
        "occurred_at",
        id="impossible_date_raises_ValueError",
    ),
    pytest.param(item(store=["sh-001"]), "store", id="store_not_text_raises_TypeError"),
    pytest.param(
        item(customer={"language": ["en"]}), "customer", id="language_not_text_raises_TypeError"
    ),
    pytest.param(item(amount="1E+999999999"), "amount", id="huge_exponent_raises_decimal_Overflow"),
    # SQLite stores these silently; PostgreSQL refuses NUL in text and \u0000 in jsonb.
    pytest.param(item(external_id="o\x001"), "external_id", id="nul_in_external_id"),
    pytest.param(item(customer={"name": "李\x00雷"}), "customer", id="nul_in_customer_name"),
    pytest.param(item(data={"note": "a\x00b"}), "data", id="nul_in_data"),
]


@pytest.mark.parametrize(("bad", "field_name"), INGEST_CRASHES)
def test_malformed_item_never_fails_the_whole_batch(bad, field_name):
    good = item(identities=[{"kind": "member_no", "value": "M-1"}])

    results = ingest([bad, good])

    assert [r["status"] for r in results] == ["error", "created"]
    assert field_name in results[0]["error"]["fields"]
    assert CustomerEvent.objects.get().external_id == good["external_id"]


def test_batch_of_only_bad_items_stores_nothing():
    results = ingest([item(kind="purchase"), item(identities=[])])

    assert [r["error"]["code"] for r in results] == ["unknown_event_kind", "missing_identities"]
    assert not CustomerEvent.objects.exists()
    assert not Customer.objects.exists()


def test_event_already_stored_is_answered_duplicate_with_the_first_events_id():
    first = item(external_id="o-42")
    [created] = ingest([first])

    [again] = ingest([item(external_id="o-42", kind="return", amount="-5.00")])

    assert again == {
        "index": 0,
        "status": "duplicate",
        "event_id": created["event_id"],
        "customer_id": created["customer_id"],
    }
    assert CustomerEvent.objects.get().kind == "order"


def test_same_external_id_from_another_source_is_a_different_event():
    ingest([item(source="shop", external_id="o-1")])

    [result] = ingest([item(source="pos", external_id="o-1")])

    assert result["status"] == "created"
    assert CustomerEvent.objects.count() == 2


def test_duplicate_within_one_batch_is_stored_once():
    results = ingest(
        [
            item(external_id="o-7"),
            item(external_id="o-8"),
            item(external_id="o-7", identities=[{"kind": "member_no", "value": "M-OTHER"}]),
        ]
    )

    assert [r["status"] for r in results] == ["created", "created", "duplicate"]
    assert results[2]["event_id"] == results[0]["event_id"]
    assert results[2]["customer_id"] == results[0]["customer_id"]
    assert CustomerEvent.objects.filter(external_id="o-7").count() == 1
    assert not Identity.objects.filter(value="M-OTHER").exists()


def test_items_sharing_a_new_identity_within_a_batch_land_on_one_new_customer():
    results = ingest(
        [
            item(identities=[{"kind": "phone", "value": "138 0000 0001"}]),
            item(
                identities=[
                    {"kind": "email", "value": "Li@Example.com"},
                    {"kind": "phone", "value": "+8613800000001"},
                ]
            ),
            item(
                identities=[
                    {"kind": "web_visitor_id", "value": "v-1"},
                    {"kind": "email", "value": "li@example.com", "verified": True},
                ]
            ),
            item(identities=[{"kind": "phone", "value": "138 0000 0002"}]),
        ]
    )

    assert len({r["customer_id"] for r in results[:3]}) == 1
    assert results[3]["customer_id"] != results[0]["customer_id"]
    assert Customer.objects.count() == 2
    shared = Customer.objects.get(public_id=results[0]["customer_id"])
    assert set(shared.identities.values_list("kind", "value", "verified")) == {
        ("phone", phone(1), False),
        ("email", "li@example.com", True),
        ("web_visitor_id", "v-1", False),
    }
    assert shared.events.count() == 3


def test_new_customer_takes_the_profile_sent_with_its_events():
    [result] = ingest([item(customer={"name": " 李雷 ", "language": "en"})])

    customer = Customer.objects.get(public_id=result["customer_id"])
    assert (customer.name, customer.language) == ("李雷", "en")


def test_events_of_a_known_customer_go_to_it_and_add_new_identities():
    customer = CustomerFactory()
    IdentityFactory(customer=customer, kind=IdentityKind.PHONE, value=phone(1))

    results = ingest(
        [
            item(
                identities=[
                    {"kind": "phone", "value": "138 0000 0001", "verified": True},
                    {"kind": "wechat_openid", "value": "o-1"},
                ]
            ),
            item(identities=[{"kind": "wechat_openid", "value": "o-1"}]),
        ]
    )

    assert {r["customer_id"] for r in results} == {customer.public_id}
    assert Customer.objects.count() == 1
    assert set(customer.identities.values_list("kind", "verified")) == {
        ("phone", True),
        ("wechat_openid", False),
    }
    assert customer.events.count() == 2


def test_item_linking_two_customers_strongly_merges_them_and_reports_the_survivor():
    oldest, newer = CustomerFactory(), CustomerFactory()
    IdentityFactory(customer=oldest, kind=IdentityKind.MEMBER_NO, value="M-1")
    IdentityFactory(customer=newer, kind=IdentityKind.PHONE, value=phone(9), verified=True)
    old_event = CustomerEventFactory(customer=newer, source="pos", external_id="old")

    results = ingest(
        [
            item(external_id="for-newer", identities=[{"kind": "phone", "value": phone(9)}]),
            item(
                external_id="link",
                identities=[
                    {"kind": "member_no", "value": "m-1"},
                    {"kind": "phone", "value": phone(9), "verified": True},
                ],
            ),
            item(source="pos", external_id="old"),
        ]
    )

    newer.refresh_from_db()
    assert (newer.status, newer.merged_into) == (CustomerStatus.MERGED, oldest)
    assert [r["status"] for r in results] == ["created", "created", "duplicate"]
    assert {r["customer_id"] for r in results} == {oldest.public_id}
    assert results[2]["event_id"] == old_event.pk
    assert set(CustomerEvent.objects.values_list("customer", flat=True)) == {oldest.pk}
    assert CustomerMerge.objects.get().source == newer


def test_item_linking_two_customers_weakly_suggests_a_merge():
    first, second = CustomerFactory(), CustomerFactory()
    IdentityFactory(customer=first, kind=IdentityKind.WEB_VISITOR_ID, value="v-1")
    IdentityFactory(customer=second, kind=IdentityKind.PHONE, value=phone(3))

    [result] = ingest(
        [
            item(
                identities=[
                    {"kind": "web_visitor_id", "value": "v-1"},
                    {"kind": "phone", "value": phone(3)},
                ]
            )
        ]
    )

    assert result["customer_id"] == second.public_id
    assert Customer.objects.filter(status="active").count() == 2
    suggestion = MergeSuggestion.objects.get()
    assert (suggestion.customer_a, suggestion.customer_b) == (first, second)


# --- whole-batch refusals ---------------------------------------------------------------


def test_batch_limit_is_1000_events():
    assert settings.API_EVENT_BATCH_LIMIT == 1000


def test_batch_over_the_limit_is_refused_whole():
    items = [item() for _ in range(settings.API_EVENT_BATCH_LIMIT + 1)]

    with pytest.raises(DomainError) as caught:
        ingest_events(items=items, actor="partner-shop")

    assert caught.value.code == "batch_too_large"
    assert not CustomerEvent.objects.exists()
    assert not Customer.objects.exists()


def test_batch_at_the_limit_is_accepted(settings):
    settings.API_EVENT_BATCH_LIMIT = 3

    assert len(ingest([item(), item(), item()])) == 3
    with pytest.raises(DomainError) as caught:
        ingest([item(), item(), item(), item()])
    assert caught.value.code == "batch_too_large"
    assert CustomerEvent.objects.count() == 3


def test_empty_batch_is_refused():
    with pytest.raises(DomainError) as caught:
        ingest_events(items=[], actor="partner-shop")

    assert caught.value.code == "empty_batch"


@pytest.mark.parametrize("items", [None, {"events": []}, "[]"])
def test_batch_that_is_not_a_list_is_refused(items):
    with pytest.raises(DomainError) as caught:
        ingest_events(items=items, actor="partner-shop")

    assert caught.value.code == "invalid_batch"


# --- cost -------------------------------------------------------------------------------

# Measured (savepoint and release included): 10 queries on PostgreSQL, 12 on SQLite where
# the bulk insert of events is split in three (999 parameters per statement).
MAX_QUERIES_FOR_200_EVENTS = {"postgresql": 10 + 2, "sqlite": 12 + 2}


def test_batch_of_200_events_for_known_customers_takes_a_bounded_number_of_queries(
    django_assert_max_num_queries, is_postgres
):
    StoreFactory(code="sh-001")
    customers = CustomerFactory.create_batch(50)
    for n, customer in enumerate(customers):
        IdentityFactory(customer=customer, kind=IdentityKind.PHONE, value=phone(n))
    already = CustomerEventFactory(customer=customers[0], source="shop", external_id="dup-0")
    items = [
        item(
            external_id=f"o-{n}",
            store="sh-001",
            identities=[
                {"kind": "phone", "value": phone(n % 50), "verified": n % 3 == 0},
                {"kind": "app_user_id", "value": f"app-{n % 50}"},
            ],
        )
        for n in range(199)
    ]
    items.append(item(external_id="dup-0", identities=[{"kind": "phone", "value": phone(0)}]))

    with django_assert_max_num_queries(
        MAX_QUERIES_FOR_200_EVENTS["postgresql" if is_postgres else "sqlite"]
    ):
        results = ingest(items)

    assert [r["status"] for r in results].count("created") == 199
    assert results[-1]["event_id"] == already.pk
    assert CustomerEvent.objects.count() == 200
    assert Customer.objects.count() == 50
    assert Identity.objects.filter(kind="app_user_id").count() == 50
    assert Identity.objects.filter(kind="phone", verified=True).count() == 50
