"""Resolution, merge and ingest under real concurrency: several threads, one connection each.

PostgreSQL only (SQLite serialises writers, so there is no race to lose). Threads start
together on a barrier; each closes its own connection when done.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from customers.identity import IdentityClaim
from customers.ingest import ingest_events
from customers.models import (
    Customer,
    CustomerEvent,
    CustomerMerge,
    CustomerStatus,
    Identity,
    IdentityKind,
)
from customers.services import merge_customers, resolve_customer
from omniservice.errors import ConflictError
from tests.factories import CustomerFactory, IdentityFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

JOIN_TIMEOUT = 60


def run_together(*calls: Callable[[], Any]) -> list[tuple[str, Any]]:
    """Run each call in its own thread, all released at once.

    Returns ``("ok", value)`` or ``("error", exception)`` per call, in order.
    """
    barrier = threading.Barrier(len(calls))
    outcomes: list[tuple[str, Any] | None] = [None] * len(calls)

    def run(position: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=JOIN_TIMEOUT)
            outcomes[position] = ("ok", call())
        except Exception as exc:
            outcomes[position] = ("error", exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, args=(position, call)) for position, call in enumerate(calls)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "a thread is stuck"
    return outcomes  # type: ignore[return-value]


def values(outcomes: list[tuple[str, Any]]) -> list[Any]:
    errors = [value for status, value in outcomes if status == "error"]
    assert not errors, errors
    return [value for _status, value in outcomes]


def test_concurrent_resolutions_of_the_same_new_identities_create_one_customer():
    claims = [
        IdentityClaim(IdentityKind.PHONE, "+8613812345678", True),
        IdentityClaim(IdentityKind.WECHAT_OPENID, "o-race"),
    ]

    resolutions = values(run_together(*[lambda: resolve_customer(identities=claims)] * 6))

    customer = Customer.objects.get()
    assert {resolution.customer.pk for resolution in resolutions} == {customer.pk}
    assert [resolution.created for resolution in resolutions].count(True) == 1
    assert set(Identity.objects.values_list("customer", "kind")) == {
        (customer.pk, "phone"),
        (customer.pk, "wechat_openid"),
    }


def test_concurrent_resolutions_that_link_two_customers_merge_them_once():
    oldest, newer = CustomerFactory(), CustomerFactory()
    IdentityFactory(customer=oldest, kind=IdentityKind.MEMBER_NO, value="M-1")
    IdentityFactory(customer=newer, kind=IdentityKind.MEMBER_NO, value="M-2")
    claims = [
        IdentityClaim(IdentityKind.MEMBER_NO, "M-2"),
        IdentityClaim(IdentityKind.MEMBER_NO, "M-1"),
    ]

    resolutions = values(run_together(*[lambda: resolve_customer(identities=claims)] * 4))

    assert {resolution.customer.pk for resolution in resolutions} == {oldest.pk}
    assert CustomerMerge.objects.count() == 1
    newer.refresh_from_db()
    assert newer.merged_into_id == oldest.pk


def test_opposite_concurrent_merges_end_with_one_merge_and_no_cycle():
    a, b = CustomerFactory(), CustomerFactory()
    IdentityFactory(customer=a)
    IdentityFactory(customer=b)

    outcomes = run_together(
        lambda: merge_customers(source_id=a.pk, target_id=b.pk, actor="agent-1", reason="r"),
        lambda: merge_customers(source_id=b.pk, target_id=a.pk, actor="agent-2", reason="r"),
    )

    assert sorted(status for status, _value in outcomes) == ["error", "ok"]
    [error] = [value for status, value in outcomes if status == "error"]
    assert isinstance(error, ConflictError)
    assert error.code in {"source_already_merged", "target_merged"}
    record = CustomerMerge.objects.get()
    survivor = Customer.objects.get(status=CustomerStatus.ACTIVE)
    tombstone = Customer.objects.get(status=CustomerStatus.MERGED)
    assert (record.source_id, record.target_id) == (tombstone.pk, survivor.pk)
    assert tombstone.merged_into_id == survivor.pk
    assert survivor.merged_into_id is None
    assert set(Identity.objects.values_list("customer", flat=True)) == {survivor.pk}


def test_merges_around_a_triangle_leave_no_cycle():
    a, b, c = CustomerFactory(), CustomerFactory(), CustomerFactory()

    outcomes = run_together(
        lambda: merge_customers(source_id=a.pk, target_id=b.pk, actor="x", reason="r"),
        lambda: merge_customers(source_id=b.pk, target_id=c.pk, actor="y", reason="r"),
        lambda: merge_customers(source_id=c.pk, target_id=a.pk, actor="z", reason="r"),
    )

    succeeded = [status for status, _value in outcomes].count("ok")
    assert succeeded == CustomerMerge.objects.count() >= 1
    [survivor] = Customer.objects.filter(status=CustomerStatus.ACTIVE)
    for tombstone in Customer.objects.filter(status=CustomerStatus.MERGED):
        assert tombstone.merged_into_id == survivor.pk


def test_concurrent_batches_with_overlapping_external_ids_store_each_event_once():
    def batch(first: int) -> list[dict[str, Any]]:
        # ids (and the identities they bring) rise in every batch, as partners send them
        return [
            {
                "kind": "order",
                "source": "shop",
                "external_id": f"o-{n:04d}",
                "occurred_at": "2024-05-01T10:00:00+08:00",
                "identities": [{"kind": "member_no", "value": f"M-{n // 10}"}],
                "amount": "10.00",
                "currency": "CNY",
            }
            for n in range(first, first + 30)
        ]

    starts = [0, 10, 20, 25]
    outcomes = run_together(
        *[(lambda first=first: ingest_events(items=batch(first), actor="shop")) for first in starts]
    )

    results = [result for batch_results in values(outcomes) for result in batch_results]
    expected_ids = {f"o-{n:04d}" for first in starts for n in range(first, first + 30)}
    stored = dict(CustomerEvent.objects.values_list("external_id", "id"))
    assert set(stored) == expected_ids
    created = Counter(r.event_id for r in results if r.status == "created")
    assert set(created.values()) == {1}
    assert set(created) == set(stored.values())
    assert {r.status for r in results} == {"created", "duplicate"}
    assert {r.event_id for r in results} == set(stored.values())
    # each member number ended on one customer, with all its events
    for member in Identity.objects.filter(kind=IdentityKind.MEMBER_NO):
        number = int(member.value.removeprefix("M-"))
        assert set(
            CustomerEvent.objects.filter(
                external_id__in=[f"o-{n:04d}" for n in range(number * 10, number * 10 + 10)]
            ).values_list("customer", flat=True)
        ) <= {member.customer_id}
    assert Customer.objects.count() == Identity.objects.count()


@pytest.mark.parametrize("round_number", range(3))
def test_merge_racing_an_event_batch_leaves_no_event_on_the_tombstone(round_number):
    survivor, source = CustomerFactory(), CustomerFactory()
    IdentityFactory(customer=source, kind=IdentityKind.PHONE, value="+8613800000009")
    items = [
        {
            "kind": "browse",
            "source": "web",
            "external_id": f"b-{round_number}-{n}",
            "occurred_at": "2024-05-01T10:00:00+08:00",
            "identities": [
                {"kind": "phone", "value": "+8613800000009"},
                {"kind": "web_visitor_id", "value": f"v-{n % 5}"},
            ],
        }
        for n in range(50)
    ]

    outcomes = run_together(
        lambda: merge_customers(
            source_id=source.pk, target_id=survivor.pk, actor="agent", reason="same person"
        ),
        lambda: ingest_events(items=items, actor="web"),
    )

    _merge, results = values(outcomes)
    assert {r.status for r in results} == {"created"}
    assert not CustomerEvent.objects.filter(customer=source).exists()
    assert not Identity.objects.filter(customer=source).exists()
    assert CustomerEvent.objects.filter(customer=survivor).count() == 50
    assert Identity.objects.filter(customer=survivor).count() == 6
    source.refresh_from_db()
    assert source.merged_into_id == survivor.pk
