"""Write side of tickets: threading inbound messages, replies, notes, status, assignment.

Every function runs in one transaction and publishes its live events on commit; replies
leave through the kernel outbox (topic ``message.deliver``), whose handler lives in
``channels_hub``: this module never imports a channel adapter.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.dispatch import receiver
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from customers.identity import IdentityClaim
from customers.models import Customer
from customers.services import resolve_customer
from customers.signals import customer_merged
from omniservice import realtime
from omniservice.errors import ConflictError, DomainError
from omniservice.org.models import StaffProfile, Store, Team
from omniservice.outbox.services import enqueue
from tickets.attachments import MAX_ATTACHMENTS_PER_MESSAGE, UploadedContent
from tickets.models import (
    ALLOWED_TRANSITIONS,
    DELIVERY_RANK,
    OPEN_STATUSES,
    Attachment,
    AuthorKind,
    Channel,
    DeliveryStatus,
    Direction,
    Message,
    Priority,
    Ticket,
    TicketLink,
    TicketStatus,
    TicketStatusChange,
    TicketTag,
)
from tickets.richtext import content_id_of, html_to_text, resolve_images, sanitise_html
from tickets.signals import ticket_changed
from tickets.visibility import ticket_groups

logger = logging.getLogger(__name__)

DELIVER_TOPIC = "message.deliver"
MAX_BODY_CHARS = 20_000
SUBJECT_CHARS = 80
# Ticket fields every new message moves: their change rides on the message.added event.
MESSAGE_ACTIVITY_FIELDS = frozenset({"last_customer_message_at", "last_channel"})


@dataclass
class InboundResult:
    ticket: Ticket
    message: Message
    created_ticket: bool = False
    reopened: bool = False
    duplicate: bool = False


def actor_label(user: AbstractBaseUser | None) -> str:
    return f"user:{user.get_username()}" if user is not None else "system"


# --- inbound ----------------------------------------------------------------------------


def thread_inbound_message(
    *,
    channel: str,
    external_id: str | None,
    identities: Sequence[IdentityClaim],
    text: str = "",
    html: str = "",
    attachments: Sequence[UploadedContent] = (),
    store: Store | None = None,
    subject: str = "",
    profile: dict[str, Any] | None = None,
    ticket: Ticket | None = None,
    automated: bool = False,
) -> InboundResult:
    """Store a customer's message on the right ticket; a retry returns the first result.

    The customer's open ticket continues whatever channel the message came from; a ticket
    solved less than ``TICKET_REOPEN_DAYS`` ago is reopened; otherwise a new one opens.
    ``ticket``: the channel knows the conversation (an email's In-Reply-To): the message
    lands on that ticket (or the one it was merged into), reopening it when solved; a
    closed one is not continued. ``automated``: an auto-reply or bounce, kept for the
    record on ``ticket`` (or the customer's open ticket; ``DomainError`` when there is
    none) as a system message that moves no status, opens or reopens nothing and sends
    no ``ticket_changed`` (so no rule, SLA clock or acknowledgement reacts to it).
    """
    body_text, body_html = _clean_body(text, html, attachments=attachments)
    if channel not in Channel.values:
        raise DomainError(
            _("Unknown channel %(channel)s."), code="unknown_channel", params={"channel": channel}
        )
    for attempt in range(3):
        existing = _find_inbound(channel, external_id)
        if existing is not None:
            return InboundResult(ticket=existing.ticket, message=existing, duplicate=True)
        try:
            with transaction.atomic():
                return _thread(
                    channel=channel,
                    external_id=external_id,
                    identities=identities,
                    body_text=body_text,
                    body_html=body_html,
                    attachments=attachments,
                    store=store,
                    subject=subject,
                    profile=profile or {},
                    given=ticket,
                    automated=automated,
                )
        except IntegrityError:
            if attempt == 2:
                raise
            logger.info(
                "thread_inbound_message: concurrent delivery of %s/%s", channel, external_id
            )
    raise AssertionError("unreachable")


def _find_inbound(channel: str, external_id: str | None) -> Message | None:
    if not external_id:
        return None
    return (
        Message.objects.select_related("ticket")
        .filter(channel=channel, external_id=external_id)
        .first()
    )


def _thread(
    *,
    channel: str,
    external_id: str | None,
    identities: Sequence[IdentityClaim],
    body_text: str,
    body_html: str,
    attachments: Sequence[UploadedContent],
    store: Store | None,
    subject: str,
    profile: dict[str, Any],
    given: Ticket | None = None,
    automated: bool = False,
) -> InboundResult:
    now = timezone.now()
    if automated:
        return _store_automated(
            channel=channel,
            external_id=external_id,
            identities=identities,
            body_text=body_text,
            body_html=body_html,
            attachments=attachments,
            given=given,
        )
    resolution = resolve_customer(
        identities=identities, profile=profile, source=channel, actor=f"channel:{channel}"
    )
    customer = (  # a new customer's row is ours until commit; any other is locked first
        resolution.customer
        if resolution.created
        else Customer.objects.select_for_update().get(pk=resolution.customer.pk)
    )
    continued = _given_ticket_to_continue(given)
    if continued is not None:
        ticket, created, reopened = continued
    elif resolution.created:  # a first message: there is nothing to continue
        ticket = _new_ticket(customer, channel=channel, store=store, subject=subject or body_text)
        created, reopened = True, False
    else:
        ticket, created, reopened = _ticket_to_continue(
            customer, channel=channel, store=store, subject=subject or body_text, now=now
        )
    message = Message.objects.create(
        ticket=ticket,
        direction=Direction.INBOUND,
        channel=channel,
        author_kind=AuthorKind.CUSTOMER,
        body_text=body_text,
        body_html=body_html,
        delivery_status=DeliveryStatus.RECEIVED,
        external_id=external_id or None,
        store=store,
    )
    _show_inline_images(message, _save_attachments(message, attachments))
    changed = ["last_customer_message_at", *(["status"] if reopened else [])]
    if created or ticket.last_channel != channel:  # routing and SLA: only on a real switch
        changed.append("last_channel")
    ticket.last_customer_message_at, ticket.last_channel = now, channel
    if ticket.status == TicketStatus.PENDING:
        _record_status(
            ticket, TicketStatus.OPEN, actor=None, reason=gettext_noop("The customer replied")
        )
        changed.append("status")
    if store is not None and ticket.store_id is None:
        ticket.store = store
        changed.append("store")
    ticket.save()
    # A message on an open ticket that changes nothing else is ONE event, message.added,
    # carrying the ticket's state: half the frames per socket of a separate ticket.updated.
    activity_only = not created and not reopened and set(changed) <= MESSAGE_ACTIVITY_FIELDS
    _publish_ticket(
        ticket,
        "ticket.created" if created else "ticket.updated",
        changed,
        live=not activity_only,
        message_follows=created,
    )
    _publish_message(message, changed=changed if activity_only else None)
    return InboundResult(ticket=ticket, message=message, created_ticket=created, reopened=reopened)


def _live_ticket(given: Ticket | None) -> Ticket | None:
    """The given ticket locked, following merges; None when it is closed or gone."""
    pk = given.pk if given is not None else None
    for _hop in range(5):
        ticket = Ticket.objects.select_for_update().filter(pk=pk).first() if pk else None
        if ticket is None:
            return None
        if not ticket.merged_into_id:
            return None if ticket.status == TicketStatus.CLOSED else ticket
        pk = ticket.merged_into_id
    return None


def _given_ticket_to_continue(given: Ticket | None) -> tuple[Ticket, bool, bool] | None:
    ticket = _live_ticket(given)
    if ticket is None:
        return None
    if ticket.status in OPEN_STATUSES:
        return ticket, False, False
    ticket.reopen_count += 1
    _record_status(
        ticket, TicketStatus.OPEN, actor=None, reason=gettext_noop("The customer wrote again")
    )
    return ticket, False, True


def _store_automated(
    *,
    channel: str,
    external_id: str | None,
    identities: Sequence[IdentityClaim],
    body_text: str,
    body_html: str,
    attachments: Sequence[UploadedContent],
    given: Ticket | None,
) -> InboundResult:
    if given is None and identities:
        given = (
            Ticket.objects.filter(
                status__in=OPEN_STATUSES,
                merged_into__isnull=True,
                customer__identities__kind=identities[0].kind,
                customer__identities__value=identities[0].value,
            )
            .order_by("-updated_at")
            .first()
        )
    ticket = _live_ticket(given)
    if ticket is None:
        raise DomainError(
            _("An automatic message that belongs to no open ticket is not stored."),
            code="automated_without_ticket",
        )
    message = Message.objects.create(
        ticket=ticket,
        direction=Direction.INBOUND,
        channel=channel,
        author_kind=AuthorKind.SYSTEM,
        body_text=body_text,
        body_html=body_html,
        delivery_status=DeliveryStatus.RECEIVED,
        external_id=external_id or None,
    )
    _show_inline_images(message, _save_attachments(message, attachments))
    ticket.save(update_fields=["updated_at"])
    realtime.publish(
        ticket_groups(ticket),
        "message.added",
        {
            "ticket_id": ticket.pk,
            "message_id": message.pk,
            "direction": message.direction,
            "channel": message.channel,
            "author_id": None,
        },
    )
    return InboundResult(ticket=ticket, message=message)


def _ticket_to_continue(
    customer: Customer, *, channel: str, store: Store | None, subject: str, now: Any
) -> tuple[Ticket, bool, bool]:
    open_ticket = (
        customer.tickets.filter(status__in=OPEN_STATUSES, merged_into__isnull=True)
        .order_by("-updated_at")
        .first()
    )
    if open_ticket is not None:
        return open_ticket, False, False
    window = timedelta(days=settings.TICKET_REOPEN_DAYS)
    solved = (
        customer.tickets.filter(
            status=TicketStatus.SOLVED, solved_at__gte=now - window, merged_into__isnull=True
        )
        .order_by("-solved_at")
        .first()
    )
    if solved is not None:
        solved.reopen_count += 1
        _record_status(
            solved, TicketStatus.OPEN, actor=None, reason=gettext_noop("The customer wrote again")
        )
        return solved, False, True
    return _new_ticket(customer, channel=channel, store=store, subject=subject), True, False


def _new_ticket(customer: Customer, *, channel: str, store: Store | None, subject: str) -> Ticket:
    ticket = Ticket.objects.create(
        customer=customer,
        subject=_subject_from(subject),
        origin_channel=channel,
        last_channel=channel,
        store=store,
        status=TicketStatus.NEW,
    )
    TicketStatusChange.objects.create(
        ticket=ticket, to_status=TicketStatus.NEW, actor_label=f"channel:{channel}"
    )
    return ticket


def _subject_from(text: str) -> str:
    line = " ".join(text.split())
    if not line:
        return _("(no subject)")
    return line if len(line) <= SUBJECT_CHARS else line[: SUBJECT_CHARS - 1] + "…"


def _save_attachments(
    message: Message, attachments: Iterable[UploadedContent]
) -> list[tuple[UploadedContent, Attachment]]:
    saved = []
    for upload in attachments:
        attachment = Attachment(
            message=message,
            filename=upload.filename,
            content_type=upload.content_type,
            size=len(upload.content),
            sha256=upload.sha256,
        )
        attachment.file.save(upload.filename, ContentFile(upload.content), save=False)
        attachment.save()
        saved.append((upload, attachment))
    return saved


def _show_inline_images(
    message: Message, saved: Sequence[tuple[UploadedContent, Attachment]]
) -> None:
    """A customer's images in place: ``cid:`` sources (an email's inline parts) become the
    console's download URL of the stored attachment, which checks that the viewer may see
    the ticket; every other image (remote, an unknown or refused cid) is dropped, so the
    console never loads anything from elsewhere."""
    if "<img" not in message.body_html:
        return
    urls = {
        upload.content_id: reverse("console:attachment", args=[attachment.pk])
        for upload, attachment in saved
        if upload.content_id
    }

    def source_of(src: str) -> str | None:
        content_id = content_id_of(src)
        return urls.get(content_id) if content_id else None

    body_html = resolve_images(message.body_html, source_of)
    if body_html != message.body_html:
        message.body_html = body_html
        message.save(update_fields=["body_html"])


@transaction.atomic
def add_message_attachments(
    *, message_id: int, attachments: Sequence[UploadedContent]
) -> list[UploadedContent]:
    """Files that arrive after their message (a provider's media, fetched after the
    webhook was answered). Idempotent: a file the message already has (same SHA-256) is
    not stored twice. Returns what was added."""
    message = Message.objects.select_for_update().select_related("ticket").filter(pk=message_id)
    message = message.first()
    if message is None:
        return []
    present = set(message.attachments.values_list("sha256", flat=True))
    room = MAX_ATTACHMENTS_PER_MESSAGE - len(present)
    added = [upload for upload in attachments if upload.sha256 not in present][: max(room, 0)]
    if added:
        _save_attachments(message, added)
        realtime.publish(ticket_groups(message.ticket), "message.updated", _message_event(message))
    return added


# --- agent actions ----------------------------------------------------------------------


@transaction.atomic
def reply(
    *,
    ticket: Ticket,
    author: AbstractBaseUser | None,
    text: str,
    html: str = "",
    channel: str | None = None,
    author_kind: str = AuthorKind.AGENT,
    attachments: Sequence[UploadedContent] = (),
) -> Message:
    """Queue a reply to the customer on ``channel`` (default: the one they used last)."""
    ticket = _lock(ticket)
    body_text, body_html = _clean_body(text, html, attachments=attachments)
    chosen = channel or ticket.last_channel or ticket.origin_channel
    if chosen not in Channel.values:
        raise DomainError(
            _("Unknown channel %(channel)s."), code="unknown_channel", params={"channel": chosen}
        )
    if ticket.status == TicketStatus.CLOSED:
        raise ConflictError(
            _("A closed ticket cannot be answered; open a new one."), code="ticket_closed"
        )
    now = timezone.now()
    message = Message.objects.create(
        ticket=ticket,
        direction=Direction.OUTBOUND,
        channel=chosen,
        author_kind=author_kind,
        author_user=author,
        body_text=body_text,
        body_html=body_html,
        delivery_status=DeliveryStatus.QUEUED,
        status_changed_at=now,
    )
    _save_attachments(message, attachments)
    changed: list[str] = []
    if author_kind != AuthorKind.SYSTEM:  # a survey or notice is no answer to the customer
        changed.append("last_agent_message_at")
        ticket.last_agent_message_at = now
        if ticket.first_response_at is None:
            ticket.first_response_at = now
            changed.append("first_response_at")
        if ticket.status == TicketStatus.NEW:
            _record_status(
                ticket, TicketStatus.OPEN, actor=author, reason=gettext_noop("First reply")
            )
            changed.append("status")
    ticket.save()
    enqueue(DELIVER_TOPIC, {"message_id": message.pk}, dedupe_key=f"deliver:{message.pk}")
    _publish_ticket(ticket, "ticket.updated", changed)
    _publish_message(message)
    return message


@transaction.atomic
def add_note(
    *,
    ticket: Ticket,
    author: AbstractBaseUser | None,
    text: str,
    attachments: Sequence[UploadedContent] = (),
    author_kind: str = AuthorKind.AGENT,
) -> Message:
    """An internal note; automation writes its notes with ``author_kind=system``."""
    ticket = _lock(ticket)
    body_text, _html = _clean_body(text, "", attachments=attachments)
    message = Message.objects.create(
        ticket=ticket,
        direction=Direction.NOTE,
        channel=Channel.CONSOLE,
        author_kind=author_kind,
        author_user=author,
        body_text=body_text,
    )
    _save_attachments(message, attachments)
    ticket.save(update_fields=["updated_at"])
    _publish_message(message)
    return message


@transaction.atomic
def change_status(
    *, ticket: Ticket, status: str, actor: AbstractBaseUser | None, reason: str = ""
) -> Ticket:
    ticket = _lock(ticket)
    if status == ticket.status:
        return ticket
    if status not in ALLOWED_TRANSITIONS.get(ticket.status, ()):
        raise ConflictError(
            _("A ticket cannot go from %(from)s to %(to)s."),
            code="invalid_transition",
            params={
                "from": ticket.get_status_display(),
                "to": TicketStatus(status).label if status in TicketStatus.values else status,
            },
        )
    if ticket.status == TicketStatus.SOLVED and status == TicketStatus.OPEN:
        ticket.reopen_count += 1
    _record_status(ticket, status, actor=actor, reason=reason)
    ticket.save()
    _publish_ticket(ticket, "ticket.updated", ["status"])
    return ticket


@transaction.atomic
def update_ticket(
    *,
    ticket: Ticket,
    actor: AbstractBaseUser | None,
    priority: str | None = None,
    tags: Iterable[str] | None = None,
    subject: str | None = None,
) -> Ticket:
    ticket = _lock(ticket)
    changed: list[str] = []
    if priority is not None and priority != ticket.priority:
        if priority not in Priority.values:
            raise DomainError(
                _("Unknown priority."),
                code="invalid_priority",
                fields={"priority": [_("Unknown priority.")]},
            )
        ticket.priority = priority
        changed.append("priority")
    if subject is not None and subject.strip() and subject.strip() != ticket.subject:
        ticket.subject = subject.strip()[:200]
        changed.append("subject")
    if tags is not None:
        names = sorted({t.strip()[:50] for t in tags if t and t.strip()})
        TicketTag.objects.bulk_create([TicketTag(name=n) for n in names], ignore_conflicts=True)
        ticket.tags.set(TicketTag.objects.filter(name__in=names))
        changed.append("tags")
    if changed:
        ticket.save()
        _publish_ticket(ticket, "ticket.updated", changed)
    return ticket


@transaction.atomic
def assign(
    *,
    ticket: Ticket,
    actor: AbstractBaseUser | None,
    assignee: AbstractBaseUser | bool | None = False,
    team: Team | bool | None = False,
) -> Ticket:
    """Set the assignee and/or team (``False`` leaves a field unchanged, None clears it).

    Live events go to the groups of the ticket before AND after, so a team that lost the
    ticket sees it leave its inbox.
    """
    ticket = _lock(ticket)
    before = ticket_groups(ticket)
    changed: list[str] = []
    if team is not False and (team.pk if team else None) != ticket.team_id:
        ticket.team = team
        changed.append("team")
    if assignee is not False and (assignee.pk if assignee else None) != ticket.assignee_id:
        if (
            assignee is not None
            and not hasattr(assignee, "staff_profile")
            and not assignee.is_superuser
        ):
            raise DomainError(_("Only staff members can be assigned."), code="invalid_assignee")
        ticket.assignee = assignee
        changed.append("assignee")
    if changed:
        ticket.save()
        _publish_ticket(ticket, "ticket.updated", changed, extra_groups=before)
    return ticket


def publish_ticket_change(
    ticket: Ticket, changed: list[str], *, extra_groups: Iterable[str] = ()
) -> None:
    """The live ``ticket.updated`` event and ``ticket_changed`` signal of ``assign`` and the
    other actions, for writers that update many tickets in one statement (routing)."""
    _publish_ticket(ticket, "ticket.updated", changed, extra_groups=extra_groups)


def publish_ticket_changes(tickets: Sequence[Ticket], changed: list[str]) -> None:
    """``publish_ticket_change`` for many tickets changed by one statement: the same
    events, sent after commit in one trip (``realtime.publish_many``)."""
    realtime.publish_many(
        (ticket_groups(ticket), "ticket.updated", _ticket_state(ticket, changed))
        for ticket in tickets
    )
    for ticket in tickets:
        ticket_changed.send(Ticket, ticket=ticket, event="updated", changed=changed, message=None)


@transaction.atomic
def merge_tickets(*, source: Ticket, target: Ticket, actor: AbstractBaseUser | None) -> Ticket:
    """Move the source's messages to the target; the source redirects to the target."""
    if source.pk == target.pk:
        raise DomainError(_("A ticket cannot be merged into itself."), code="merge_same_ticket")
    locked = {
        t.pk: t
        for t in Ticket.objects.select_for_update()
        .filter(pk__in=[source.pk, target.pk])
        .order_by("pk")
    }
    source, target = locked[source.pk], locked[target.pk]
    if source.merged_into_id or target.merged_into_id:
        raise ConflictError(
            _("One of these tickets was already merged."), code="ticket_already_merged"
        )
    if source.customer_id != target.customer_id:
        raise DomainError(
            _("Only tickets of the same customer can be merged."), code="merge_other_customer"
        )
    moved = Message.objects.filter(ticket=source).update(ticket=target)
    Ticket.objects.filter(merged_into=source).update(merged_into=target)
    target.tags.add(*source.tags.all())
    Message.objects.create(
        ticket=target,
        direction=Direction.EVENT,
        channel=Channel.CONSOLE,
        author_kind=AuthorKind.SYSTEM,
        author_user=actor,
        body_text=_("Ticket #%(source)s was merged into this one (%(count)s messages).")
        % {"source": source.pk, "count": moved},
    )
    source.merged_into = target
    if source.status != TicketStatus.CLOSED:
        _record_status(
            source,
            TicketStatus.CLOSED,
            actor=actor,
            reason=_("Merged into #%(target)s") % {"target": target.pk},
        )
    source.save()
    target.save()
    _publish_ticket(source, "ticket.updated", ["status", "merged_into"])
    _publish_ticket(target, "ticket.updated", ["messages"])
    return target


