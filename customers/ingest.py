"""Batch ingest of timeline events (orders, returns, browsing, store visits, feedback).

A batch of up to ``API_EVENT_BATCH_LIMIT`` items is validated item by item: a bad item
gets its own error and never blocks the others. The valid items are stored in ONE
transaction with a handful of set-based queries instead of a resolution per item:

1. items already stored (same source + external id) are answered as duplicates;
2. every identity of the batch is looked up at once;
3. items are grouped by the new identities they share; a group whose known identities
   all point to one customer (or to none) is stored in bulk;
4. the rare group whose identities point to several customers goes through
   ``resolve_customer`` one item at a time (merge or merge suggestion).

A batch that loses a race with a concurrent one (a unique identity or event inserted
meanwhile, a deadlock, a customer merged meanwhile) is retried whole; the retry sees
what the winner stored, so the result is the same as if they had run one after the other.
"""

from __future__ import annotations

import json
import logging
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import IntegrityError, OperationalError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from customers.identity import IdentityClaim, merge_claims, parse_claims
from customers.models import Customer, CustomerEvent, CustomerStatus, EventKind, Identity
from customers.selectors import identity_rows_for
from customers.services import StaleCustomer, resolve_customer
from omniservice.errors import BusyError, DomainError
from omniservice.org.models import Store

logger = logging.getLogger(__name__)

SOURCE_PATTERN = re.compile(r"^[A-Za-z0-9_.:-]{1,50}$")
CURRENCY_PATTERN = re.compile(r"^[A-Z]{3}$")
MAX_DATA_BYTES = 16_384
FUTURE_TOLERANCE = timedelta(days=1)
BATCH_ATTEMPTS = 4
RETRYABLE_PGCODES = {"40P01", "40001"}  # deadlock detected, serialization failure
EVENT_KINDS = frozenset(EventKind.values)  # Choices.values builds a new list per call


@dataclass
class EventInput:
    index: int
    kind: str
    source: str
    external_id: str
    occurred_at: datetime
    claims: list[IdentityClaim]
    profile: dict[str, str]
    amount: Decimal | None
    currency: str
    store_id: int | None
    data: dict[str, Any]

    @property
    def key(self) -> tuple[str, str]:
        return (self.source, self.external_id)


@dataclass
class ItemResult:
    index: int
    status: str
    event_id: int | None = None
    customer_id: str | None = None
    error: dict[str, Any] | None = field(default=None)

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"index": self.index, "status": self.status}
        if self.error is not None:
            body["error"] = self.error
        else:
            body["event_id"] = self.event_id
            body["customer_id"] = self.customer_id
        return body


# --- parsing ----------------------------------------------------------------------------


def _invalid(message: str, code: str = "invalid", field_name: str | None = None) -> DomainError:
    fields = {field_name: [message]} if field_name else None
    return DomainError(message, code=code, fields=fields)


def _text(
    raw: dict[str, Any], name: str, pattern: re.Pattern[str] | None = None, max_length: int = 200
) -> str:
    value = raw.get(name)
    if not isinstance(value, str) or not value.strip():
        raise _invalid(_("%(name)s is required.") % {"name": name}, "required", name)
    value = value.strip()
    if (
        len(value) > max_length
        or "\x00" in value
        or (pattern is not None and not pattern.match(value))
    ):
        raise _invalid(_("%(name)s is malformed.") % {"name": name}, "invalid", name)
    return value


def _occurred_at(raw: Any) -> datetime:
    try:
        parsed = parse_datetime(raw) if isinstance(raw, str) else None
    except ValueError:  # well formed but impossible, e.g. 30 February
        parsed = None
    if parsed is None:
        raise _invalid(
            _("occurred_at must be an ISO 8601 date and time."), "invalid_datetime", "occurred_at"
        )
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)  # the installation's TIME_ZONE
    if parsed > timezone.now() + FUTURE_TOLERANCE:
        raise _invalid(_("occurred_at is in the future."), "occurred_at_in_future", "occurred_at")
    return parsed


