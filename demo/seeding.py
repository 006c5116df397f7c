"""Write the demo data set into the database, find it again, and delete it again.

The organisation (stores, skills, teams, staff) goes through the org services like any
other; the thousands of customers are written with ``bulk_create`` in batches, because
one ``create_customer`` per person would take minutes. The batches write the same rows
the services would: normalised identities, consents with their log, timeline events.

What the demo created is recognisable without a marker table: staff users by their
username and ``@demo.omniservice.example`` address, stores and teams by code and name,
customers by their ``cus_d3m0`` public id (which never moves in a merge). Skills and
tags are shared vocabulary and stay on a reset.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import islice

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.db.models import ProtectedError, Q, QuerySet, RestrictedError

from customers.identity import IdentityClaim
from customers.models import (
    Consent,
    ConsentLog,
    Customer,
    CustomerEvent,
    CustomerMerge,
    Identity,
    Tag,
)
from customers.selectors import identity_rows_for
from demo import reference_data as ref
from demo.conversations import DEFAULT_TICKETS, demo_tickets_q, seed_conversations
from demo.people import CustomerGenerator, PlannedCustomer
from omniservice.org.models import Skill, Store, Team
from omniservice.org.services import create_staff_member
from tickets.models import Ticket

DEFAULT_CUSTOMERS = 3000
DEFAULT_SEED = 20240601
BATCH_SIZE = 500
ACTOR = "seed_demo"

Progress = Callable[[str], None]


class DemoState(enum.Enum):
    ABSENT = "absent"
    PRESENT = "present"
    CONFLICT = "conflict"


class ResetBlocked(Exception):
    """Other data points at the demo data with a protected foreign key."""


@dataclass
class SeedReport:
    stores: int = 0
    teams: int = 0
    skills: int = 0
    staff: int = 0
    customers: int = 0
    identities: int = 0
    skipped_identities: int = 0
    events: int = 0
    consents: int = 0
    look_alike_pairs: int = 0
    tickets: int = 0
    seconds: float = 0.0


# --- finding the demo data --------------------------------------------------------------


def _demo_users() -> QuerySet:
    return get_user_model().objects.filter(
        username__in=ref.DEMO_USERNAMES, email__iendswith="@" + ref.DEMO_EMAIL_DOMAIN
    )


def _demo_customers() -> QuerySet[Customer]:
    return Customer.objects.filter(public_id__startswith=ref.DEMO_PUBLIC_ID_PREFIX)


def _demo_team_q() -> Q:
    names = {spec.slug: spec.name for spec in ref.TEAMS}
    names |= {ref.store_team_slug(s.code): _store_team_name(s) for s in ref.STORES}
    condition = Q(pk__in=[])
    for slug, name in names.items():
        condition |= Q(slug=slug, name=name)
    return condition


def _demo_store_q() -> Q:
    condition = Q(pk__in=[])
    for spec in ref.STORES:
        condition |= Q(code=spec.code, name=spec.name)
    return condition


def demo_state() -> tuple[DemoState, list[str]]:
    """Whether the demo data is here, absent, or blocked by rows seed_demo did not write."""
    if _demo_users().filter(username=ref.STAFF[0].username).exists():
        return DemoState.PRESENT, []
    users = get_user_model().objects.filter(username__in=ref.DEMO_USERNAMES)
    conflicts = [f"user {name}" for name in users.values_list("username", flat=True)]
    stores = Store.objects.filter(code__in=[s.code for s in ref.STORES])
    conflicts += [f"store {code}" for code in stores.values_list("code", flat=True)]
    slugs = [t.slug for t in ref.TEAMS] + [ref.store_team_slug(s.code) for s in ref.STORES]
    teams = Team.objects.filter(slug__in=slugs)
    conflicts += [f"team {slug}" for slug in teams.values_list("slug", flat=True)]
    if _demo_customers().exists():
        conflicts.append(f"customers with public ids {ref.DEMO_PUBLIC_ID_PREFIX}…")
    return (DemoState.CONFLICT if conflicts else DemoState.ABSENT), sorted(conflicts)


# --- reset ------------------------------------------------------------------------------


@transaction.atomic
def reset_demo() -> dict[str, int]:
    """Delete what seed_demo created (and what was merged into it), nothing else."""
    doomed = Customer.objects.filter(
        Q(public_id__startswith=ref.DEMO_PUBLIC_ID_PREFIX)
        | Q(merged_into__public_id__startswith=ref.DEMO_PUBLIC_ID_PREFIX)
    )
    deleted: dict[str, int] = {}
    try:
        _count(deleted, CustomerMerge.objects.filter(Q(source__in=doomed) | Q(target__in=doomed)))
        # Merges point tombstones straight at the surviving customer (chains are
        # flattened), so deleting the tombstones first frees every demo customer.
        _count(deleted, Ticket.objects.filter(demo_tickets_q()))
        _count(deleted, Customer.objects.filter(merged_into__in=doomed))
        _count(deleted, _demo_customers())
        _count(deleted, _demo_users())
        _count(deleted, Team.objects.filter(_demo_team_q()))
        _count(deleted, Store.objects.filter(_demo_store_q()))
    except (ProtectedError, RestrictedError) as exc:
        blockers = sorted({type(obj)._meta.label for obj in exc.args[1]})
        raise ResetBlocked(
            "Other data refers to the demo data through protected links "
            f"({', '.join(blockers)}); delete it first or use a fresh database."
        ) from exc
    return deleted


def _count(deleted: dict[str, int], queryset: QuerySet) -> None:
    _total, per_model = queryset.delete()
    for label, number in per_model.items():
        deleted[label] = deleted.get(label, 0) + number


# --- seeding ----------------------------------------------------------------------------


@transaction.atomic
def seed_demo(
    *,
    customers: int = DEFAULT_CUSTOMERS,
    seed: int = DEFAULT_SEED,
    now: datetime,
    progress: Progress | None = None,
) -> SeedReport:
    """Create the demo organisation and ``customers`` customers, all in one transaction.

    The caller checks ``demo_state()`` first; seeding over existing demo rows fails on
    their unique codes and names rather than duplicating them.
    """
    started = time.monotonic()
    say = progress or (lambda _message: None)
    report = SeedReport()
    stores = _create_stores()
    skills = _create_skills()
    teams = _create_teams(stores)
    report.stores, report.skills, report.teams = len(stores), len(skills), len(teams)
    report.staff = _create_staff(stores, teams, skills)
    say(f"organisation: {len(stores)} stores, {len(teams)} teams, {report.staff} staff")

    generator = CustomerGenerator(seed=seed, now=now, store_codes=list(stores))
    store_ids = {code: store.pk for code, store in stores.items()}
    for batch in _batches(generator.generate(customers), BATCH_SIZE):
        _write_customers(batch, store_ids, report)
        say(f"customers: {report.customers}/{customers}")
    report.tickets = seed_conversations(
        count=min(DEFAULT_TICKETS, customers // 5), seed=seed, now=now
    )
    say(f"tickets: {report.tickets}")
    report.seconds = time.monotonic() - started
    return report


def _create_stores() -> dict[str, Store]:
    stores = {}
    for spec in ref.STORES:
        store = Store(
            code=spec.code,
            name=spec.name,
            name_en=spec.name_en,
            city=spec.city,
            address=spec.address,
            phone=spec.phone,
            timezone="Asia/Shanghai",
            opening_hours=spec.opening_hours,
        )
        store.full_clean()
        store.save()
        stores[spec.code] = store
    return stores


def _create_skills() -> dict[str, Skill]:
    return {
        code: Skill.objects.get_or_create(code=code, defaults={"name": name})[0]
        for code, name in ref.SKILLS
    }


def _store_team_name(spec: ref.StoreSpec) -> str:
    return f"{spec.name} / {spec.name_en}"


def _create_teams(stores: dict[str, Store]) -> dict[str, Team]:
    teams = {
        spec.slug: Team.objects.create(slug=spec.slug, name=spec.name, description=spec.description)
        for spec in ref.TEAMS
    }
    for spec in ref.STORES:
        slug = ref.store_team_slug(spec.code)
        teams[slug] = Team.objects.create(
            slug=slug,
            name=_store_team_name(spec),
            description=f"{spec.city} · {spec.address}",
            store=stores[spec.code],
        )
    return teams


def _create_staff(
    stores: dict[str, Store], teams: dict[str, Team], skills: dict[str, Skill]
) -> int:
    user_ids = []
    for spec in ref.STAFF:
        profile = create_staff_member(
            username=spec.username,
            password=None,
            role=spec.role,
            display_name=spec.display_name,
            email=f"{spec.username}@{ref.DEMO_EMAIL_DOMAIN}",
            teams=[teams[slug] for slug in spec.teams],
            skills=[skills[code] for code in spec.skills],
            home_store=stores[spec.home_store] if spec.home_store else None,
            languages=spec.languages,
            capacity=spec.capacity,
        )
        for slug in spec.leads:
            Team.objects.filter(pk=teams[slug].pk).update(lead=profile.user)
        user_ids.append(profile.user_id)
    # One hash for the one published password: PBKDF2 costs a good fraction of a
    # second per call, which would dominate a seed of a few thousand customers.
    get_user_model().objects.filter(pk__in=user_ids).update(
        password=make_password(ref.DEMO_PASSWORD)
    )
    return len(user_ids)


def _batches(items: Iterable[PlannedCustomer], size: int) -> Iterator[list[PlannedCustomer]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def _write_customers(
    plans: list[PlannedCustomer], store_ids: dict[str, int], report: SeedReport
) -> None:
    rows = [
        Customer(
            public_id=plan.public_id,
            name=plan.name,
            language=plan.language,
            timezone=plan.timezone,
            tier=plan.tier,
            preferred_channel=plan.preferred_channel,
            contact_hours_start=plan.contact_hours[0] if plan.contact_hours else None,
            contact_hours_end=plan.contact_hours[1] if plan.contact_hours else None,
            home_store_id=store_ids.get(plan.home_store) if plan.home_store else None,
        )
        for plan in plans
    ]
    Customer.objects.bulk_create(rows)
    # created_at is auto_now_add, which bulk_create fills with "now"; the demo wants
    # each customer to be as old as their history.
    for row, plan in zip(rows, plans, strict=True):
        row.created_at = plan.first_seen
    Customer.objects.bulk_update(rows, ["created_at"])

    taken = identity_rows_for(
        [IdentityClaim(i.kind, i.value) for plan in plans for i in plan.identities]
    )
    identities = [
        Identity(
            customer_id=row.pk,
            kind=i.kind,
            value=i.value,
            verified=i.verified,
            source=ref.DEMO_SOURCE,
        )
        for row, plan in zip(rows, plans, strict=True)
        for i in plan.identities
        if (i.kind, i.value) not in taken
    ]
    Identity.objects.bulk_create(identities)

    tag_ids = _ensure_tags({name for plan in plans for name in plan.tags})
    Customer.tags.through.objects.bulk_create(
        [
            Customer.tags.through(customer_id=row.pk, tag_id=tag_ids[name])
            for row, plan in zip(rows, plans, strict=True)
            for name in plan.tags
        ]
    )

    consents = [(row.pk, c) for row, plan in zip(rows, plans, strict=True) for c in plan.consents]
    Consent.objects.bulk_create(
        [
            Consent(
                customer_id=customer_id,
                channel=c.channel,
                purpose=c.purpose,
                granted=c.granted,
                source=ref.DEMO_SOURCE,
                updated_at=c.updated_at,
            )
            for customer_id, c in consents
        ]
    )
    ConsentLog.objects.bulk_create(
        [
            ConsentLog(
                customer_id=customer_id,
                channel=c.channel,
                purpose=c.purpose,
                granted=c.granted,
                source=ref.DEMO_SOURCE,
                actor=ACTOR,
            )
            for customer_id, c in consents
        ]
    )

    events = [
        CustomerEvent(
            customer_id=row.pk,
            kind=e.kind,
            source=e.source,
            external_id=e.external_id,
            occurred_at=e.occurred_at,
            amount=e.amount,
            currency=ref.CURRENCY if e.amount is not None else "",
            store_id=store_ids[e.store_code] if e.store_code else None,
            data=e.data,
        )
        for row, plan in zip(rows, plans, strict=True)
        for e in plan.events
    ]
    CustomerEvent.objects.bulk_create(events, batch_size=BATCH_SIZE * 2)

    report.customers += len(rows)
    report.identities += len(identities)
    report.skipped_identities += sum(len(p.identities) for p in plans) - len(identities)
    report.consents += len(consents)
    report.events += len(events)
    report.look_alike_pairs += sum(1 for plan in plans if plan.twin_of)


def _ensure_tags(names: set[str]) -> dict[str, int]:
    Tag.objects.bulk_create([Tag(name=name) for name in sorted(names)], ignore_conflicts=True)
    return dict(Tag.objects.filter(name__in=names).values_list("name", "id"))