@transaction.atomic
def link_tickets(*, ticket: Ticket, other: Ticket) -> TicketLink:
    if ticket.pk == other.pk:
        raise DomainError(_("A ticket cannot be linked to itself."), code="link_same_ticket")
    low, high = sorted([ticket, other], key=lambda t: t.pk)
    link, _created = TicketLink.objects.get_or_create(from_ticket=low, to_ticket=high)
    return link


@transaction.atomic
def revise_message_text(*, message: Message, text: str) -> Message:
    """Rewrite the text of a channel's own record that grows after it was stored (a
    phone call: ringing, then answered, its duration and the agent's notes)."""
    body_text, _html = _clean_body(text, "", attachments=())
    message = Message.objects.select_for_update().select_related("ticket").get(pk=message.pk)
    if message.body_text != body_text:
        message.body_text = body_text
        message.save(update_fields=["body_text"])
        ticket = message.ticket
        realtime.publish(
            ticket_groups(ticket),
            "message.updated",
            {"ticket_id": ticket.pk, "message_id": message.pk},
        )
    return message


@transaction.atomic
def hand_over_to_store(
    *,
    ticket: Ticket,
    store: Store,
    actor: AbstractBaseUser | None,
    reason: str,
    reply_text: str = "",
) -> Ticket:
    """Give an online conversation to a store ("visit us, we have reserved it").

    The ticket gets the store and the store's own team when it has one, so the store's
    staff see it, with its whole history, in their queue (an assignee who does not work
    there is removed); a note keeps the reason; the customer is told only when
    ``reply_text`` is given. Groups before and after hear of it.
    """
    if not reason.strip():
        raise DomainError(_("Say why the store takes over."), code="reason_required")
    ticket = _lock(ticket)
    before = ticket_groups(ticket)
    changed = []
    if ticket.store_id != store.pk:
        ticket.store = store
        changed.append("store")
    store_team = Team.objects.filter(store=store).order_by("pk").first()
    if store_team is not None and ticket.team_id != store_team.pk:
        ticket.team = store_team
        changed.append("team")
    if (
        ticket.assignee_id is not None
        and not StaffProfile.objects.filter(user_id=ticket.assignee_id, home_store=store).exists()
    ):
        ticket.assignee = None  # into the store's queue, for its own staff to take
        changed.append("assignee")
    if ticket.status == TicketStatus.SOLVED:
        _record_status(ticket, TicketStatus.OPEN, actor=actor, reason=gettext_noop("Handed over"))
        changed.append("status")
    ticket.save()
    _publish_ticket(ticket, "ticket.updated", changed or ["store"], extra_groups=before)
    add_note(
        ticket=ticket,
        author=actor,
        text=_("Handed over to %(store)s: %(reason)s") % {"store": store.name, "reason": reason},
    )
    if reply_text.strip():
        reply(ticket=ticket, author=actor, text=reply_text)
    return Ticket.objects.get(pk=ticket.pk)


