"""The web chat conversation: a visitor's messages in, the agents' replies out, live.

A visitor sees the web-chat messages (from the customer, to the customer) of the tickets
of ITS customer, never notes, events or other channels. Its customer is fixed by its
first message: the visitor id (and the site's verified user id) always; the phone or
email of the pre-chat form only when nobody owns it yet. A phone or email that belongs to
another customer is NOT claimed (a visitor could type anybody's address): a merge
suggestion asks a human instead. So a visitor can never land on another person's ticket.

Live events to a visitor go to the group ``webchat.<visitor id>`` and are thin
(``message.added`` with the message id, typing with the agent's display name); the widget
fetches the messages over HTTP.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.dispatch import receiver
from django.utils import timezone
from django.utils.translation import gettext as _

from channels_hub.adapters.base import InboundMessage, claim
from channels_hub.inbox import ingest_message
from channels_hub.models import ChannelConnection, WebChatVisitor
from channels_hub.webchat_access import VisitorToken, visitor_group
from customers.identity import IdentityClaim, InvalidIdentity
from customers.models import Identity, IdentityKind
from customers.selectors import identity_rows_for
from customers.services import suggest_merge
from customers.signals import customer_merged
from omniservice import realtime
from omniservice.errors import DomainError
from tickets import services as ticket_services
from tickets.attachments import UploadedContent
from tickets.models import (
    OPEN_STATUSES,
    AuthorKind,
    Channel,
    DeliveryStatus,
    Direction,
    Message,
    Ticket,
)

logger = logging.getLogger(__name__)

NAME_CHARS = 120
TOPIC_CHARS = 120
HISTORY_LIMIT = 200
OFFLINE_TAG = "web-chat-offline"


@dataclass(frozen=True)
class PreChat:
    name: str = ""
    contact: str = ""
    topic: str = ""


def clean_prechat(raw: dict[str, Any], *, contact_required: bool) -> PreChat:
    """The pre-chat form's fields; 400 with per-field messages when unusable."""
    name = _text(raw.get("name"), NAME_CHARS)
    contact = _text(raw.get("contact"), 255)
    topic = _text(raw.get("topic"), TOPIC_CHARS)
    fields: dict[str, list[str]] = {}
    if contact:
        try:
            contact_claim(contact)
        except InvalidIdentity as exc:
            fields["contact"] = [exc.text]
    elif contact_required:
        fields["contact"] = [_("Give a phone number or an email address.")]
    if contact_required and not name:
        fields["name"] = [_("Give your name.")]
    if fields:
        raise DomainError(
            _("The form has missing or invalid fields."), code="invalid_prechat", fields=fields
        )
    return PreChat(name=name, contact=contact, topic=topic)


def contact_claim(contact: str) -> IdentityClaim:
    kind = IdentityKind.EMAIL if "@" in contact else IdentityKind.PHONE
    return claim(kind, contact)


def _text(value: Any, limit: int) -> str:
    return " ".join(str(value).split())[:limit] if isinstance(value, str) else ""


# --- inbound ----------------------------------------------------------------------------


