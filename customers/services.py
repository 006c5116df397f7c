"""Write side of the customer record: create, update, consent, resolve and merge.

Identity resolution and merging are correct under concurrency: identities are unique
per (kind, value) in the database, customers touched by a resolution or a merge are
locked in primary-key order (no deadlock between two merges), and a resolution that
lost a race simply runs again and finds what the winner stored.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import time
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.identity import (
    KIND_PRIORITY,
    IdentityClaim,
    is_strong,
    merge_claims,
    require_known_kind,
)
from customers.models import (
    TIER_RANK,
    Consent,
    ConsentLog,
    Customer,
    CustomerEvent,
    CustomerMerge,
    CustomerStatus,
    Identity,
    MergeSuggestion,
    SuggestionStatus,
    Tag,
)
from customers.selectors import identity_rows_for
from customers.signals import customer_merged
from omniservice import realtime
from omniservice.errors import ConflictError, DomainError, NotFoundError
from omniservice.org.models import Store

logger = logging.getLogger(__name__)

PROFILE_FIELDS = ("name", "language", "timezone", "tier", "preferred_channel", "home_store")
RESOLVE_ATTEMPTS = 3


class StaleCustomer(Exception):
    """A customer found by identity was merged meanwhile; resolve again."""


@dataclass
class Resolution:
    customer: Customer
    created: bool = False
    merged_ids: list[int] = field(default_factory=list)
    suggestion_ids: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class ConsentInput:
    channel: str
    purpose: str
    granted: bool


# --- create and update ------------------------------------------------------------------


@transaction.atomic
def create_customer(
    *,
    identities: Sequence[IdentityClaim],
    profile: dict[str, Any] | None = None,
    tags: Iterable[str] = (),
    consents: Iterable[ConsentInput] = (),
    contact_hours: tuple[time, time] | None = None,
    source: str = "",
    actor: str = "",
) -> Customer:
    """A new customer owning ``identities``; 409 if one of them belongs to someone."""
    claims = merge_claims(identities)
    taken = identity_rows_for(claims)
    if taken:
        row = next(iter(taken.values()))
        raise ConflictError(
            _("The %(kind)s identity belongs to another customer."),
            code="identity_taken",
            params={"kind": row["kind"]},
            extra={"customer_id": _public_id(row["customer_id"])},
        )
    customer = Customer(**_clean_profile(profile or {}))
    if contact_hours:
        customer.contact_hours_start, customer.contact_hours_end = contact_hours
    _validate(customer)
    try:
        with transaction.atomic():
            customer.save()
            _add_identities(customer, claims, source=source)
    except IntegrityError as exc:
        raise ConflictError(
            _("One of these identities was just taken by another customer."), code="identity_taken"
        ) from exc
    set_tags(customer=customer, names=tags)
    for consent in consents:
        set_consent(customer=customer, consent=consent, source=source, actor=actor)
    return customer


@transaction.atomic
def update_customer(
    *,
    customer: Customer,
    profile: dict[str, Any],
    tags: Iterable[str] | None = None,
    consents: Iterable[ConsentInput] = (),
    contact_hours: tuple[time, time] | bool | None = False,
    source: str = "",
    actor: str = "",
) -> Customer:
    """Change profile fields; ``contact_hours=None`` clears them, ``False`` leaves them."""
    locked = _lock_active(customer.pk)
    for name, value in _clean_profile(profile).items():
        setattr(locked, name, value)
    if contact_hours is None:
        locked.contact_hours_start = locked.contact_hours_end = None
    elif contact_hours:
        locked.contact_hours_start, locked.contact_hours_end = contact_hours
    _validate(locked)
    locked.save()
    if tags is not None:
        set_tags(customer=locked, names=tags)
    for consent in consents:
        set_consent(customer=locked, consent=consent, source=source, actor=actor)
    realtime.publish(
        [f"customer.{locked.pk}"], "customer.updated", {"customer_id": locked.public_id}
    )
    return locked


def set_tags(*, customer: Customer, names: Iterable[str]) -> None:
    wanted = sorted({name.strip() for name in names if name and name.strip()})
    existing = {tag.name: tag for tag in Tag.objects.filter(name__in=wanted)}
    missing = [Tag(name=name) for name in wanted if name not in existing]
    if missing:
        Tag.objects.bulk_create(missing, ignore_conflicts=True)
        existing = {tag.name: tag for tag in Tag.objects.filter(name__in=wanted)}
    customer.tags.set(existing.values())


def set_consent(
    *, customer: Customer, consent: ConsentInput, source: str = "", actor: str = ""
) -> Consent:
    """Record the customer's current consent for a channel and purpose, with history."""
    row, _created = Consent.objects.update_or_create(
        customer=customer,
        channel=consent.channel,
        purpose=consent.purpose,
        defaults={"granted": consent.granted, "source": source, "updated_at": timezone.now()},
    )
    ConsentLog.objects.create(
        customer=customer,
        channel=consent.channel,
        purpose=consent.purpose,
        granted=consent.granted,
        source=source,
        actor=actor,
    )
    return row