@transaction.atomic
def record_delivery(
    *, message_id: int, status: str, reason: str = "", provider_message_id: str = ""
) -> bool:
    """Move an outbound message's delivery status forward; a late or repeated receipt that
    would move it backwards is ignored. Returns whether anything changed."""
    message = Message.objects.select_for_update().filter(pk=message_id).first()
    if message is None or message.direction != Direction.OUTBOUND:
        return False
    current = message.delivery_status
    current_rank = _rank_of(current)
    if status == DeliveryStatus.FAILED:
        if current in (DeliveryStatus.DELIVERED, DeliveryStatus.READ, DeliveryStatus.FAILED):
            return False
    elif status not in DELIVERY_RANK or DELIVERY_RANK[status] <= current_rank:
        return False
    message.delivery_status = status
    message.failure_reason = reason[:500]
    message.status_changed_at = timezone.now()
    if provider_message_id:
        message.provider_message_id = provider_message_id[:200]
    message.save(
        update_fields=[
            "delivery_status",
            "failure_reason",
            "status_changed_at",
            "provider_message_id",
        ]
    )
    ticket = message.ticket
    realtime.publish(
        ticket_groups(ticket),
        "message.delivery_changed",
        {"ticket_id": ticket.pk, "message_id": message.pk, "status": status},
    )
    return True