def _amount(raw: dict[str, Any]) -> tuple[Decimal | None, str]:
    value = raw.get("amount")
    if value is None:
        return None, ""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _invalid(_("amount must be a decimal number."), "invalid_amount", "amount")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise _invalid(_("amount must be a decimal number."), "invalid_amount", "amount") from None
    if not amount.is_finite() or amount.as_tuple().exponent < -2 or amount.adjusted() >= 12:
        raise _invalid(
            _("amount must have at most 2 decimals and 12 digits."), "invalid_amount", "amount"
        )
    currency = raw.get("currency")
    if not isinstance(currency, str) or not CURRENCY_PATTERN.match(currency):
        raise _invalid(
            _("An amount needs a currency (ISO 4217 code such as CNY)."),
            "invalid_currency",
            "currency",
        )
    return amount, currency


def _profile(raw: Any) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise _invalid(_("customer must be an object."), "invalid", "customer")
    profile: dict[str, str] = {}
    name = raw.get("name")
    if name is not None:
        if not isinstance(name, str) or len(name) > 200 or "\x00" in name:
            raise _invalid(
                _("customer.name must be text of at most 200 characters."), "invalid", "customer"
            )
        profile["name"] = name.strip()
    language = raw.get("language")
    if language is not None:
        if not isinstance(language, str) or language not in dict(settings.LANGUAGES):
            raise _invalid(_("customer.language must be zh-hans or en."), "invalid", "customer")
        profile["language"] = language
    return profile


def _data(kind: str, raw: Any) -> dict[str, Any]:
    data = {} if raw is None else raw
    if not isinstance(data, dict):
        raise _invalid(_("data must be an object."), "invalid", "data")
    encoded = json.dumps(data, ensure_ascii=False)
    if len(encoded.encode()) > MAX_DATA_BYTES:
        raise _invalid(_("data is larger than 16 KB."), "data_too_large", "data")
    if "\\u0000" in encoded:  # PostgreSQL refuses NUL in jsonb
        raise _invalid(_("data must not contain NUL characters."), "invalid", "data")
    if kind == EventKind.ORDER_STATUS and not (
        isinstance(data.get("status"), str) and data["status"]
    ):
        raise _invalid(_("An order_status event needs data.status."), "required", "data")
    rating = data.get("rating")
    if (
        kind == EventKind.FEEDBACK
        and rating is not None
        and (isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5)
    ):
        raise _invalid(_("data.rating must be an integer from 1 to 5."), "invalid", "data")
    return data


def parse_event(index: int, raw: Any, stores: dict[str, int]) -> EventInput:
    if not isinstance(raw, dict):
        raise _invalid(_("Each event must be an object."), "invalid_event")
    kind = raw.get("kind")
    if not isinstance(kind, str) or kind not in EVENT_KINDS:
        raise _invalid(
            _("Unknown event kind %(kind)s; use one of %(kinds)s.")
            % {"kind": kind, "kinds": ", ".join(EventKind.values)},
            "unknown_event_kind",
            "kind",
        )
    store_code = raw.get("store")
    store_id = None
    if store_code is not None:
        store_id = stores.get(store_code) if isinstance(store_code, str) else None
        if store_id is None:
            raise _invalid(
                _("Unknown store %(code)s.") % {"code": store_code}, "unknown_store", "store"
            )
    amount, currency = _amount(raw)
    try:
        claims = parse_claims(raw.get("identities"))
    except DomainError as exc:
        exc.fields = {"identities": [exc.text]}
        raise
    return EventInput(
        index=index,
        kind=kind,
        source=_text(raw, "source", SOURCE_PATTERN, 50),
        external_id=_text(raw, "external_id", None, 200),
        occurred_at=_occurred_at(raw.get("occurred_at")),
        claims=claims,
        profile=_profile(raw.get("customer")),
        amount=amount,
        currency=currency,
        store_id=store_id,
        data=_data(kind, raw.get("data")),
    )


def _store_codes(items: list[Any]) -> dict[str, int]:
    codes = {
        item["store"]
        for item in items
        if isinstance(item, dict) and isinstance(item.get("store"), str)
    }
    if not codes:
        return {}
    return dict(Store.objects.filter(code__in=codes).values_list("code", "id"))


# --- storing ----------------------------------------------------------------------------