def _clean_profile(profile: dict[str, Any]) -> dict[str, Any]:
    unknown = set(profile) - set(PROFILE_FIELDS)
    if unknown:
        raise DomainError(
            _("Unknown profile fields: %(names)s."),
            code="invalid",
            params={"names": ", ".join(sorted(unknown))},
        )
    cleaned = dict(profile)
    store = cleaned.get("home_store")
    if isinstance(store, str):
        cleaned["home_store"] = resolve_store(store, field="home_store")
    return cleaned


def resolve_store(code: str, *, field: str = "store") -> Store:
    store = Store.objects.filter(code=code).first()
    if store is None:
        raise DomainError(
            _("Unknown store %(code)s."),
            code="unknown_store",
            params={"code": code},
            fields={field: [_("Unknown store.")]},
        )
    return store


def _validate(customer: Customer) -> None:
    from django.core.exceptions import ValidationError

    try:
        customer.full_clean(
            exclude=["public_id", "merged_into", "tags"],
            validate_unique=False,
            validate_constraints=False,
        )
    except ValidationError as exc:
        raise DomainError(
            _("The customer has invalid fields."), code="invalid", fields=exc.message_dict
        ) from exc


def _lock_active(customer_id: int) -> Customer:
    customer = Customer.objects.select_for_update().filter(pk=customer_id).first()
    if customer is None:
        raise NotFoundError(_("No such customer."), code="customer_not_found")
    if customer.status == CustomerStatus.MERGED:
        raise ConflictError(
            _("This customer was merged into another one."),
            code="customer_merged",
            extra={"merged_into": _public_id(customer.merged_into_id)},
        )
    return customer


def _public_id(customer_id: int | None) -> str | None:
    if customer_id is None:
        return None
    return Customer.objects.filter(pk=customer_id).values_list("public_id", flat=True).first()


# --- identity resolution ----------------------------------------------------------------


def _add_identities(customer: Customer, claims: Iterable[IdentityClaim], *, source: str) -> None:
    Identity.objects.bulk_create(
        [
            Identity(
                customer=customer,
                kind=c.kind,
                value=c.value,
                verified=c.verified,
                source=source[:50],
            )
            for c in claims
        ]
    )


def resolve_customer(
    *,
    identities: Sequence[IdentityClaim],
    profile: dict[str, Any] | None = None,
    source: str = "",
    actor: str = "system",
) -> Resolution:
    """The one customer these identities belong to, creating or merging as needed.

    - none known: a new customer owning all of them;
    - one customer: that customer, and the unknown identities are added to it;
    - several: those reached through a strong identifier (member number, verified phone
      or email, on both sides) are merged into the oldest; those reached only through
      weak ones stay apart, the claim goes to the best-ranked one, and a merge suggestion
      is recorded for a human.
    """
    claims = merge_claims(identities)
    if not claims:
        raise DomainError(_("At least one identity is needed."), code="missing_identities")
    for claim in claims:  # claims come normalised; an unknown kind is a caller's bug
        require_known_kind(claim.kind)
    for attempt in range(1, RESOLVE_ATTEMPTS + 1):
        try:
            with transaction.atomic():
                return _resolve_once(claims, profile or {}, source=source, actor=actor)
        except (IntegrityError, StaleCustomer):
            if attempt == RESOLVE_ATTEMPTS:
                raise
            logger.info("resolve_customer: lost a race (attempt %s), retrying", attempt)
    raise AssertionError("unreachable")


