"""merge_customers: one person's records brought together, the source kept as a tombstone."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from customers.models import (
    Consent,
    ConsentLog,
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
    ValueTier,
)
from customers.services import merge_customers
from customers.signals import customer_merged
from omniservice.errors import ConflictError, DomainError, NotFoundError
from tests.factories import (
    CustomerEventFactory,
    CustomerFactory,
    IdentityFactory,
    StoreFactory,
)

pytestmark = pytest.mark.django_db

EARLY = datetime(2024, 1, 1, tzinfo=UTC)
LATE = datetime(2024, 6, 1, tzinfo=UTC)


def merge(source: Customer, target: Customer, actor: str = "agent-7") -> CustomerMerge:
    return merge_customers(
        source_id=source.pk, target_id=target.pk, actor=actor, reason="same person"
    )


def consent(customer, channel, purpose, granted, updated_at, source=""):
    return Consent.objects.create(
        customer=customer,
        channel=channel,
        purpose=purpose,
        granted=granted,
        updated_at=updated_at,
        source=source,
    )


def suggestion(a: Customer, b: Customer, evidence=("phone",)) -> MergeSuggestion:
    low, high = sorted([a, b], key=lambda c: c.pk)
    return MergeSuggestion.objects.create(customer_a=low, customer_b=high, evidence=list(evidence))


def test_merge_moves_identities_events_consents_log_and_tags_to_the_target():
    source, target = CustomerFactory(name="Source"), CustomerFactory(name="Target")
    IdentityFactory(customer=source, kind=IdentityKind.PHONE, value="+8613812345678")
    IdentityFactory(customer=source, kind=IdentityKind.WECHAT_OPENID, value="o-1")
    IdentityFactory(customer=target, kind=IdentityKind.EMAIL, value="t@example.com")
    events = CustomerEventFactory.create_batch(3, customer=source)
    consent(source, ContactChannel.SMS, ConsentPurpose.SERVICE, True, EARLY)
    ConsentLog.objects.create(
        customer=source, channel=ContactChannel.SMS, purpose=ConsentPurpose.SERVICE, granted=True
    )
    source.tags.add(Tag.objects.create(name="online"), Tag.objects.create(name="vip"))
    target.tags.add(Tag.objects.get(name="vip"), Tag.objects.create(name="store"))

    record = merge(source, target)

    assert set(Identity.objects.values_list("customer", flat=True)) == {target.pk}
    assert Identity.objects.count() == 3
    assert set(CustomerEvent.objects.values_list("customer", flat=True)) == {target.pk}
    assert {e.pk for e in target.events.all()} == {e.pk for e in events}
    assert Consent.objects.get().customer == target
    assert ConsentLog.objects.get().customer == target
    assert sorted(target.tags.values_list("name", flat=True)) == ["online", "store", "vip"]
    assert record.moved == {"identities": 2, "events": 3, "consents": 1, "consent_log": 1}
    assert (record.source, record.target, record.actor, record.reason) == (
        source,
        target,
        "agent-7",
        "same person",
    )
    assert record.source_snapshot["public_id"] == source.public_id
    assert record.source_snapshot["name"] == "Source"
    assert record.source_snapshot["tier"] == "standard"
    assert sorted(record.source_snapshot["tags"]) == ["online", "vip"]
    assert sorted(record.source_snapshot["identities"], key=lambda i: i["kind"]) == [
        {"kind": "phone", "value": "+8613812345678", "verified": False},
        {"kind": "wechat_openid", "value": "o-1", "verified": False},
    ]


def test_merged_source_stays_as_a_tombstone_pointing_at_the_target():
    source, target = CustomerFactory(), CustomerFactory()
    public_id = source.public_id

    merge(source, target)

    source.refresh_from_db()
    target.refresh_from_db()
    assert source.status == CustomerStatus.MERGED
    assert source.merged_into == target
    assert source.merged_at is not None
    assert source.public_id == public_id
    assert (target.status, target.merged_into) == (CustomerStatus.ACTIVE, None)


def test_merge_sends_customer_merged_with_both_ids():
    source, target = CustomerFactory(), CustomerFactory()
    received = []

    def receiver(sender, **kwargs):
        received.append((sender, kwargs["source_id"], kwargs["target_id"]))

    customer_merged.connect(receiver, dispatch_uid="test-merge-signal")
    try:
        merge(source, target)
    finally:
        customer_merged.disconnect(dispatch_uid="test-merge-signal")

    assert received == [(Customer, source.pk, target.pk)]


def test_failing_customer_merged_receiver_aborts_the_whole_merge():
    source, target = CustomerFactory(), CustomerFactory()
    IdentityFactory(customer=source)

    def receiver(sender, **kwargs):
        raise RuntimeError("a higher app could not move its rows")

    customer_merged.connect(receiver, dispatch_uid="test-merge-failing")
    try:
        with pytest.raises(RuntimeError):
            merge(source, target)
    finally:
        customer_merged.disconnect(dispatch_uid="test-merge-failing")

    source.refresh_from_db()
    assert source.status == CustomerStatus.ACTIVE
    assert Identity.objects.get().customer == source
    assert not CustomerMerge.objects.exists()


def test_merge_chains_are_flattened_to_the_final_survivor():
    a, b, c = CustomerFactory(), CustomerFactory(), CustomerFactory()

    merge(a, b)
    merge(b, c)

    a.refresh_from_db()
    b.refresh_from_db()
    assert a.merged_into == c
    assert b.merged_into == c
    assert list(Customer.objects.filter(status="active")) == [c]


def test_merge_keeps_the_newer_consent_per_channel_and_purpose():
    source, target = CustomerFactory(), CustomerFactory()
    # source newer: source wins
    consent(source, ContactChannel.SMS, ConsentPurpose.MARKETING, False, LATE, "source")
    consent(target, ContactChannel.SMS, ConsentPurpose.MARKETING, True, EARLY, "target")
    # target newer: target wins
    consent(source, ContactChannel.EMAIL, ConsentPurpose.MARKETING, True, EARLY, "source")
    consent(target, ContactChannel.EMAIL, ConsentPurpose.MARKETING, False, LATE, "target")
    # same channel, other purpose: independent
    consent(source, ContactChannel.SMS, ConsentPurpose.SERVICE, True, EARLY, "source")
    # only on the target
    consent(target, ContactChannel.WECHAT, ConsentPurpose.SERVICE, True, EARLY, "target")

    record = merge(source, target)

    kept = {
        (c.channel, c.purpose): (c.granted, c.source, c.updated_at)
        for c in Consent.objects.filter(customer=target)
    }
    assert kept == {
        ("sms", "marketing"): (False, "source", LATE),
        ("email", "marketing"): (False, "target", LATE),
        ("sms", "service"): (True, "source", EARLY),
        ("wechat", "service"): (True, "target", EARLY),
    }
    assert not Consent.objects.filter(customer=source).exists()
    assert record.moved["consents"] == 2


def test_merge_with_equally_old_consents_keeps_the_targets():
    source, target = CustomerFactory(), CustomerFactory()
    consent(source, ContactChannel.SMS, ConsentPurpose.MARKETING, True, EARLY, "source")
    consent(target, ContactChannel.SMS, ConsentPurpose.MARKETING, False, EARLY, "target")

    merge(source, target)

    assert Consent.objects.get().source == "target"


@pytest.mark.parametrize(
    ("source_tier", "target_tier", "expected"),
    [
        (ValueTier.GOLD, ValueTier.SILVER, ValueTier.GOLD),
        (ValueTier.STANDARD, ValueTier.VIP, ValueTier.VIP),
        (ValueTier.VIP, ValueTier.STANDARD, ValueTier.VIP),
        (ValueTier.SILVER, ValueTier.SILVER, ValueTier.SILVER),
    ],
)
def test_merge_keeps_the_higher_value_tier(source_tier, target_tier, expected):
    source, target = CustomerFactory(tier=source_tier), CustomerFactory(tier=target_tier)

    merge(source, target)

    target.refresh_from_db()
    assert target.tier == expected


def test_merge_fills_the_targets_blank_profile_fields_from_the_source():
    store = StoreFactory()
    source = CustomerFactory(
        name="李雷",
        preferred_channel=ContactChannel.WECHAT,
        home_store=store,
        contact_hours_start=time(9),
        contact_hours_end=time(18),
    )
    target = CustomerFactory(name="", preferred_channel="", home_store=None)

    merge(source, target)

    target.refresh_from_db()
    assert target.name == "李雷"
    assert target.preferred_channel == ContactChannel.WECHAT
    assert target.home_store == store
    assert (target.contact_hours_start, target.contact_hours_end) == (time(9), time(18))


def test_merge_never_overwrites_the_targets_own_profile_fields():
    source = CustomerFactory(
        name="Source",
        preferred_channel=ContactChannel.SMS,
        home_store=StoreFactory(),
        contact_hours_start=time(8),
        contact_hours_end=time(12),
    )
    own_store = StoreFactory()
    target = CustomerFactory(
        name="Target",
        preferred_channel=ContactChannel.EMAIL,
        home_store=own_store,
        contact_hours_start=time(14),
        contact_hours_end=time(20),
        language="en",
    )

    merge(source, target)

    target.refresh_from_db()
    assert (target.name, target.preferred_channel, target.home_store, target.language) == (
        "Target",
        ContactChannel.EMAIL,
        own_store,
        "en",
    )
    assert (target.contact_hours_start, target.contact_hours_end) == (time(14), time(20))


# --- refusals ---------------------------------------------------------------------------


def test_merge_into_itself_is_refused():
    customer = CustomerFactory()

    with pytest.raises(DomainError) as caught:
        merge(customer, customer)

    assert caught.value.code == "merge_same_customer"
    customer.refresh_from_db()
    assert customer.status == CustomerStatus.ACTIVE


def test_merge_of_an_already_merged_source_is_refused():
    source, first_target, second_target = CustomerFactory(), CustomerFactory(), CustomerFactory()
    merge(source, first_target)

    with pytest.raises(ConflictError) as caught:
        merge(source, second_target)

    assert caught.value.code == "source_already_merged"
    assert caught.value.extra == {"merged_into": first_target.public_id}
    source.refresh_from_db()
    assert source.merged_into == first_target
    assert CustomerMerge.objects.count() == 1


def test_merge_into_a_merged_target_is_refused():
    source, tombstone, survivor = CustomerFactory(), CustomerFactory(), CustomerFactory()
    IdentityFactory(customer=source)
    merge(tombstone, survivor)

    with pytest.raises(ConflictError) as caught:
        merge(source, tombstone)

    assert caught.value.code == "target_merged"
    assert caught.value.extra == {"merged_into": survivor.public_id}
    source.refresh_from_db()
    assert source.status == CustomerStatus.ACTIVE
    assert Identity.objects.get().customer == source


def test_merge_of_an_unknown_customer_is_refused():
    customer = CustomerFactory()

    with pytest.raises(NotFoundError) as caught:
        merge_customers(source_id=customer.pk + 1000, target_id=customer.pk, actor="a", reason="r")

    assert caught.value.code == "customer_not_found"


# --- merge suggestions ------------------------------------------------------------------


def test_open_suggestion_between_the_two_merged_customers_is_marked_merged():
    source, target = CustomerFactory(), CustomerFactory()
    pending = suggestion(source, target)

    merge(source, target, actor="agent-7")

    pending.refresh_from_db()
    assert pending.status == SuggestionStatus.MERGED
    assert pending.resolved_by == "agent-7"
    assert pending.resolved_at is not None
    assert MergeSuggestion.objects.count() == 1


def test_open_suggestion_with_a_third_customer_is_retargeted_to_the_survivor():
    source, target, third = CustomerFactory(), CustomerFactory(), CustomerFactory()
    pending = suggestion(source, third, evidence=["web_visitor_id"])

    merge(source, target)

    pending.refresh_from_db()
    assert pending.status == SuggestionStatus.DISMISSED
    retargeted = MergeSuggestion.objects.get(status=SuggestionStatus.OPEN)
    assert {retargeted.customer_a, retargeted.customer_b} == {target, third}
    assert retargeted.customer_a.pk < retargeted.customer_b.pk
    assert retargeted.evidence == ["web_visitor_id"]


def test_retargeting_does_not_duplicate_an_open_suggestion_the_survivor_already_has():
    source, target, third = CustomerFactory(), CustomerFactory(), CustomerFactory()
    suggestion(source, third)
    existing = suggestion(target, third)

    merge(source, target)

    assert list(MergeSuggestion.objects.filter(status=SuggestionStatus.OPEN)) == [existing]


def test_resolved_suggestions_are_left_alone():
    source, target, third = CustomerFactory(), CustomerFactory(), CustomerFactory()
    dismissed = suggestion(source, third)
    dismissed.status, dismissed.resolved_by = SuggestionStatus.DISMISSED, "agent-1"
    dismissed.save()

    merge(source, target)

    dismissed.refresh_from_db()
    assert (dismissed.status, dismissed.resolved_by) == (SuggestionStatus.DISMISSED, "agent-1")
    assert not MergeSuggestion.objects.filter(status=SuggestionStatus.OPEN).exists()