def _rank_of(status: str) -> int:
    # A failure comes after "sent": a late "queued"/"sent" must not revive a failed message.
    if status == DeliveryStatus.FAILED:
        return DELIVERY_RANK[DeliveryStatus.SENT]
    return DELIVERY_RANK.get(status, -1)


@transaction.atomic
def record_deliveries(*, message_ids: QuerySet[Any] | Collection[int], status: str) -> int:
    """``record_delivery`` for many replies at once (a provider's read or delivery
    watermark): the same forward-only rule, one UPDATE whatever their number, one live
    event per reply that moved. Returns how many moved; a repeated receipt moves none."""
    if status not in (DeliveryStatus.DELIVERED, DeliveryStatus.READ):
        raise ValueError(f"record_deliveries cannot record {status!r}")
    behind = [value for value in DeliveryStatus.values if _rank_of(value) < DELIVERY_RANK[status]]
    moving = list(
        Message.objects.select_for_update(of=("self",))
        .select_related("ticket")
        .filter(pk__in=message_ids, direction=Direction.OUTBOUND, delivery_status__in=behind)
        .order_by("pk")
    )
    if not moving:
        return 0
    Message.objects.filter(pk__in=[message.pk for message in moving]).update(
        delivery_status=status, failure_reason="", status_changed_at=timezone.now()
    )
    realtime.publish_many(
        (
            ticket_groups(message.ticket),
            "message.delivery_changed",
            {"ticket_id": message.ticket_id, "message_id": message.pk, "status": status},
        )
        for message in moving
    )
    return len(moving)