def ingest_events(*, items: Any, actor: str) -> list[ItemResult]:
    """Validate and store a batch of events; one result per item, in order."""
    if not isinstance(items, list):
        raise DomainError(
            _("events must be a list."),
            code="invalid_batch",
            fields={"events": [_("Expected a list.")]},
        )
    if not items:
        raise DomainError(_("The batch is empty."), code="empty_batch")
    limit = settings.API_EVENT_BATCH_LIMIT
    if len(items) > limit:
        raise DomainError(
            _("A batch holds at most %(limit)s events; this one has %(count)s."),
            code="batch_too_large",
            params={"limit": limit, "count": len(items)},
        )
    stores = _store_codes(items)
    results: dict[int, ItemResult] = {}
    valid: list[EventInput] = []
    for index, raw in enumerate(items):
        try:
            valid.append(parse_event(index, raw, stores))
        except DomainError as exc:
            results[index] = ItemResult(
                index, "error", error={"code": exc.code, "message": exc.text, "fields": exc.fields}
            )
    if valid:
        results.update(_store_with_retries(valid, actor))
    return [results[index] for index in range(len(items))]


def _retryable(exc: Exception) -> bool:
    if isinstance(exc, IntegrityError | StaleCustomer):
        return True
    if isinstance(exc, OperationalError):
        cause = exc.__cause__
        return getattr(cause, "pgcode", None) in RETRYABLE_PGCODES or "locked" in str(exc)
    return False


def _store_with_retries(valid: list[EventInput], actor: str) -> dict[int, ItemResult]:
    for attempt in range(1, BATCH_ATTEMPTS + 1):
        try:
            with transaction.atomic():
                return _store(valid, actor)
        except (IntegrityError, OperationalError, StaleCustomer) as exc:
            if not _retryable(exc) or attempt == BATCH_ATTEMPTS:
                if _retryable(exc):
                    raise BusyError(
                        _("The batch kept colliding with concurrent writes; retry it."),
                        code="busy_retry",
                    ) from exc
                raise
            logger.info("ingest_events: batch lost a race (%s), attempt %s", exc, attempt)
    raise AssertionError("unreachable")


def _existing_events(keys: set[tuple[str, str]]) -> dict[tuple[str, str], tuple[int, str]]:
    by_source: dict[str, list[str]] = defaultdict(list)
    for source, external_id in keys:
        by_source[source].append(external_id)
    condition = Q()
    for source, external_ids in by_source.items():
        condition |= Q(source=source, external_id__in=external_ids)
    rows = CustomerEvent.objects.filter(condition).values_list(
        "source", "external_id", "id", "customer__public_id"
    )
    return {(source, ext): (event_id, public_id) for source, ext, event_id, public_id in rows}