def _resolve_once(
    claims: list[IdentityClaim], profile: dict[str, Any], *, source: str, actor: str
) -> Resolution:
    rows = identity_rows_for(claims)
    if not rows:
        customer = Customer(**_clean_profile(_creation_profile(profile)))
        _validate(customer)
        customer.save()
        _add_identities(customer, claims, source=source)
        return Resolution(customer=customer, created=True)

    owner_ids = sorted({row["customer_id"] for row in rows.values()})
    owners = {
        c.pk: c
        for c in Customer.objects.select_for_update().filter(pk__in=owner_ids).order_by("pk")
    }
    if len(owners) != len(owner_ids) or any(
        c.status != CustomerStatus.ACTIVE for c in owners.values()
    ):
        raise StaleCustomer

    strong_owner_ids: set[int] = set()
    best_rank: dict[int, int] = {}
    for claim in claims:
        row = rows.get(claim.key)
        if row is None:
            continue
        owner_id = row["customer_id"]
        if is_strong(claim.kind, claim.verified) and is_strong(claim.kind, row["verified"]):
            strong_owner_ids.add(owner_id)
        rank = KIND_PRIORITY[claim.kind]
        best_rank[owner_id] = min(rank, best_rank.get(owner_id, rank))

    resolution = Resolution(customer=owners[owner_ids[0]])
    if strong_owner_ids:
        target = owners[min(strong_owner_ids)]
        for source_id in sorted(strong_owner_ids - {target.pk}):
            _merge_locked(
                source=owners[source_id],
                target=target,
                actor=actor,
                reason=_("Strong identifier seen together (%(source)s)")
                % {"source": source or actor},
            )
            resolution.merged_ids.append(source_id)
    else:
        target = owners[min(best_rank, key=lambda cid: (best_rank[cid], cid))]
    resolution.customer = target

    for other_id in sorted(set(owner_ids) - {target.pk} - set(resolution.merged_ids)):
        evidence = sorted(
            {
                c.kind
                for c in claims
                if rows.get(c.key, {}).get("customer_id") in (other_id, target.pk)
            }
        )
        suggestion = suggest_merge(customer_ids=(target.pk, other_id), evidence=evidence)
        if suggestion is not None:
            resolution.suggestion_ids.append(suggestion.pk)

    new_claims = [c for c in claims if c.key not in rows]
    if new_claims:
        _add_identities(target, new_claims, source=source)
    now_on_target = {target.pk, *resolution.merged_ids}  # rows read before the merges
    to_verify = [
        rows[c.key]["id"]
        for c in claims
        if c.key in rows
        and c.verified
        and not rows[c.key]["verified"]
        and rows[c.key]["customer_id"] in now_on_target
    ]
    if to_verify:
        Identity.objects.filter(pk__in=to_verify).update(verified=True)
    if not target.name and profile.get("name"):
        target.name = profile["name"]
        target.save(update_fields=["name", "updated_at"])
    elif new_claims or to_verify:
        target.save(update_fields=["updated_at"])
    return resolution


def _creation_profile(profile: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in profile.items() if key in PROFILE_FIELDS and value}


def suggest_merge(*, customer_ids: tuple[int, int], evidence: list[str]) -> MergeSuggestion | None:
    """Record (once) that two customers may be one person; None if already suggested."""
    low, high = sorted(customer_ids)
    if low == high:
        return None
    try:
        with transaction.atomic():
            return MergeSuggestion.objects.create(
                customer_a_id=low, customer_b_id=high, evidence=evidence
            )
    except IntegrityError:
        return None


# --- merge ------------------------------------------------------------------------------


@transaction.atomic
def merge_customers(*, source_id: int, target_id: int, actor: str, reason: str) -> CustomerMerge:
    """Merge the source customer into the target; the source remains as a tombstone."""
    if source_id == target_id:
        raise DomainError(_("A customer cannot be merged into itself."), code="merge_same_customer")
    locked = {
        c.pk: c
        for c in Customer.objects.select_for_update()
        .filter(pk__in=[source_id, target_id])
        .order_by("pk")
    }
    if len(locked) != 2:
        raise NotFoundError(_("No such customer."), code="customer_not_found")
    source, target = locked[source_id], locked[target_id]
    for customer, code in ((source, "source_already_merged"), (target, "target_merged")):
        if customer.status == CustomerStatus.MERGED:
            raise ConflictError(
                _("Customer %(id)s was already merged into another one."),
                code=code,
                params={"id": customer.public_id},
                extra={"merged_into": _public_id(customer.merged_into_id)},
            )
    return _merge_locked(source=source, target=target, actor=actor, reason=reason)


