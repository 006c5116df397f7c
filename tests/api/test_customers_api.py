"""The customers endpoints: list, retrieve, create, update, merge, lookup and timeline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from customers.models import (
    Customer,
    CustomerStatus,
    Identity,
    IdentityKind,
    Tag,
    ValueTier,
)
from omniservice.api.keys import create_api_key
from omniservice.api.models import ApiKey
from tests.api.assertions import error_of
from tests.conftest import api_client_for_key
from tests.factories import (
    CustomerEventFactory,
    CustomerFactory,
    IdentityFactory,
    StoreFactory,
)

pytestmark = pytest.mark.django_db

LIST = "/api/v1/customers/"
T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


def detail(customer: Customer | str, suffix: str = "") -> str:
    public_id = customer if isinstance(customer, str) else customer.public_id
    return f"/api/v1/customers/{public_id}/{suffix}"


def ids_of(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["results"]]


def customer_with(
    *, email: str | None = None, phone: str | None = None, tags: tuple[str, ...] = (), **fields
) -> Customer:
    customer = CustomerFactory(**fields)
    if email:
        IdentityFactory(customer=customer, kind=IdentityKind.EMAIL, value=email)
    if phone:
        IdentityFactory(customer=customer, kind=IdentityKind.PHONE, value=phone)
    for name in tags:
        customer.tags.add(Tag.objects.get_or_create(name=name)[0])
    return customer


def item_errors(errors, index: int) -> dict:
    """The errors of one item of a list field (DRF keys them by index, or lists them)."""
    return errors[str(index)] if isinstance(errors, dict) else errors[index]


def set_updated_at(customer: Customer, when: datetime) -> None:
    Customer.objects.filter(pk=customer.pk).update(updated_at=when)


def merged_pair() -> tuple[Customer, Customer]:
    """(source, target): the source is a tombstone merged into the target."""
    target = customer_with(email="target@example.com")
    source = customer_with(email="source@example.com")
    Customer.objects.filter(pk=source.pk).update(
        status=CustomerStatus.MERGED, merged_into=target, merged_at=T0
    )
    source.refresh_from_db()
    return source, target


# --- list -------------------------------------------------------------------------------


def test_list_pages_with_a_cursor_and_never_counts(partner):
    created = [CustomerFactory() for _ in range(5)]

    first = partner.get(LIST, {"page_size": 2})

    body = first.json()
    assert "count" not in body
    assert body["previous"] is None
    assert ids_of(first) == [c.public_id for c in reversed(created[-2:])]
    seen = ids_of(first)
    next_url = body["next"]
    while next_url:
        page = partner.get(next_url)
        seen += ids_of(page)
        next_url = page.json()["next"]
    assert seen == [c.public_id for c in reversed(created)]


def test_list_representation_shows_profile_identities_tags_and_consents(partner):
    store = StoreFactory(code="sh-001")
    customer = customer_with(
        email="wang@example.com", tags=("vip-event", "allergy"), home_store=store, tier="gold"
    )

    (item,) = partner.get(LIST).json()["results"]

    assert item["id"] == customer.public_id
    assert item["home_store"] == "sh-001"
    assert item["tier"] == "gold"
    assert item["tags"] == ["allergy", "vip-event"]
    assert item["identities"][0]["kind"] == "email"
    assert item["identities"][0]["value"] == "wang@example.com"
    assert item["consents"] == []
    assert item["status"] == "active"
    assert item["merged_into"] is None
    assert item["contact_hours"] is None


def test_list_filters_updated_since(partner):
    old, recent = CustomerFactory(), CustomerFactory()
    set_updated_at(old, T0)
    set_updated_at(recent, T0 + timedelta(days=2))

    response = partner.get(LIST, {"updated_since": (T0 + timedelta(days=1)).isoformat()})

    assert ids_of(response) == [recent.public_id]


def test_list_filters_on_several_tiers(partner):
    gold = CustomerFactory(tier=ValueTier.GOLD)
    vip = CustomerFactory(tier=ValueTier.VIP)
    CustomerFactory(tier=ValueTier.STANDARD)

    response = partner.get(LIST, {"tier": ["gold", "vip"]})

    assert set(ids_of(response)) == {gold.public_id, vip.public_id}


def test_list_filters_on_tag(partner):
    tagged = customer_with(tags=("allergy", "vip-event"))
    customer_with(tags=("vip-event",))
    CustomerFactory()

    assert ids_of(partner.get(LIST, {"tag": "allergy"})) == [tagged.public_id]


def test_list_filters_on_home_store_code(partner):
    shanghai, beijing = StoreFactory(code="sh-001"), StoreFactory(code="bj-001")
    local = CustomerFactory(home_store=shanghai)
    CustomerFactory(home_store=beijing)
    CustomerFactory()

    assert ids_of(partner.get(LIST, {"store": "sh-001"})) == [local.public_id]


def test_list_shows_only_active_customers_unless_asked(partner):
    source, target = merged_pair()

    assert ids_of(partner.get(LIST)) == [target.public_id]
    assert ids_of(partner.get(LIST, {"status": "merged"})) == [source.public_id]
    assert set(ids_of(partner.get(LIST, {"status": "all"}))) == {
        source.public_id,
        target.public_id,
    }


def test_list_orders_by_updated_at(partner):
    first, second, third = CustomerFactory(), CustomerFactory(), CustomerFactory()
    set_updated_at(first, T0 + timedelta(hours=2))
    set_updated_at(second, T0)
    set_updated_at(third, T0 + timedelta(hours=1))

    ascending = partner.get(LIST, {"ordering": "updated_at"})
    descending = partner.get(LIST, {"ordering": "-updated_at"})

    assert ids_of(ascending) == [second.public_id, third.public_id, first.public_id]
    assert ids_of(descending) == [first.public_id, third.public_id, second.public_id]


def test_list_ordered_by_updated_at_pages_through_everyone(partner):
    customers = [CustomerFactory() for _ in range(5)]
    for offset, customer in enumerate(reversed(customers)):
        set_updated_at(customer, T0 + timedelta(minutes=offset))

    seen: list[str] = []
    response = partner.get(LIST, {"ordering": "updated_at", "page_size": 2})
    while True:
        seen += ids_of(response)
        if not response.json()["next"]:
            break
        response = partner.get(response.json()["next"])

    assert seen == [c.public_id for c in reversed(customers)]


@pytest.mark.parametrize("ordering", ["updated_at", "-updated_at"])
def test_list_ordered_by_updated_at_never_skips_or_repeats_ties(partner, ordering):
    customers = [CustomerFactory() for _ in range(7)]
    Customer.objects.update(updated_at=T0)  # as after an event batch
    for customer in customers[::2]:  # PostgreSQL moves updated rows: heap order != id order
        Customer.objects.filter(pk=customer.pk).update(name="moved")

    seen: list[str] = []
    response = partner.get(LIST, {"ordering": ordering, "page_size": 2})
    while True:
        seen += ids_of(response)
        if not response.json()["next"]:
            break
        response = partner.get(response.json()["next"])

    in_id_order = [c.public_id for c in customers]
    assert seen == (in_id_order if ordering == "updated_at" else in_id_order[::-1])


@pytest.mark.parametrize(
    ("params", "field", "code"),
    [
        ({"updated_since": "last tuesday"}, "updated_since", "invalid"),
        ({"updated_before": "2025-13-45"}, "updated_before", "invalid"),
        ({"tier": "platinum"}, "tier", "invalid_choice"),
        ({"status": "deleted"}, "status", "invalid_choice"),
    ],
)
def test_list_refuses_bad_filter_values(partner, params, field, code):
    error = error_of(partner.get(LIST, params), 400, code)

    assert field in error["fields"]


def test_list_refuses_a_forged_cursor(partner):
    CustomerFactory()

    error_of(partner.get(LIST, {"cursor": "not-a-cursor"}), 404, "not_found")


def test_list_query_count_does_not_grow_with_the_page(partner, django_assert_max_num_queries):
    store = StoreFactory()
    for n in range(50):
        customer_with(email=f"c{n}@example.com", phone=None, tags=("a", "b"), home_store=store)
    partner.get(LIST, {"page_size": 1})  # the key's last_used_at is written once

    with django_assert_max_num_queries(5):
        big = partner.get(LIST, {"page_size": 50})
    with django_assert_max_num_queries(5):
        small = partner.get(LIST, {"page_size": 5})

    assert len(ids_of(big)) == 50
    assert len(ids_of(small)) == 5


# --- retrieve ---------------------------------------------------------------------------


def test_retrieve_by_public_id(partner):
    customer = customer_with(email="wang@example.com", name="王芳")

    response = partner.get(detail(customer))

    assert response.status_code == 200
    assert response.json()["id"] == customer.public_id
    assert response.json()["name"] == "王芳"


def test_retrieve_unknown_id_is_404_customer_not_found(partner):
    error_of(partner.get(detail("cus_doesnotexist0000")), 404, "customer_not_found")


def test_retrieve_merged_customer_shows_the_tombstone(partner):
    source, target = merged_pair()

    body = partner.get(detail(source)).json()

    assert body["status"] == "merged"
    assert body["merged_into"] == target.public_id


def test_retrieve_query_count(partner, django_assert_max_num_queries):
    customer = customer_with(email="wang@example.com", phone="+8613800138000", tags=("a",))
    partner.get(LIST)  # the key's last_used_at is written once

    with django_assert_max_num_queries(5):
        response = partner.get(detail(customer))

    assert response.status_code == 200


# --- create -----------------------------------------------------------------------------


def test_create_with_identities_normalises_them(partner):
    StoreFactory(code="sh-001")

    response = partner.post(
        LIST,
        {
            "name": "王芳",
            "tier": "gold",
            "home_store": "sh-001",
            "tags": ["allergy"],
            "contact_hours": {"start": "09:00", "end": "18:00"},
            "consents": [{"channel": "sms", "purpose": "marketing", "granted": True}],
            "identities": [
                {"kind": "phone", "value": "138 0013 8000", "verified": True},
                {"kind": "email", "value": " Wang.Fang@Example.COM "},
            ],
        },
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    customer = Customer.objects.get(public_id=body["id"])
    assert {(i["kind"], i["value"], i["verified"]) for i in body["identities"]} == {
        ("phone", "+8613800138000", True),
        ("email", "wang.fang@example.com", False),
    }
    assert body["name"] == "王芳"
    assert body["tier"] == "gold"
    assert body["home_store"] == "sh-001"
    assert body["tags"] == ["allergy"]
    assert body["contact_hours"] == {"start": "09:00", "end": "18:00"}
    assert [(c["channel"], c["purpose"], c["granted"]) for c in body["consents"]] == [
        ("sms", "marketing", True)
    ]
    assert customer.identities.count() == 2


def test_create_with_a_taken_identity_is_409_naming_the_owner(partner):
    owner = customer_with(phone="+8613800138000")

    response = partner.post(
        LIST,
        {"identities": [{"kind": "phone", "value": "13800138000"}]},
        format="json",
    )

    error = error_of(response, 409, "identity_taken")
    assert error["customer_id"] == owner.public_id
    assert Customer.objects.count() == 1


def test_create_with_an_invalid_phone_names_the_problem(partner):
    response = partner.post(
        LIST, {"identities": [{"kind": "phone", "value": "12345"}]}, format="json"
    )

    error = error_of(response, 400, "invalid_phone")
    problem = item_errors(error["fields"]["identities"], 0)
    assert "12345" in problem["value"][0]
    assert not Customer.objects.exists()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"name": "no identities"}, "required"),
        ({"identities": []}, "min_length"),
        ({"identities": "phone"}, "not_a_list"),
    ],
    ids=["missing", "empty", "not-a-list"],
)
def test_create_without_identities_is_400(partner, body, code):
    error = error_of(partner.post(LIST, body, format="json"), 400, code)

    assert "identities" in error["fields"]
    assert not Customer.objects.exists()


def test_create_with_unknown_identity_kind_is_400(partner):
    response = partner.post(LIST, {"identities": [{"kind": "fax", "value": "123"}]}, format="json")

    error = error_of(response, 400, "invalid_choice")
    assert "kind" in item_errors(error["fields"]["identities"], 0)


def test_create_with_unknown_home_store_is_400_unknown_store(partner):
    response = partner.post(
        LIST,
        {"home_store": "nowhere", "identities": [{"kind": "member_no", "value": "m-1"}]},
        format="json",
    )

    error_of(response, 400, "unknown_store")
    assert not Customer.objects.exists()


# --- partial update ---------------------------------------------------------------------


def test_patch_profile_fields(partner):
    customer = customer_with(email="wang@example.com", name="Wang")

    response = partner.patch(
        detail(customer),
        {"name": "王芳", "language": "en", "tier": "vip", "preferred_channel": "wechat"},
        format="json",
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["name"], body["language"], body["tier"], body["preferred_channel"]) == (
        "王芳",
        "en",
        "vip",
        "wechat",
    )
    customer.refresh_from_db()
    assert customer.name == "王芳"
    assert customer.tier == "vip"


def test_patch_leaves_unmentioned_fields_alone(partner):
    store = StoreFactory(code="sh-001")
    customer = customer_with(tags=("allergy",), home_store=store, tier="gold")
    Customer.objects.filter(pk=customer.pk).update(
        contact_hours_start="09:00", contact_hours_end="18:00"
    )

    body = partner.patch(detail(customer), {"name": "New"}, format="json").json()

    assert body["tags"] == ["allergy"]
    assert body["home_store"] == "sh-001"
    assert body["tier"] == "gold"
    assert body["contact_hours"] == {"start": "09:00", "end": "18:00"}


def test_patch_replaces_tags(partner):
    customer = customer_with(tags=("old",))

    body = partner.patch(detail(customer), {"tags": ["b", "a", "a"]}, format="json").json()

    assert body["tags"] == ["a", "b"]
    assert list(customer.tags.values_list("name", flat=True)) == ["a", "b"]


def test_patch_records_consents(partner):
    customer = CustomerFactory()

    body = partner.patch(
        detail(customer),
        {
            "consents": [
                {"channel": "sms", "purpose": "marketing", "granted": False},
                {"channel": "wechat", "purpose": "service", "granted": True},
            ]
        },
        format="json",
    ).json()

    assert {(c["channel"], c["purpose"], c["granted"]) for c in body["consents"]} == {
        ("sms", "marketing", False),
        ("wechat", "service", True),
    }
    assert all(c["source"] == "api" for c in body["consents"])
    assert customer.consent_log.count() == 2


def test_patch_sets_and_clears_contact_hours(partner):
    customer = CustomerFactory()

    set_body = partner.patch(
        detail(customer), {"contact_hours": {"start": "10:00", "end": "20:30"}}, format="json"
    ).json()
    cleared = partner.patch(detail(customer), {"contact_hours": None}, format="json").json()

    assert set_body["contact_hours"] == {"start": "10:00", "end": "20:30"}
    assert cleared["contact_hours"] is None


def test_patch_refuses_contact_hours_that_start_when_they_end(partner):
    customer = CustomerFactory()

    response = partner.patch(
        detail(customer), {"contact_hours": {"start": "10:00", "end": "10:00"}}, format="json"
    )

    error = error_of(response, 400, "invalid")
    assert "contact_hours" in error["fields"]


def test_patch_sets_and_clears_home_store(partner):
    StoreFactory(code="bj-001")
    customer = CustomerFactory()

    assert (
        partner.patch(detail(customer), {"home_store": "bj-001"}, format="json").json()[
            "home_store"
        ]
        == "bj-001"
    )
    assert (
        partner.patch(detail(customer), {"home_store": None}, format="json").json()["home_store"]
        is None
    )


def test_patch_with_unknown_home_store_is_400_unknown_store(partner):
    customer = CustomerFactory()

    error_of(
        partner.patch(detail(customer), {"home_store": "nowhere"}, format="json"),
        400,
        "unknown_store",
    )
    customer.refresh_from_db()
    assert customer.home_store is None


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"tier": "platinum"}, "tier", "invalid_choice"),
        ({"language": "fr"}, "language", "invalid_choice"),
        ({"preferred_channel": "pigeon"}, "preferred_channel", "invalid_choice"),
        ({"tags": "not-a-list"}, "tags", "not_a_list"),
        (
            {"consents": [{"channel": "sms", "purpose": "spam", "granted": True}]},
            "consents",
            "invalid_choice",
        ),
        ({"timezone": "Mars/Olympus"}, "timezone", "invalid"),
    ],
)
def test_patch_refuses_bad_values(partner, body, field, code):
    customer = CustomerFactory(name="Unchanged")

    error = error_of(partner.patch(detail(customer), body, format="json"), 400, code)

    assert field in error["fields"]
    customer.refresh_from_db()
    assert customer.tier == "standard"
    assert customer.timezone == "Asia/Shanghai"


def test_patch_of_a_merged_customer_is_409_customer_merged(partner):
    source, target = merged_pair()

    error = error_of(
        partner.patch(detail(source), {"name": "Zombie"}, format="json"), 409, "customer_merged"
    )

    assert error["merged_into"] == target.public_id
    source.refresh_from_db()
    assert source.name != "Zombie"


def test_patch_of_unknown_customer_is_404(partner):
    error_of(
        partner.patch(detail("cus_doesnotexist0000"), {"name": "x"}, format="json"),
        404,
        "customer_not_found",
    )


# --- merge ------------------------------------------------------------------------------


def test_merge_absorbs_the_source_into_the_target(partner):
    target = customer_with(email="target@example.com", tier="standard")
    source = customer_with(phone="+8613800138000", tier="vip", tags=("allergy",))
    CustomerEventFactory(customer=source, occurred_at=T0)

    response = partner.post(
        detail(target, "merge/"),
        {"source": source.public_id, "reason": "same person, confirmed by phone"},
        format="json",
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == target.public_id
    assert {i["kind"] for i in body["identities"]} == {"email", "phone"}
    assert body["tier"] == "vip"
    assert body["tags"] == ["allergy"]
    source.refresh_from_db()
    assert source.status == CustomerStatus.MERGED
    assert source.merged_into_id == target.pk
    tombstone = partner.get(detail(source)).json()
    assert (tombstone["status"], tombstone["merged_into"]) == ("merged", target.public_id)
    assert partner.get(detail(target, "timeline/")).json()["results"][0]["kind"] == "order"


def test_merge_into_itself_is_400(partner):
    customer = CustomerFactory()

    error_of(
        partner.post(detail(customer, "merge/"), {"source": customer.public_id}, format="json"),
        400,
        "merge_same_customer",
    )
    customer.refresh_from_db()
    assert customer.status == CustomerStatus.ACTIVE


def test_merge_with_unknown_source_is_400_naming_the_field(partner):
    target = CustomerFactory()

    error = error_of(
        partner.post(detail(target, "merge/"), {"source": "cus_nobody"}, format="json"),
        400,
        "customer_not_found",
    )

    assert "source" in error["fields"]


def test_merge_into_unknown_target_is_404(partner):
    source = CustomerFactory()

    error_of(
        partner.post(detail("cus_nobody", "merge/"), {"source": source.public_id}, format="json"),
        404,
        "customer_not_found",
    )


def test_merge_without_source_is_400(partner):
    error = error_of(
        partner.post(detail(CustomerFactory(), "merge/"), {}, format="json"), 400, "required"
    )

    assert "source" in error["fields"]


def test_merge_of_an_already_merged_source_is_409(partner):
    source, _target = merged_pair()
    other = CustomerFactory()

    error_of(
        partner.post(detail(other, "merge/"), {"source": source.public_id}, format="json"),
        409,
        "source_already_merged",
    )


def test_merge_into_a_merged_target_is_409(partner):
    tombstone, _survivor = merged_pair()
    other = CustomerFactory()

    error_of(
        partner.post(detail(tombstone, "merge/"), {"source": other.public_id}, format="json"),
        409,
        "target_merged",
    )
    other.refresh_from_db()
    assert other.status == CustomerStatus.ACTIVE


# --- lookup -----------------------------------------------------------------------------


def test_lookup_by_phone_in_national_format_finds_the_e164_identity(partner):
    customer = customer_with(phone="+8613800138000")

    response = partner.get("/api/v1/customers/lookup/", {"phone": "138-0013-8000"})

    assert response.status_code == 200
    assert response.json()["id"] == customer.public_id


@pytest.mark.parametrize(
    ("kind", "stored", "asked"),
    [
        (IdentityKind.EMAIL, "wang.fang@example.com", "Wang.Fang@EXAMPLE.com"),
        (IdentityKind.MEMBER_NO, "M-000123", "m-000123"),
        (IdentityKind.WECHAT_OPENID, "oAbC_123-xyz", "oAbC_123-xyz"),
    ],
)
def test_lookup_by_other_identifiers(partner, kind, stored, asked):
    customer = CustomerFactory()
    IdentityFactory(customer=customer, kind=kind, value=stored)
    CustomerFactory()

    response = partner.get("/api/v1/customers/lookup/", {kind: asked})

    assert response.status_code == 200
    assert response.json()["id"] == customer.public_id


def test_lookup_of_a_merged_identity_finds_the_survivor(partner):
    target = customer_with(email="target@example.com")
    source = customer_with(phone="+8613800138000")
    partner.post(detail(target, "merge/"), {"source": source.public_id}, format="json")

    response = partner.get("/api/v1/customers/lookup/", {"phone": "13800138000"})

    assert response.json()["id"] == target.public_id


@pytest.mark.parametrize(
    "params",
    [{}, {"phone": "13800138000", "email": "a@example.com"}, {"name": "王芳"}],
    ids=["none", "two", "unknown-only"],
)
def test_lookup_needs_exactly_one_identifier(partner, params):
    error_of(partner.get("/api/v1/customers/lookup/", params), 400, "invalid_lookup")


def test_lookup_with_a_malformed_phone_is_400_naming_it(partner):
    error = error_of(
        partner.get("/api/v1/customers/lookup/", {"phone": "not a phone"}), 400, "invalid_phone"
    )

    assert "phone" in error["fields"]


def test_lookup_of_an_unknown_identifier_is_404(partner):
    customer_with(email="someone@example.com")

    error_of(
        partner.get("/api/v1/customers/lookup/", {"email": "nobody@example.com"}),
        404,
        "customer_not_found",
    )


# --- timeline ---------------------------------------------------------------------------


def test_timeline_is_newest_first_by_occurrence(partner):
    customer = CustomerFactory()
    # Pushed out of order: ids do not follow occurrence.
    middle = CustomerEventFactory(customer=customer, occurred_at=T0 + timedelta(days=1))
    newest = CustomerEventFactory(customer=customer, occurred_at=T0 + timedelta(days=2))
    oldest = CustomerEventFactory(customer=customer, occurred_at=T0)
    CustomerEventFactory(occurred_at=T0 + timedelta(days=3))  # somebody else's

    response = partner.get(detail(customer, "timeline/"))

    assert response.status_code == 200
    assert [e["id"] for e in response.json()["results"]] == [newest.pk, middle.pk, oldest.pk]


def test_timeline_pages_with_a_cursor(partner):
    customer = CustomerFactory()
    events = [
        CustomerEventFactory(customer=customer, occurred_at=T0 + timedelta(hours=n))
        for n in range(5)
    ]

    seen: list[int] = []
    response = partner.get(detail(customer, "timeline/"), {"page_size": 2})
    assert "count" not in response.json()
    while True:
        assert len(response.json()["results"]) <= 2
        seen += [e["id"] for e in response.json()["results"]]
        if not response.json()["next"]:
            break
        response = partner.get(response.json()["next"])

    assert seen == [e.pk for e in reversed(events)]


def test_timeline_ignores_the_customer_list_ordering(partner):
    customer = CustomerFactory()
    later = CustomerEventFactory(customer=customer, occurred_at=T0 + timedelta(days=1))
    earlier = CustomerEventFactory(customer=customer, occurred_at=T0)

    response = partner.get(detail(customer, "timeline/"), {"ordering": "updated_at"})

    assert response.status_code == 200
    assert [e["id"] for e in response.json()["results"]] == [later.pk, earlier.pk]


def test_timeline_of_a_merged_customer_is_409(partner):
    source, target = merged_pair()

    error = error_of(partner.get(detail(source, "timeline/")), 409, "customer_merged")

    assert error["merged_into"] == target.public_id


def test_timeline_of_unknown_customer_is_404(partner):
    error_of(partner.get(detail("cus_nobody", "timeline/")), 404, "customer_not_found")


def test_timeline_query_count(partner, django_assert_max_num_queries):
    store = StoreFactory()
    customer = customer_with(email="wang@example.com", tags=("a",))
    for n in range(30):
        CustomerEventFactory(customer=customer, store=store, occurred_at=T0 + timedelta(hours=n))
    partner.get(LIST)  # the key's last_used_at is written once

    with django_assert_max_num_queries(6):
        response = partner.get(detail(customer, "timeline/"), {"page_size": 30})

    assert len(response.json()["results"]) == 30
    assert response.json()["results"][0]["store"] == store.code


def test_console_agent_creates_a_customer_recorded_as_api_source(personas, console_client):
    response = console_client(personas.agent).post(
        LIST, {"identities": [{"kind": "email", "value": "walkin@example.com"}]}, format="json"
    )

    assert response.status_code == 201
    assert Identity.objects.get(value="walkin@example.com").source == "api"


def test_key_last_used_at_is_recorded(db):
    key, raw = create_api_key(name="erp", scopes=["customers:read"])

    api_client_for_key(raw).get(LIST)

    assert ApiKey.objects.get(pk=key.pk).last_used_at is not None


def test_fast_customer_representation_matches_the_declared_serializer_fields():
    """CustomerSerializer renders through represent_customer; its declared fields are
    the documented schema, so both must name the same keys in the same formats."""
    from rest_framework import serializers as drf_serializers

    from customers.api import CustomerSerializer, represent_customer
    from customers.models import Consent

    customer = CustomerFactory(name="王芳")
    IdentityFactory(customer=customer)
    Consent.objects.create(
        customer=customer,
        channel="sms",
        purpose="marketing",
        granted=True,
        updated_at=customer.created_at,
    )
    fast = represent_customer(customer)
    # the generic DRF rendering, bypassing the override
    slow = drf_serializers.ModelSerializer.to_representation(CustomerSerializer(), customer)
    assert list(fast) == list(CustomerSerializer.Meta.fields)
    assert fast == dict(slow)