# --- helpers ----------------------------------------------------------------------------


def _clean_body(text: str, html: str, *, attachments: Sequence[Any]) -> tuple[str, str]:
    """Sanitised rich text and its plain text; refuses an empty or oversized message."""
    body_html = sanitise_html(html)
    body_text = (text or html_to_text(body_html)).strip()
    if not body_text and not attachments:
        raise DomainError(_("A message needs text or an attachment."), code="empty_message")
    if len(body_text) > MAX_BODY_CHARS:
        raise DomainError(_("A message is limited to 20,000 characters."), code="message_too_long")
    return body_text, body_html


def _lock(ticket: Ticket) -> Ticket:
    locked = Ticket.objects.select_for_update().get(pk=ticket.pk)
    if locked.merged_into_id:
        raise ConflictError(
            _("Ticket #%(number)s was merged into #%(target)s."),
            code="ticket_merged",
            params={"number": locked.pk, "target": locked.merged_into_id},
            extra={"merged_into": locked.merged_into_id},
        )
    return locked


def _record_status(
    ticket: Ticket, status: str, *, actor: AbstractBaseUser | None, reason: str
) -> None:
    """``reason``: the system's own reasons are stored untranslated (``gettext_noop``) and
    translated when shown, in the reader's language; people's reasons are kept as written."""
    now = timezone.now()
    TicketStatusChange.objects.create(
        ticket=ticket,
        from_status=ticket.status,
        to_status=status,
        actor=actor,
        actor_label=actor_label(actor),
        reason=reason[:255],
    )
    ticket.status = status
    if status == TicketStatus.SOLVED:
        ticket.solved_at = now
    elif status == TicketStatus.CLOSED:
        ticket.closed_at = now
    elif status == TicketStatus.OPEN:
        ticket.solved_at = None