def post_visitor_message(
    *,
    connection: ChannelConnection,
    token: VisitorToken,
    client_id: str,
    text: str,
    attachments: Sequence[UploadedContent] = (),
    prechat: PreChat | None = None,
    offline: bool = False,
) -> Message:
    """Store a visitor's message through the channel ingest (idempotent on client_id).

    The external id is ``<visitor id>:<client id>``: a visitor replaying another
    visitor's client id gets a message of its own, never the other's.
    """
    prechat = prechat or PreChat()
    external_id = f"{token.visitor_id}:{client_id}"
    existing = Message.objects.filter(channel=Channel.WEB_CHAT, external_id=external_id).first()
    if existing is not None:
        return existing
    for attempt in range(2):
        with transaction.atomic():
            visitor, _created = WebChatVisitor.objects.select_for_update().get_or_create(
                public_id=token.visitor_id,
                defaults={"connection": connection, "user_id": token.user_id},
            )
            first = visitor.customer_id is None
            identities = _visitor_claims(token)
            contacts: list[IdentityClaim] = []
            if first and prechat.contact and attempt == 0:
                contacts = [contact_claim(prechat.contact)]
            free, taken = _split_taken(contacts)
            result = ingest_message(
                InboundMessage(
                    channel=Channel.WEB_CHAT,
                    external_id=external_id,
                    identities=[*identities, *free],
                    text=text,
                    attachments=attachments,
                    subject=prechat.topic,
                    profile={"name": prechat.name} if prechat.name else {},
                )
            )
            customer_id = result.ticket.customer_id
            if first and not token.user_id and _owns_more_than(customer_id, [*identities, *free]):
                # Someone took the contact between our look-up and the claim: start over
                # without it, so this visitor never lands on another customer.
                transaction.set_rollback(True)
                continue
            for owner_id in taken:
                suggest_merge(customer_ids=(customer_id, owner_id), evidence=["web_chat_contact"])
            visitor.customer_id = customer_id
            visitor.last_message_at = timezone.now()
            for field in ("name", "contact", "topic"):
                if getattr(prechat, field):
                    setattr(visitor, field, getattr(prechat, field))
            visitor.save()
            if offline and not result.duplicate:
                tags = [*result.ticket.tags.values_list("name", flat=True), OFFLINE_TAG]
                ticket_services.update_ticket(ticket=result.ticket, actor=None, tags=tags)
            if not result.duplicate:
                publish_to_customer_visitors(customer_id, "message.added", result.message)
                ChannelConnection.objects.filter(pk=connection.pk).update(
                    last_inbound_at=timezone.now()
                )
            return result.message
    raise AssertionError("unreachable")


def _visitor_claims(token: VisitorToken) -> list[IdentityClaim]:
    claims = [claim(IdentityKind.WEB_VISITOR_ID, token.visitor_id)]
    if token.user_id:
        claims.append(claim(IdentityKind.APP_USER_ID, token.user_id, verified=True))
    return claims


def _split_taken(contacts: list[IdentityClaim]) -> tuple[list[IdentityClaim], list[int]]:
    rows = identity_rows_for(contacts) if contacts else {}
    free = [c for c in contacts if c.key not in rows]
    return free, sorted({row["customer_id"] for row in rows.values()})


def _owns_more_than(customer_id: int, claims: list[IdentityClaim]) -> bool:
    """Whether the customer has identities besides ``claims`` (it existed before)."""
    mine = Q()
    for item in claims:
        mine |= Q(kind=item.kind, value=item.value)
    return Identity.objects.filter(customer_id=customer_id).exclude(mine).exists()


@receiver(customer_merged, dispatch_uid="channels_hub.move_web_chat_visitors")
def move_web_chat_visitors(sender: Any, source_id: int, target_id: int, **kwargs: Any) -> None:
    """A human merged two customers: their chats are one person's from now on."""
    WebChatVisitor.objects.filter(customer_id=source_id).update(customer_id=target_id)


# --- reading ----------------------------------------------------------------------------


def remember_member(connection: ChannelConnection, token: VisitorToken) -> None:
    """A verified member on a new device sees (and is told live about) the member's
    conversation at once: its visitor row joins the customer owning the user id."""
    if not token.user_id or WebChatVisitor.objects.filter(public_id=token.visitor_id).exists():
        return
    customer_id = (
        Identity.objects.filter(kind=IdentityKind.APP_USER_ID, value=token.user_id, verified=True)
        .values_list("customer_id", flat=True)
        .first()
    )
    WebChatVisitor.objects.get_or_create(
        public_id=token.visitor_id,
        defaults={"connection": connection, "user_id": token.user_id, "customer_id": customer_id},
    )


def visitor_of(token: VisitorToken) -> WebChatVisitor | None:
    return (
        WebChatVisitor.objects.filter(public_id=token.visitor_id, connection_id=token.connection_id)
        .only("pk", "customer_id", "public_id", "name", "user_id")
        .first()
    )


def visible_messages(visitor: WebChatVisitor | None) -> QuerySet[Message]:
    """The conversation a visitor may read: web chat, customer and agent messages only."""
    if visitor is None or visitor.customer_id is None:
        return Message.objects.none()
    return (
        Message.objects.filter(
            ticket__customer_id=visitor.customer_id,
            channel=Channel.WEB_CHAT,
            direction__in=[Direction.INBOUND, Direction.OUTBOUND],
        )
        .exclude(delivery_status=DeliveryStatus.FAILED)
        .select_related("author_user__staff_profile")
        .prefetch_related("attachments")
        .order_by("id")
    )


