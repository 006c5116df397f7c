"""Changes outside the ticket that move its SLA clock: the customer's tier, a store's hours.

Policies match on the customer's value tier, and store tickets run on the store's
opening hours and time zone, so a customer who becomes VIP or a store that changes its
hours must move the due times of the open tickets concerned. ``tickets`` listens to the
lower layers' ``post_save`` (the layer rule allows a higher app to listen downward).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver

from customers.models import Customer
from omniservice import config_cache, realtime
from omniservice.celery import queue_or_run
from omniservice.org.models import Store, Team
from tickets.models import OPEN_STATUSES, Ticket
from tickets.models.sla import BusinessCalendar, Holiday, SlaPolicy
from tickets.sla.clock import DUE_FIELDS, recompute
from tickets.sla.policies import SLA_CONFIG
from tickets.visibility import ticket_groups

DUE_NAMES = tuple(DUE_FIELDS.values())
SLA_CONFIG_MODELS = (SlaPolicy, BusinessCalendar, Holiday, Store, Team)


def forget_sla_config(sender: Any, **kwargs: Any) -> None:
    """Policies, calendars, holidays, stores' hours, teams' stores: the snapshot the clock
    reads is rebuilt. Connected before the receivers below, which recompute with it."""
    config_cache.invalidate(SLA_CONFIG)


for _model in SLA_CONFIG_MODELS:
    post_save.connect(forget_sla_config, sender=_model, dispatch_uid=f"sla-config-{_model}")
    post_delete.connect(forget_sla_config, sender=_model, dispatch_uid=f"sla-config-d-{_model}")
m2m_changed.connect(
    forget_sla_config, sender=SlaPolicy.teams.through, dispatch_uid="sla-config-policy-teams"
)


def open_tickets() -> Any:
    return Ticket.objects.filter(status__in=OPEN_STATUSES, merged_into__isnull=True)


@receiver(post_save, sender=Customer, dispatch_uid="tickets.sla.follow_customer_tier")
def follow_customer_tier(
    sender: Any,
    instance: Customer,
    created: bool = False,
    update_fields: frozenset[str] | None = None,
    **kwargs: Any,
) -> None:
    """customers -> sla: the customer's open tickets follow the policy of the new tier.

    Skipped for a new customer (no tickets yet) and for saves that name their fields
    without ``tier`` (the identity-resolution hot path only bumps ``updated_at``).
    """
    if created or kwargs.get("raw") or (update_fields is not None and "tier" not in update_fields):
        return
    with transaction.atomic():
        for ticket in open_tickets().select_for_update().filter(customer_id=instance.pk):
            recompute_and_publish(ticket)


@receiver(post_save, sender=Store, dispatch_uid="tickets.sla.follow_store_hours")
def follow_store_hours(sender: Any, instance: Store, created: bool = False, **kwargs: Any) -> None:
    """org -> sla: after commit, the store's open tickets run on its new hours."""
    if created or kwargs.get("raw"):
        return
    from tickets.sla.jobs import recompute_open_tickets

    store_id = instance.pk
    transaction.on_commit(lambda: queue_or_run(recompute_open_tickets, store_id=store_id))


def recompute_and_publish(ticket: Ticket) -> None:
    """Recompute one locked ticket; the console refetches its countdowns if they moved."""
    before = [getattr(ticket, name) for name in DUE_NAMES]
    recompute(ticket)
    changed = [
        name for name, old in zip(DUE_NAMES, before, strict=True) if getattr(ticket, name) != old
    ]
    if changed:
        realtime.publish(
            ticket_groups(ticket),
            "ticket.updated",
            {
                "ticket_id": ticket.pk,
                "changed": changed,
                "status": ticket.status,
                "priority": ticket.priority,
                "team_id": ticket.team_id,
                "assignee_id": ticket.assignee_id,
                "store_id": ticket.store_id,
            },
        )