def _publish_ticket(
    ticket: Ticket,
    event_type: str,
    changed: list[str],
    extra_groups: Iterable[str] = (),
    *,
    live: bool = True,
    message_follows: bool = False,
) -> None:
    """Tell the consoles (unless ``live`` is False: the change rides on another event) and
    the rest of tickets (``ticket_changed``, always) about a saved ticket."""
    if live:
        realtime.publish(
            ticket_groups(ticket) | set(extra_groups), event_type, _ticket_state(ticket, changed)
        )
    event = "created" if event_type == "ticket.created" else "updated"
    ticket_changed.send(
        Ticket,
        ticket=ticket,
        event=event,
        changed=changed,
        message=None,
        message_follows=message_follows,
    )


def _ticket_state(ticket: Ticket, changed: list[str]) -> dict[str, Any]:
    return {
        "ticket_id": ticket.pk,
        "changed": changed,
        "status": ticket.status,
        "priority": ticket.priority,
        "team_id": ticket.team_id,
        "assignee_id": ticket.assignee_id,
        "store_id": ticket.store_id,
    }


def add_timeline_event(*, ticket: Ticket, text: str, signal: bool = True) -> Message:
    """A system line on the ticket's timeline (an SLA warning, a survey answer), live.

    ``signal=False`` for writers that must not wake the ``ticket_changed`` receivers (the
    SLA job writing about the clock it keeps); the ticket's ``updated_at`` then stays too.
    """
    message = Message.objects.create(
        ticket=ticket,
        direction=Direction.EVENT,
        channel=Channel.CONSOLE,
        author_kind=AuthorKind.SYSTEM,
        body_text=text,
    )
    if not signal:
        realtime.publish(ticket_groups(ticket), "message.added", _message_event(message))
        return message
    ticket.save(update_fields=["updated_at"])
    _publish_message(message)
    return message


def _message_event(message: Message) -> dict[str, Any]:
    return {
        "ticket_id": message.ticket_id,
        "message_id": message.pk,
        "direction": message.direction,
        "channel": message.channel,
        "author_id": message.author_user_id,
    }


def _publish_message(message: Message, *, changed: list[str] | None = None) -> None:
    """``changed``: the ticket fields this message moved, sent with the ticket's state in
    the same event (then no ticket.updated is sent for them)."""
    ticket = message.ticket
    data: dict[str, Any] = _ticket_state(ticket, changed) if changed is not None else {}
    data.update(_message_event(message))
    realtime.publish(ticket_groups(ticket), "message.added", data)
    ticket_changed.send(Ticket, ticket=ticket, event="message_added", changed=[], message=message)


@receiver(customer_merged, dispatch_uid="tickets.move_tickets_of_merged_customer")
def move_tickets_of_merged_customer(
    sender: Any, source_id: int, target_id: int, **kwargs: Any
) -> None:
    """customers -> tickets: the surviving customer owns the merged one's tickets."""
    Ticket.objects.filter(customer_id=source_id).update(customer_id=target_id)