def history(visitor: WebChatVisitor | None, *, after: int = 0) -> list[Message]:
    messages = visible_messages(visitor)
    if after:
        return list(messages.filter(pk__gt=after)[:HISTORY_LIMIT])
    return list(reversed(messages.order_by("-id")[:HISTORY_LIMIT]))


def message_payload(message: Message, *, visitor_id: str) -> dict[str, Any]:
    inbound = message.direction == Direction.INBOUND
    external = message.external_id or ""
    return {
        "id": message.pk,
        "from": "visitor" if inbound else "agent",
        "client_id": external.split(":", 1)[1] if inbound and ":" in external else None,
        "text": message.body_text,
        "at": message.created_at.isoformat(),
        "status": message.delivery_status,
        "author": None if inbound else author_of(message),
        "attachments": [
            {"id": a.pk, "filename": a.filename, "content_type": a.content_type, "size": a.size}
            for a in message.attachments.all()
        ],
    }


def author_of(message: Message) -> dict[str, str]:
    """The name and avatar initials a customer sees for a reply (never a username)."""
    if message.author_kind == AuthorKind.BOT:
        name = _("Assistant")
    else:
        user = message.author_user
        profile = getattr(user, "staff_profile", None) if user is not None else None
        name = (profile.display_name if profile else "") or (
            user.get_full_name() if user is not None else ""
        )
        name = name or _("Customer service")
    return {"name": name, "initials": initials(name)}


def initials(name: str) -> str:
    words = name.split()
    if not words:
        return "?"
    if len(words) >= 2:
        return (words[0][0] + words[1][0]).upper()
    word = words[0]
    if any("\u3400" <= ch <= "\u9fff" for ch in word):
        return word[0]  # a Chinese name: its family name
    return word[:2].upper()


def visible_attachment(visitor: WebChatVisitor | None, attachment_id: int) -> Any:
    from tickets.models import Attachment

    return (
        Attachment.objects.filter(pk=attachment_id, message__in=visible_messages(visitor))
        .select_related("message")
        .first()
    )


def open_ticket_id(visitor: WebChatVisitor | None) -> int | None:
    if visitor is None or visitor.customer_id is None:
        return None
    return (
        Ticket.objects.filter(
            customer_id=visitor.customer_id, status__in=OPEN_STATUSES, merged_into__isnull=True
        )
        .order_by("-updated_at")
        .values_list("pk", flat=True)
        .first()
    )


# --- outbound and live ------------------------------------------------------------------


def visitor_ids_of_customer(customer_id: int) -> list[str]:
    return list(
        WebChatVisitor.objects.filter(customer_id=customer_id).values_list("public_id", flat=True)
    )


def publish_to_customer_visitors(customer_id: int, event_type: str, message: Message) -> int:
    """Tell every widget of the customer (after commit); one publish per visitor, so no
    visitor learns another's id. Returns how many visitors there are."""
    visitor_ids = visitor_ids_of_customer(customer_id)
    for visitor_id in visitor_ids:
        realtime.publish(
            [visitor_group(visitor_id)],
            event_type,
            {"message_id": message.pk, "from": _side(message)},
        )
    return len(visitor_ids)


def _side(message: Message) -> str:
    return "visitor" if message.direction == Direction.INBOUND else "agent"


def mark_read(visitor: WebChatVisitor | None, *, up_to: int) -> int:
    """The visitor saw the replies up to ``up_to``: they are read."""
    ids = list(
        visible_messages(visitor)
        .filter(
            pk__lte=up_to,
            direction=Direction.OUTBOUND,
            delivery_status__in=[DeliveryStatus.SENT, DeliveryStatus.DELIVERED],
        )
        .values_list("pk", flat=True)[:100]
    )
    for message_id in ids:
        ticket_services.record_delivery(message_id=message_id, status=DeliveryStatus.READ)
    return len(ids)


def agent_typing_groups(ticket_id: int) -> list[str]:
    """The widget groups that see an agent writing a web chat reply on this ticket."""
    customer_id = Ticket.objects.filter(pk=ticket_id).values_list("customer_id", flat=True).first()
    if customer_id is None:
        return []
    return [visitor_group(v) for v in visitor_ids_of_customer(customer_id)]


def agent_typing_event(*, name: str, typing: bool) -> dict[str, Any]:
    return {"type": "typing", "typing": typing, "name": name, "initials": initials(name)}
