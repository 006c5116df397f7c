"""resolve_customer: which customer a set of identity claims belongs to."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from customers.identity import IdentityClaim
from customers.models import (
    Consent,
    ConsentPurpose,
    ContactChannel,
    Customer,
    CustomerEvent,
    CustomerMerge,
    CustomerStatus,
    Identity,
    IdentityKind,
    MergeSuggestion,
    SuggestionStatus,
    Tag,
)
from customers.services import resolve_customer
from customers.signals import customer_merged
from omniservice.errors import DomainError
from tests.factories import CustomerEventFactory, CustomerFactory, IdentityFactory

pytestmark = pytest.mark.django_db

PHONE = "+8613812345678"
OTHER_PHONE = "+8613987654321"
EMAIL = "li.lei@example.com"


def claim(kind: str, value: str, verified: bool = False) -> IdentityClaim:
    return IdentityClaim(kind, value, verified)


def identity(customer: Customer, kind: str, value: str, verified: bool = False) -> Identity:
    return IdentityFactory(customer=customer, kind=kind, value=value, verified=verified)


def identities_of(customer: Customer) -> set[tuple[str, str, bool]]:
    return set(Identity.objects.filter(customer=customer).values_list("kind", "value", "verified"))


@pytest.fixture
def merges_sent():
    """Collect what customer_merged receivers are given."""
    received: list[dict] = []

    def receiver(sender, **kwargs):
        received.append({"sender": sender, **kwargs})

    customer_merged.connect(receiver, dispatch_uid="test-resolution-merges")
    yield received
    customer_merged.disconnect(dispatch_uid="test-resolution-merges")


# --- one customer or none ---------------------------------------------------------------


def test_unknown_identities_create_a_customer_owning_all_of_them():
    resolution = resolve_customer(
        identities=[claim(IdentityKind.PHONE, PHONE, True), claim(IdentityKind.EMAIL, EMAIL)],
        profile={"name": "李雷", "language": "en"},
        source="pos",
    )

    customer = resolution.customer
    assert resolution.created is True
    assert resolution.merged_ids == [] and resolution.suggestion_ids == []
    assert Customer.objects.get() == customer
    assert (customer.name, customer.language, customer.status) == ("李雷", "en", "active")
    assert identities_of(customer) == {("phone", PHONE, True), ("email", EMAIL, False)}
    assert set(Identity.objects.values_list("source", flat=True)) == {"pos"}


def test_a_claim_of_an_unknown_kind_is_refused_before_anything_is_written():
    with pytest.raises(DomainError) as refused:
        resolve_customer(
            identities=[claim(IdentityKind.PHONE, PHONE, True), claim("whatsapp", "8613812345678")]
        )

    assert refused.value.code == "unknown_identity_kind"
    assert not Customer.objects.exists() and not Identity.objects.exists()


def test_duplicate_claims_are_stored_once_and_verified_wins():
    resolution = resolve_customer(
        identities=[claim(IdentityKind.PHONE, PHONE), claim(IdentityKind.PHONE, PHONE, True)]
    )

    assert identities_of(resolution.customer) == {("phone", PHONE, True)}


def test_resolution_without_identities_is_refused():
    with pytest.raises(DomainError) as caught:
        resolve_customer(identities=[])

    assert caught.value.code == "missing_identities"
    assert not Customer.objects.exists()


def test_known_identity_returns_the_existing_customer_and_adds_new_identities():
    customer = CustomerFactory()
    identity(customer, IdentityKind.PHONE, PHONE)

    resolution = resolve_customer(
        identities=[
            claim(IdentityKind.PHONE, PHONE),
            claim(IdentityKind.WECHAT_OPENID, "o-abc"),
            claim(IdentityKind.EMAIL, EMAIL, True),
        ],
        source="wechat",
    )

    assert resolution.customer == customer
    assert resolution.created is False
    assert Customer.objects.count() == 1
    assert identities_of(customer) == {
        ("phone", PHONE, False),
        ("wechat_openid", "o-abc", False),
        ("email", EMAIL, True),
    }
    assert Identity.objects.get(kind="wechat_openid").source == "wechat"


def test_verified_claim_upgrades_the_stored_identity():
    customer = CustomerFactory()
    identity(customer, IdentityKind.PHONE, PHONE, verified=False)

    resolve_customer(identities=[claim(IdentityKind.PHONE, PHONE, True)])

    assert identities_of(customer) == {("phone", PHONE, True)}


def test_unverified_claim_never_downgrades_a_verified_identity():
    customer = CustomerFactory()
    identity(customer, IdentityKind.PHONE, PHONE, verified=True)

    resolve_customer(identities=[claim(IdentityKind.PHONE, PHONE, False)])

    assert identities_of(customer) == {("phone", PHONE, True)}


def test_claimed_name_fills_a_blank_name_but_never_overwrites_one():
    nameless, named = CustomerFactory(name=""), CustomerFactory(name="韩梅梅")
    identity(nameless, IdentityKind.PHONE, PHONE)
    identity(named, IdentityKind.PHONE, OTHER_PHONE)

    resolve_customer(identities=[claim(IdentityKind.PHONE, PHONE)], profile={"name": "李雷"})
    resolve_customer(
        identities=[claim(IdentityKind.PHONE, OTHER_PHONE)], profile={"name": "Someone"}
    )

    nameless.refresh_from_db()
    named.refresh_from_db()
    assert (nameless.name, named.name) == ("李雷", "韩梅梅")


# --- strong links: merge ----------------------------------------------------------------

STRONG_LINKS = [
    pytest.param(IdentityKind.MEMBER_NO, "M-0001", False, False, id="member_no"),
    pytest.param(IdentityKind.PHONE, PHONE, True, True, id="verified_phone_both_sides"),
    pytest.param(IdentityKind.EMAIL, EMAIL, True, True, id="verified_email_both_sides"),
]


@pytest.mark.parametrize(("kind", "value", "stored_verified", "claim_verified"), STRONG_LINKS)
def test_strong_identifier_merges_the_newer_customer_into_the_oldest(
    kind, value, stored_verified, claim_verified, merges_sent
):
    oldest, newer = CustomerFactory(name="Oldest"), CustomerFactory(name="Newer")
    identity(oldest, kind, value, verified=stored_verified)
    identity(newer, IdentityKind.MEMBER_NO, "M-9999")
    identity(newer, IdentityKind.WECHAT_OPENID, "o-newer")
    event = CustomerEventFactory(customer=newer)
    Consent.objects.create(
        customer=newer,
        channel=ContactChannel.SMS,
        purpose=ConsentPurpose.MARKETING,
        granted=True,
        updated_at=datetime(2024, 5, 1, tzinfo=UTC),
    )
    newer.tags.add(Tag.objects.create(name="vip-event"))

    resolution = resolve_customer(
        # the newer customer's identifier comes first: age decides, not claim order
        identities=[claim(IdentityKind.MEMBER_NO, "M-9999"), claim(kind, value, claim_verified)],
        source="crm",
        actor="crm-sync",
    )

    oldest.refresh_from_db()
    newer.refresh_from_db()
    assert resolution.customer == oldest
    assert resolution.merged_ids == [newer.pk]
    assert resolution.suggestion_ids == []
    assert (newer.status, newer.merged_into, oldest.status) == ("merged", oldest, "active")
    assert newer.merged_at is not None
    assert identities_of(newer) == set()
    assert {(k, v) for k, v, _ in identities_of(oldest)} == {
        (kind, value),
        ("member_no", "M-9999"),
        ("wechat_openid", "o-newer"),
    }
    event.refresh_from_db()
    assert event.customer == oldest
    assert Consent.objects.get().customer == oldest
    assert list(oldest.tags.values_list("name", flat=True)) == ["vip-event"]

    record = CustomerMerge.objects.get()
    assert (record.source, record.target, record.actor) == (newer, oldest, "crm-sync")
    assert "crm" in record.reason
    assert record.moved == {"identities": 2, "events": 1, "consents": 1, "consent_log": 0}
    assert record.source_snapshot["public_id"] == newer.public_id
    assert record.source_snapshot["name"] == "Newer"
    assert record.source_snapshot["tags"] == ["vip-event"]
    assert sorted(i["value"] for i in record.source_snapshot["identities"]) == [
        "M-9999",
        "o-newer",
    ]
    assert merges_sent == [
        {
            "sender": Customer,
            "signal": customer_merged,
            "source_id": newer.pk,
            "target_id": oldest.pk,
        }
    ]
    assert not MergeSuggestion.objects.exists()


def test_strong_identifiers_merge_every_linked_customer_into_the_oldest(merges_sent):
    first, second, third = CustomerFactory(), CustomerFactory(), CustomerFactory()
    identity(first, IdentityKind.EMAIL, EMAIL, verified=True)
    identity(second, IdentityKind.MEMBER_NO, "M-2")
    identity(third, IdentityKind.PHONE, PHONE, verified=True)

    resolution = resolve_customer(
        identities=[
            claim(IdentityKind.PHONE, PHONE, True),
            claim(IdentityKind.MEMBER_NO, "M-2"),
            claim(IdentityKind.EMAIL, EMAIL, True),
        ]
    )

    assert resolution.customer == first
    assert resolution.merged_ids == [second.pk, third.pk]
    assert set(Customer.objects.filter(status="merged").values_list("pk", "merged_into")) == {
        (second.pk, first.pk),
        (third.pk, first.pk),
    }
    assert [(m["source_id"], m["target_id"]) for m in merges_sent] == [
        (second.pk, first.pk),
        (third.pk, first.pk),
    ]


def test_verified_claim_upgrades_an_identity_that_came_with_a_merge():
    oldest, newer = CustomerFactory(), CustomerFactory()
    identity(oldest, IdentityKind.MEMBER_NO, "M-1")
    identity(newer, IdentityKind.MEMBER_NO, "M-2")
    identity(newer, IdentityKind.EMAIL, EMAIL, verified=False)

    resolve_customer(
        identities=[
            claim(IdentityKind.MEMBER_NO, "M-1"),
            claim(IdentityKind.MEMBER_NO, "M-2"),
            claim(IdentityKind.EMAIL, EMAIL, True),
        ]
    )

    assert Identity.objects.get(kind="email").customer == oldest
    assert Identity.objects.get(kind="email").verified is True


def test_strong_and_weak_links_together_merge_the_strong_and_suggest_the_weak():
    oldest, strong, weak = CustomerFactory(), CustomerFactory(), CustomerFactory()
    identity(oldest, IdentityKind.MEMBER_NO, "M-1")
    identity(strong, IdentityKind.PHONE, PHONE, verified=True)
    identity(weak, IdentityKind.WEB_VISITOR_ID, "visitor-1")

    resolution = resolve_customer(
        identities=[
            claim(IdentityKind.WEB_VISITOR_ID, "visitor-1"),
            claim(IdentityKind.PHONE, PHONE, True),
            claim(IdentityKind.MEMBER_NO, "M-1"),
        ]
    )

    assert resolution.customer == oldest
    assert resolution.merged_ids == [strong.pk]
    suggestion = MergeSuggestion.objects.get()
    assert (suggestion.customer_a, suggestion.customer_b) == (oldest, weak)
    assert resolution.suggestion_ids == [suggestion.pk]
    weak.refresh_from_db()
    assert weak.status == CustomerStatus.ACTIVE


# --- weak links: suggestion -------------------------------------------------------------

WEAK_LINKS = [
    pytest.param(IdentityKind.PHONE, PHONE, False, False, id="unverified_phone"),
    pytest.param(IdentityKind.PHONE, PHONE, True, False, id="phone_unverified_in_claim"),
    pytest.param(IdentityKind.PHONE, PHONE, False, True, id="phone_unverified_when_stored"),
    pytest.param(IdentityKind.EMAIL, EMAIL, True, False, id="email_unverified_in_claim"),
    pytest.param(IdentityKind.WEB_VISITOR_ID, "visitor-1", True, True, id="web_visitor_id"),
    pytest.param(IdentityKind.WECHAT_OPENID, "o-abc", True, True, id="wechat_openid"),
    pytest.param(IdentityKind.WECHAT_UNIONID, "u-abc", True, True, id="wechat_unionid"),
]


@pytest.mark.parametrize(("kind", "value", "stored_verified", "claim_verified"), WEAK_LINKS)
def test_weak_identifier_never_merges_and_records_one_suggestion(
    kind, value, stored_verified, claim_verified, merges_sent
):
    member, other = CustomerFactory(), CustomerFactory()
    identity(member, IdentityKind.MEMBER_NO, "M-1")
    identity(other, kind, value, verified=stored_verified)
    claims = [claim(IdentityKind.MEMBER_NO, "M-1"), claim(kind, value, claim_verified)]

    first = resolve_customer(identities=claims)
    again = resolve_customer(identities=claims)

    assert first.customer == again.customer == member
    assert first.merged_ids == again.merged_ids == []
    suggestion = MergeSuggestion.objects.get()
    assert (suggestion.customer_a, suggestion.customer_b) == (member, other)
    assert suggestion.status == SuggestionStatus.OPEN
    assert suggestion.evidence == sorted({"member_no", kind})
    assert first.suggestion_ids == [suggestion.pk]
    assert again.suggestion_ids == []
    assert set(Customer.objects.values_list("status", flat=True)) == {"active"}
    assert not CustomerMerge.objects.exists()
    assert merges_sent == []
    assert Identity.objects.get(kind=kind, value=value).customer == other


def test_suggestion_pair_is_ordered_whichever_customer_receives_the_claim():
    older, newer = CustomerFactory(), CustomerFactory()
    identity(older, IdentityKind.WEB_VISITOR_ID, "visitor-1")
    identity(newer, IdentityKind.PHONE, PHONE)

    resolution = resolve_customer(
        identities=[
            claim(IdentityKind.WEB_VISITOR_ID, "visitor-1"),
            claim(IdentityKind.PHONE, PHONE),
        ]
    )

    assert resolution.customer == newer
    suggestion = MergeSuggestion.objects.get()
    assert (suggestion.customer_a, suggestion.customer_b) == (older, newer)
    assert suggestion.evidence == ["phone", "web_visitor_id"]


@pytest.mark.parametrize(
    ("older_kind", "newer_kind", "expected"),
    [
        (IdentityKind.WEB_VISITOR_ID, IdentityKind.PHONE, "newer"),
        (IdentityKind.PHONE, IdentityKind.WEB_VISITOR_ID, "older"),
        (IdentityKind.WECHAT_OPENID, IdentityKind.WECHAT_UNIONID, "newer"),
        (IdentityKind.EMAIL, IdentityKind.PHONE, "newer"),
        (IdentityKind.APP_USER_ID, IdentityKind.PHONE, "older"),
        (IdentityKind.WEB_VISITOR_ID, IdentityKind.WEB_VISITOR_ID, "older"),  # tie: oldest
    ],
)
def test_weak_case_picks_the_customer_found_through_the_best_ranked_kind(
    older_kind, newer_kind, expected
):
    customers = {"older": CustomerFactory(), "newer": CustomerFactory()}
    identity(customers["older"], older_kind, "older-value")
    identity(customers["newer"], newer_kind, "newer-value")

    resolution = resolve_customer(
        identities=[
            claim(newer_kind, "newer-value"),
            claim(older_kind, "older-value"),
            claim(IdentityKind.DOUYIN_ID, "dy-1"),
        ]
    )

    assert resolution.customer == customers[expected]
    # new identities go to the chosen customer only
    assert Identity.objects.get(kind="douyin_id").customer == customers[expected]
    assert Customer.objects.filter(status="active").count() == 2


def test_verified_claim_does_not_touch_the_identity_of_a_customer_it_was_not_given_to():
    member, other = CustomerFactory(), CustomerFactory()
    identity(member, IdentityKind.MEMBER_NO, "M-1")
    identity(other, IdentityKind.EMAIL, EMAIL, verified=False)

    resolve_customer(
        identities=[claim(IdentityKind.MEMBER_NO, "M-1"), claim(IdentityKind.EMAIL, EMAIL, True)]
    )

    assert Identity.objects.get(kind="email").verified is False


def test_events_are_untouched_when_no_merge_happens():
    member, other = CustomerFactory(), CustomerFactory()
    identity(member, IdentityKind.MEMBER_NO, "M-1")
    identity(other, IdentityKind.WEB_VISITOR_ID, "visitor-1")
    event = CustomerEventFactory(customer=other)

    resolve_customer(
        identities=[
            claim(IdentityKind.MEMBER_NO, "M-1"),
            claim(IdentityKind.WEB_VISITOR_ID, "visitor-1"),
        ]
    )

    assert CustomerEvent.objects.get(pk=event.pk).customer == other