def _merge_locked(*, source: Customer, target: Customer, actor: str, reason: str) -> CustomerMerge:
    """Move everything of ``source`` to ``target``; both rows are locked by the caller."""
    snapshot = {
        "public_id": source.public_id,
        "name": source.name,
        "tier": source.tier,
        "identities": list(source.identities.values("kind", "value", "verified")),
        "tags": list(source.tags.values_list("name", flat=True)),
    }
    moved = {
        "identities": Identity.objects.filter(customer=source).update(customer=target),
        "events": CustomerEvent.objects.filter(customer=source).update(customer=target),
        "consents": _merge_consents(source, target),
        "consent_log": ConsentLog.objects.filter(customer=source).update(customer=target),
    }
    target.tags.add(*source.tags.all())
    _merge_profile(source, target)
    _retarget_suggestions(source, target, actor=actor)
    Customer.objects.filter(merged_into=source).update(merged_into=target)

    now = timezone.now()
    source.status, source.merged_into, source.merged_at = CustomerStatus.MERGED, target, now
    source.save(update_fields=["status", "merged_into", "merged_at", "updated_at"])
    target.save()
    record = CustomerMerge.objects.create(
        source=source,
        target=target,
        actor=actor[:150],
        reason=reason[:255],
        moved=moved,
        source_snapshot=snapshot,
    )
    customer_merged.send(sender=Customer, source_id=source.pk, target_id=target.pk)
    realtime.publish(
        [f"customer.{source.pk}", f"customer.{target.pk}", "managers"],
        "customer.merged",
        {"source_id": source.public_id, "target_id": target.public_id},
    )
    logger.info("merged customer %s into %s by %s", source.public_id, target.public_id, actor)
    return record


def _merge_profile(source: Customer, target: Customer) -> None:
    for name in ("name", "preferred_channel", "home_store_id"):
        if not getattr(target, name) and getattr(source, name):
            setattr(target, name, getattr(source, name))
    if target.contact_hours_start is None and source.contact_hours_start is not None:
        target.contact_hours_start = source.contact_hours_start
        target.contact_hours_end = source.contact_hours_end
    if TIER_RANK[source.tier] > TIER_RANK[target.tier]:
        target.tier = source.tier


def _merge_consents(source: Customer, target: Customer) -> int:
    """Keep, per channel and purpose, the most recent of the two customers' consents."""
    moved = 0
    target_consents = {(c.channel, c.purpose): c for c in target.consents.all()}
    for consent in source.consents.all():
        current = target_consents.get((consent.channel, consent.purpose))
        if current is None or consent.updated_at > current.updated_at:
            if current is not None:
                current.delete()
            consent.customer = target
            consent.save(update_fields=["customer"])
            moved += 1
        else:
            consent.delete()
    return moved


def _retarget_suggestions(source: Customer, target: Customer, *, actor: str) -> None:
    open_pairs = MergeSuggestion.objects.filter(status=SuggestionStatus.OPEN).filter(
        Q(customer_a=source) | Q(customer_b=source)
    )
    now = timezone.now()
    for suggestion in open_pairs:
        other = (
            suggestion.customer_b_id
            if suggestion.customer_a_id == source.pk
            else suggestion.customer_a_id
        )
        status = SuggestionStatus.MERGED if other == target.pk else SuggestionStatus.DISMISSED
        suggestion.status, suggestion.resolved_at, suggestion.resolved_by = status, now, actor[:150]
        suggestion.save(update_fields=["status", "resolved_at", "resolved_by"])
        if other != target.pk:
            suggest_merge(customer_ids=(target.pk, other), evidence=suggestion.evidence)


@transaction.atomic
def dismiss_merge_suggestion(*, suggestion: MergeSuggestion, actor: str) -> MergeSuggestion:
    updated = MergeSuggestion.objects.filter(pk=suggestion.pk, status=SuggestionStatus.OPEN).update(
        status=SuggestionStatus.DISMISSED, resolved_at=timezone.now(), resolved_by=actor[:150]
    )
    if not updated:
        raise ConflictError(_("This suggestion was already resolved."), code="suggestion_resolved")
    suggestion.refresh_from_db()
    return suggestion