def _group_by_new_identities(
    fresh: list[EventInput], known: set[tuple[str, str]]
) -> list[list[int]]:
    """Items sharing an identity that is not stored yet must land on one customer."""
    parent = list(range(len(fresh)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_holder: dict[tuple[str, str], int] = {}
    for position, item in enumerate(fresh):
        for claim in item.claims:
            if claim.key in known:
                continue
            holder = first_holder.setdefault(claim.key, position)
            parent[find(position)] = find(holder)
    groups: dict[int, list[int]] = defaultdict(list)
    for position in range(len(fresh)):
        groups[find(position)].append(position)
    return list(groups.values())


def _store(valid: list[EventInput], actor: str) -> dict[int, ItemResult]:
    results: dict[int, ItemResult] = {}
    existing = _existing_events({item.key for item in valid})
    fresh: list[EventInput] = []
    first_of_key: dict[tuple[str, str], int] = {}
    repeats: list[EventInput] = []
    for item in valid:
        if item.key in existing:
            event_id, public_id = existing[item.key]
            results[item.index] = ItemResult(item.index, "duplicate", event_id, public_id)
        elif item.key in first_of_key:
            repeats.append(item)
        else:
            first_of_key[item.key] = item.index
            fresh.append(item)

    rows = identity_rows_for(merge_claims(c for item in fresh for c in item.claims))
    new_groups: list[list[int]] = []
    owned_groups: list[tuple[int, list[int]]] = []
    contested: list[int] = []
    for group in _group_by_new_identities(fresh, set(rows)):
        owners = {
            rows[c.key]["customer_id"] for p in group for c in fresh[p].claims if c.key in rows
        }
        if not owners:
            new_groups.append(group)
        elif len(owners) == 1:
            owned_groups.append((owners.pop(), group))
        else:
            contested.extend(group)

    customer_of: dict[int, Customer] = {}  # position in fresh -> customer
    owners = _lock_owners({owner for owner, _group in owned_groups})
    identities: list[Identity] = []
    to_verify: list[int] = []
    changed: set[int] = set()  # existing customers whose identities change
    for owner_id, group in owned_groups:
        customer = owners[owner_id]
        for position in group:
            customer_of[position] = customer
        claims = merge_claims(c for p in group for c in fresh[p].claims)
        source = fresh[group[0]].source
        added = [_identity(customer, c, source) for c in claims if c.key not in rows]
        verified = [
            rows[c.key]["id"]
            for c in claims
            if c.key in rows and c.verified and not rows[c.key]["verified"]
        ]
        if added or verified:
            identities += added
            to_verify += verified
            changed.add(owner_id)

    created = [_new_customer(fresh, group) for group in new_groups]
    Customer.objects.bulk_create(created)
    for customer, group in zip(created, new_groups, strict=True):
        for position in group:
            customer_of[position] = customer
        claims = merge_claims(c for p in group for c in fresh[p].claims)
        identities += [_identity(customer, c, fresh[group[0]].source) for c in claims]

    Identity.objects.bulk_create(identities)
    if to_verify:
        Identity.objects.filter(pk__in=to_verify).update(verified=True)
    if changed:  # like resolve_customer: a new event alone leaves the customer unchanged
        Customer.objects.filter(pk__in=changed).update(updated_at=timezone.now())

    events = [_event(fresh[p], customer_of[p]) for p in sorted(customer_of)]
    CustomerEvent.objects.bulk_create(events)
    for position, event in zip(sorted(customer_of), events, strict=True):
        item = fresh[position]
        results[item.index] = ItemResult(
            item.index, "created", event.pk, customer_of[position].public_id
        )

    survivors = _store_contested([fresh[p] for p in sorted(contested)], actor, results)
    if survivors:
        for result in results.values():
            if result.customer_id in survivors:
                result.customer_id = survivors[result.customer_id]
    for item in repeats:
        first = results[first_of_key[item.key]]
        results[item.index] = ItemResult(item.index, "duplicate", first.event_id, first.customer_id)
    return results


def _lock_owners(owner_ids: set[int]) -> dict[int, Customer]:
    """Lock the customers events go to, so a concurrent merge waits or makes us retry."""
    if not owner_ids:
        return {}
    locked = {
        customer.pk: customer
        for customer in Customer.objects.select_for_update(no_key=True)
        .filter(pk__in=owner_ids)
        .only("pk", "public_id", "status")
        .order_by("pk")
    }
    if len(locked) != len(owner_ids) or any(
        c.status != CustomerStatus.ACTIVE for c in locked.values()
    ):
        raise StaleCustomer
    return locked


def _store_contested(
    items: list[EventInput], actor: str, results: dict[int, ItemResult]
) -> dict[str, str]:
    """Items whose identities point to several customers: resolve (and merge) one by one.

    Returns {merged public id: surviving public id} for the merges that happened.
    """
    survivors: dict[str, str] = {}
    for item in items:
        resolution = resolve_customer(
            identities=item.claims, profile=item.profile, source=item.source, actor=actor
        )
        customer = resolution.customer
        if resolution.merged_ids:
            merged = Customer.objects.filter(pk__in=resolution.merged_ids)
            for public_id in merged.values_list("public_id", flat=True):
                survivors[public_id] = customer.public_id
        event = _event(item, customer)
        event.save()
        results[item.index] = ItemResult(item.index, "created", event.pk, customer.public_id)
    return survivors


def _new_customer(fresh: list[EventInput], group: list[int]) -> Customer:
    profile: dict[str, str] = {}
    for position in group:
        for key, value in fresh[position].profile.items():
            if value:
                profile.setdefault(key, value)
    return Customer(**profile)


def _identity(customer: Customer, claim: IdentityClaim, source: str) -> Identity:
    return Identity(
        customer=customer,
        kind=claim.kind,
        value=claim.value,
        verified=claim.verified,
        source=source,
    )


def _event(item: EventInput, customer: Customer) -> CustomerEvent:
    return CustomerEvent(
        customer=customer,
        kind=item.kind,
        source=item.source,
        external_id=item.external_id,
        occurred_at=item.occurred_at,
        amount=item.amount,
        currency=item.currency,
        store_id=item.store_id,
        data=item.data,
    )
