"""Read side of the customer record."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db.models import Prefetch, Q, QuerySet

from customers.identity import IdentityClaim
from customers.models import (
    Consent,
    Customer,
    CustomerEvent,
    CustomerStatus,
    Identity,
)


def identity_rows_for(claims: Sequence[IdentityClaim]) -> dict[tuple[str, str], dict[str, Any]]:
    """Stored identity rows matching these claims, keyed by (kind, value): one query."""
    if not claims:
        return {}
    by_kind: dict[str, list[str]] = {}
    for claim in claims:
        by_kind.setdefault(claim.kind, []).append(claim.value)
    condition = Q()
    for kind, values in by_kind.items():
        condition |= Q(kind=kind, value__in=values)
    rows = Identity.objects.filter(condition).values(
        "id", "kind", "value", "verified", "customer_id"
    )
    return {(row["kind"], row["value"]): row for row in rows}


def with_profile(queryset: QuerySet[Customer]) -> QuerySet[Customer]:
    """Everything a customer representation shows, in a fixed number of queries."""
    return queryset.select_related("home_store", "merged_into").prefetch_related(
        Prefetch("identities", queryset=Identity.objects.order_by("kind", "id")),
        "tags",
        Prefetch("consents", queryset=Consent.objects.order_by("channel", "purpose")),
    )


def active_customers() -> QuerySet[Customer]:
    return Customer.objects.filter(status=CustomerStatus.ACTIVE)


def customer_by_public_id(public_id: str) -> Customer | None:
    """The customer with this public id, merged ones included (callers redirect)."""
    return with_profile(Customer.objects.filter(public_id=public_id)).first()


def customer_by_identity(claim: IdentityClaim) -> Customer | None:
    identity = Identity.objects.filter(kind=claim.kind, value=claim.value).only("customer_id")
    return with_profile(Customer.objects.filter(pk__in=identity.values("customer_id"))).first()


def customer_timeline(customer: Customer) -> QuerySet[CustomerEvent]:
    return customer.events.select_related("store").order_by("-occurred_at", "-id")
