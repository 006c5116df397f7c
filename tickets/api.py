"""Partner API for tickets and the generic ``api`` channel (thin: parse, authorise, call, render).

Partner keys belong to the brand's own systems and see every ticket; a console session
sees only ``tickets_visible_to(user)``, and anything else answers 404 as if it did not
exist. Internal notes never leave through this API.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import QuerySet
from django.http import FileResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import ResolvedComponent, build_choice_field
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.fields import empty
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response

from customers.api import IdentityInputSerializer
from customers.identity import IdentityClaim, parse_claims
from omniservice.api.authentication import actor_of
from omniservice.api.models import ApiKey
from omniservice.api.views import ApiGenericViewSet, ApiView
from omniservice.errors import ConflictError, NotFoundError
from omniservice.org.models import Store, Team
from tickets import selectors, services
from tickets.attachments import (
    MAX_ATTACHMENTS_PER_MESSAGE,
    check_attachments,
    download_response,
)
from tickets.filters import TicketFilter
from tickets.models import (
    Attachment,
    Channel,
    DeliveryStatus,
    Direction,
    Message,
    Priority,
    Ticket,
    TicketStatus,
)
from tickets.routing.services import transfer_ticket
from tickets.visibility import tickets_visible_to

# Channels a partner app may post a customer's message on (the console is staff-only).
INBOUND_CHANNELS = [choice for choice in Channel.choices if choice[0] != Channel.CONSOLE]
# Channels whose replies are shown by a partner app, which then reports their delivery.
RECEIPT_CHANNELS = (Channel.API, Channel.KIOSK)
RECEIPT_STATUSES = [
    (value, label)
    for value, label in DeliveryStatus.choices
    if value in (DeliveryStatus.DELIVERED, DeliveryStatus.READ, DeliveryStatus.FAILED)
]
# A partner sets a status by a transition; no transition leads back to "new".
SETTABLE_STATUSES = [choice for choice in TicketStatus.choices if choice[0] != TicketStatus.NEW]
PARTNER_DIRECTIONS = [choice for choice in Direction.choices if choice[0] != Direction.NOTE]

# --- output -----------------------------------------------------------------------------


class ChannelField(serializers.ChoiceField):
    """A channel of ``tickets.models.Channel``, documented as one ``TicketChannelEnum``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=Channel.choices, **kwargs)


class ChannelFieldSchema(OpenApiSerializerFieldExtension):
    """Every field holding a channel points at one enum component; left to itself,
    drf-spectacular names one enum per field name and warns about the duplicates."""

    target_class = ChannelField

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        schema = build_choice_field(self.target)
        schema.pop("x-spec-enum-id", None)
        component = ResolvedComponent(
            name="TicketChannelEnum",
            type=ResolvedComponent.SCHEMA,
            object="TicketChannelEnum",
            schema=schema,
        )
        auto_schema.registry.register_on_missing(component)
        return component.ref


class TicketCustomerSerializer(serializers.Serializer):
    id = serializers.CharField(source="public_id", read_only=True)
    name = serializers.CharField(read_only=True)


class TicketSerializer(serializers.ModelSerializer):
    number = serializers.IntegerField(source="pk", read_only=True)
    origin_channel = ChannelField(read_only=True)
    last_channel = ChannelField(read_only=True, help_text="the channel the customer used last")
    customer = TicketCustomerSerializer(read_only=True)
    store = serializers.SlugRelatedField(read_only=True, slug_field="code")
    team = serializers.SlugRelatedField(read_only=True, slug_field="slug")
    assignee = serializers.SlugRelatedField(read_only=True, slug_field="username")
    tags = serializers.SlugRelatedField(many=True, read_only=True, slug_field="name")
    merged_into = serializers.IntegerField(
        source="merged_into_id", read_only=True, allow_null=True, help_text="ticket number"
    )

    class Meta:
        model = Ticket
        fields = [
            "number",
            "subject",
            "status",
            "priority",
            "origin_channel",
            "last_channel",
            "customer",
            "store",
            "team",
            "assignee",
            "tags",
            "created_at",
            "updated_at",
            "first_response_at",
            "solved_at",
            "reopen_count",
            "merged_into",
        ]
        read_only_fields = fields


class AttachmentSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()

    class Meta:
        model = Attachment
        fields = ["id", "filename", "content_type", "size", "url"]
        read_only_fields = fields

    def get_url(self, attachment: Attachment) -> str:
        """Where the file is downloaded, with the same key (scope tickets:read)."""
        return reverse(
            "v1:ticket-attachment",
            kwargs={"number": attachment.message.ticket_id, "attachment_id": attachment.pk},
        )


class MessageSerializer(serializers.ModelSerializer):
    direction = serializers.ChoiceField(choices=PARTNER_DIRECTIONS, read_only=True)
    channel = ChannelField(read_only=True)
    author_name = serializers.SerializerMethodField()
    attachments = AttachmentSerializer(many=True, read_only=True)

    class Meta:
        model = Message
        fields = [
            "id",
            "direction",
            "channel",
            "author_kind",
            "author_name",
            "body_text",
            "body_html",
            "delivery_status",
            "failure_reason",
            "created_at",
            "attachments",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_author_name(self, message: Message) -> str | None:
        """The agent's display name; customers, bots and the system stay anonymous."""
        user = message.author_user
        if user is None:
            return None
        profile = getattr(user, "staff_profile", None)
        return str(profile) if profile is not None else user.get_username()


class InboundResultSerializer(serializers.Serializer):
    ticket = serializers.IntegerField(help_text="ticket number")
    message_id = serializers.IntegerField()
    customer_id = serializers.CharField(help_text="customer public id")
    created_ticket = serializers.BooleanField()
    duplicate = serializers.BooleanField(help_text="true: this external id was received before")


class ReceiptResultSerializer(serializers.Serializer):
    message_id = serializers.IntegerField()
    delivery_status = serializers.ChoiceField(choices=DeliveryStatus.choices)
    changed = serializers.BooleanField(help_text="false: a late or repeated receipt, ignored")


# --- input ------------------------------------------------------------------------------


class CodedChoiceField(serializers.ChoiceField):
    """A choice field whose refusal carries a domain code (e.g. ``unknown_channel``)."""

    def __init__(self, *, refusal_code: str, **kwargs: Any) -> None:
        self.refusal_code = refusal_code
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> Any:
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as exc:
            raise serializers.ValidationError(
                [str(detail) for detail in exc.detail], code=self.refusal_code
            ) from exc


@extend_schema_field(IdentityInputSerializer(many=True))
class IdentitiesField(serializers.Field):
    """``[{"kind", "value", "verified"?}]`` parsed by ``parse_claims``, keeping its codes."""

    def validate_empty_values(self, data: Any) -> tuple[bool, Any]:
        if data is empty or data is None:
            return False, data  # parse_claims refuses it with missing_identities
        return super().validate_empty_values(data)

    def to_internal_value(self, data: Any) -> list[IdentityClaim]:
        return parse_claims(data)

    def to_representation(self, value: Any) -> Any:
        return [{"kind": c.kind, "value": c.value, "verified": c.verified} for c in value]


class AttachmentInputSerializer(serializers.Serializer):
    filename = serializers.CharField(max_length=200)
    content_base64 = serializers.CharField(
        allow_blank=True, help_text="the file's bytes in standard base64"
    )

    def validate(self, attrs: dict[str, Any]) -> tuple[str, bytes]:
        try:
            content = base64.b64decode(attrs["content_base64"], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise serializers.ValidationError(
                {"content_base64": [_("This is not valid base64.")]}, code="invalid_attachment"
            ) from exc
        return attrs["filename"], content


class AttachmentsMixin(serializers.Serializer):
    attachments = AttachmentInputSerializer(
        many=True, required=False, default=list, max_length=MAX_ATTACHMENTS_PER_MESSAGE
    )

    def validate_attachments(self, value: list[tuple[str, bytes]]) -> list[Any]:
        return check_attachments(list(value))  # the bytes decide the type, not the name


class InboundCustomerSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    language = serializers.ChoiceField(choices=settings.LANGUAGES, required=False)


class InboundMessageSerializer(AttachmentsMixin):
    channel = CodedChoiceField(
        choices=INBOUND_CHANNELS, default=Channel.API, refusal_code="unknown_channel"
    )
    external_id = serializers.CharField(
        max_length=200, help_text="the partner's message id; a repeat returns the first result"
    )
    identities = IdentitiesField()
    text = serializers.CharField(required=False, allow_blank=True, default="")
    html = serializers.CharField(required=False, allow_blank=True, default="")
    subject = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)
    store = serializers.CharField(
        required=False, allow_null=True, default=None, max_length=32, help_text="store code"
    )
    customer = InboundCustomerSerializer(required=False, default=dict)

    def validate_store(self, code: str | None) -> Store | None:
        if not code:
            return None
        store = Store.objects.filter(code=code).first()
        if store is None:
            raise serializers.ValidationError(_("No store has this code."), code="unknown_store")
        return store


class TicketMessageInputSerializer(AttachmentsMixin):
    external_id = serializers.CharField(
        max_length=200, help_text="the partner's message id; a repeat returns the first result"
    )
    text = serializers.CharField(required=False, allow_blank=True, default="")


class TeamAssigneeSerializer(serializers.Serializer):
    """Where a ticket goes: a team (slug) and/or an assignee (username); null clears."""

    team = serializers.CharField(
        max_length=50, required=False, allow_null=True, help_text="team slug; null: no team"
    )
    assignee = serializers.CharField(
        max_length=150, required=False, allow_null=True, help_text="username; null: unassigned"
    )

    def validate_team(self, slug: str | None) -> Team | None:
        if slug is None:
            return None
        team = Team.objects.filter(slug=slug).first()
        if team is None:
            raise serializers.ValidationError(_("No team has this slug."), code="unknown_team")
        return team

    def validate_assignee(self, username: str | None) -> AbstractBaseUser | None:
        if username is None:
            return None
        user = (
            get_user_model()
            .objects.select_related("staff_profile")
            .filter(username=username, is_active=True)
            .first()
        )
        if user is None:
            raise serializers.ValidationError(
                _("No active user has this username."), code="unknown_assignee"
            )
        return user


class TicketUpdateSerializer(TeamAssigneeSerializer):
    status = serializers.ChoiceField(choices=SETTABLE_STATUSES, required=False)
    priority = serializers.ChoiceField(choices=Priority.choices, required=False)
    subject = serializers.CharField(max_length=200, required=False)
    tags = serializers.ListField(
        child=serializers.CharField(max_length=50), max_length=50, required=False
    )


class TransferSerializer(TeamAssigneeSerializer):
    """Where a ticket goes by hand: an agent and/or a team, with a note for the next
    person (the routing log keeps it, the timeline shows it as an internal note)."""

    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")

    def validate(self, data: dict) -> dict:
        if "team" not in data and "assignee" not in data:
            raise serializers.ValidationError(
                {"assignee": [_("Choose an agent or a team to transfer to.")]},
                code="transfer_target_missing",
            )
        return data


class ReceiptInputSerializer(serializers.Serializer):
    message_id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=RECEIPT_STATUSES)
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


# --- views ------------------------------------------------------------------------------


class TicketCursorPagination(CursorPagination):
    ordering = ("-updated_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class MessageCursorPagination(CursorPagination):
    ordering = ("created_at", "id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


def _is_first_of_its_ticket(message: Message) -> bool:
    """Whether ``message`` opened its ticket: a retry reports what the first delivery did."""
    return not Message.objects.filter(ticket_id=message.ticket_id, pk__lt=message.pk).exists()


def _inbound_response(result: services.InboundResult) -> Response:
    """201 with the new ids, or 200 with the first result when the external id is known."""
    created_ticket = result.created_ticket
    if result.duplicate:
        created_ticket = _is_first_of_its_ticket(result.message)
    body = {
        "ticket": result.ticket.pk,
        "message_id": result.message.pk,
        "customer_id": result.ticket.customer.public_id,
        "created_ticket": created_ticket,
        "duplicate": result.duplicate,
    }
    code = status.HTTP_200_OK if result.duplicate else status.HTTP_201_CREATED
    return Response(body, status=code)


def staff_actor(request: Request) -> AbstractBaseUser | None:
    """The console user behind a request; a partner key acts as the system."""
    return None if isinstance(request.auth, ApiKey) else request.user


def api_tickets(request: Request) -> QuerySet[Ticket]:
    """What an API caller may see: a partner key every ticket, a console user only
    ``tickets_visible_to`` theirs."""
    if isinstance(request.auth, ApiKey):
        return Ticket.objects.all()
    return tickets_visible_to(request.user)


def api_ticket(request: Request, number: int | str) -> Ticket:
    """One ticket the caller may see; 404 ``ticket_not_found`` otherwise (also when it
    exists but is not theirs: the API does not tell which)."""
    ticket = api_tickets(request).filter(pk=number).first()
    if ticket is None:
        raise NotFoundError(_("No such ticket."), code="ticket_not_found")
    return ticket


INBOUND_RESPONSES = {201: InboundResultSerializer, 200: InboundResultSerializer}
NUMBER = OpenApiParameter("number", int, OpenApiParameter.PATH, description="ticket number")


class InboundMessageView(ApiView):
    """A customer's message received by a partner app (the generic API channel)."""

    scopes = {"post": "tickets:write"}
    parser_classes = [JSONParser]

    @extend_schema(
        request=InboundMessageSerializer,
        responses=INBOUND_RESPONSES,
        description=(
            "Thread a customer's message: the customer is resolved from the identities, "
            "their open ticket continues whatever the channel, else a ticket opens. "
            "201 for a new message; 200 with the first result (`duplicate: true`) when the "
            "same channel and `external_id` were received before."
        ),
    )
    def post(self, request: Request) -> Response:
        serializer = InboundMessageSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = services.thread_inbound_message(
            channel=data["channel"],
            external_id=data["external_id"],
            identities=data["identities"],
            text=data["text"],
            html=data["html"],
            attachments=data["attachments"],
            store=data["store"],
            subject=data["subject"],
            profile=data["customer"],
        )
        return _inbound_response(result)


class TicketViewSet(ApiGenericViewSet):
    """Tickets and their conversation, for the brand's systems."""

    serializer_class = TicketSerializer
    filterset_class = TicketFilter
    pagination_class = TicketCursorPagination
    parser_classes = [JSONParser]
    lookup_url_kwarg = "number"
    lookup_value_regex = r"\d{1,12}"
    scopes = {
        "list": "tickets:read",
        "retrieve": "tickets:read",
        "messages": "tickets:read",
        "attachment": "tickets:read",
        "partial_update": "tickets:write",
        "add_message": "tickets:write",
        "receipts": "tickets:write",
        "transfer": "tickets:write",
    }

    def get_queryset(self) -> QuerySet[Ticket]:
        return selectors.with_list_relations(api_tickets(self.request))

    def _ticket(self) -> Ticket:
        ticket = self.get_queryset().filter(pk=self.kwargs["number"]).first()
        if ticket is None:
            raise NotFoundError(_("No such ticket."), code="ticket_not_found")
        return ticket

    def list(self, request: Request) -> Response:
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(TicketSerializer(page, many=True).data)

    @extend_schema(parameters=[NUMBER], responses={200: TicketSerializer})
    def retrieve(self, request: Request, number: str) -> Response:
        return Response(TicketSerializer(self._ticket()).data)

    @extend_schema(
        parameters=[NUMBER],
        request=TicketUpdateSerializer,
        responses={200: TicketSerializer},
        description=(
            "Change status (by an allowed transition, else 409 `invalid_transition`), "
            "priority, subject, tags (the full set), team (slug) or assignee (username). "
            "All changes apply together or not at all."
        ),
    )
    def partial_update(self, request: Request, number: str) -> Response:
        ticket = self._ticket()
        serializer = TicketUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        actor = staff_actor(request)
        with transaction.atomic():
            if "team" in data or "assignee" in data:
                services.assign(
                    ticket=ticket,
                    actor=actor,
                    team=data.get("team", False),
                    assignee=data.get("assignee", False),
                )
            if data.keys() & {"priority", "subject", "tags"}:
                services.update_ticket(
                    ticket=ticket,
                    actor=actor,
                    priority=data.get("priority"),
                    subject=data.get("subject"),
                    tags=data.get("tags"),
                )
            if "status" in data:
                services.change_status(
                    ticket=ticket,
                    status=data["status"],
                    actor=actor,
                    reason=_("Through the API (%(actor)s)") % {"actor": actor_of(request)},
                )
        # Not through get_queryset: a console user may just have handed the ticket away.
        updated = selectors.with_list_relations(Ticket.objects.all()).get(pk=ticket.pk)
        return Response(TicketSerializer(updated).data)

    @extend_schema(
        parameters=[NUMBER],
        responses={200: MessageSerializer(many=True)},
        description="The conversation, oldest first, without internal notes.",
    )
    # No filter backends: the ticket FilterSet does not apply to messages.
    @action(
        detail=True,
        methods=["get"],
        pagination_class=MessageCursorPagination,
        filter_backends=[],
    )
    def messages(self, request: Request, number: str) -> Response:
        ticket = self._ticket()
        queryset = (
            selectors.conversation(ticket)
            .exclude(direction=Direction.NOTE)
            .select_related("author_user__staff_profile")
        )
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(MessageSerializer(page, many=True).data)

    @extend_schema(
        parameters=[NUMBER, OpenApiParameter("attachment_id", int, OpenApiParameter.PATH)],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
        description="Download an attachment of the conversation (not of internal notes).",
    )
    @action(
        detail=True,
        methods=["get"],
        url_path=r"attachments/(?P<attachment_id>\d{1,12})",
        url_name="attachment",
        filter_backends=[],
    )
    def attachment(self, request: Request, number: str, attachment_id: str) -> FileResponse:
        ticket = self._ticket()
        found = (
            Attachment.objects.filter(pk=attachment_id, message__ticket=ticket)
            .exclude(message__direction=Direction.NOTE)
            .first()
        )
        if found is None:
            raise NotFoundError(_("No such attachment."), code="attachment_not_found")
        return download_response(found)

    @extend_schema(
        parameters=[NUMBER],
        request=TicketMessageInputSerializer,
        responses=INBOUND_RESPONSES,
        description=(
            "A message from this ticket's customer, received by a partner app on the `api` "
            "channel. It is threaded like any inbound message (see `POST /api/v1/messages/`), "
            "so it lands on the customer's open ticket: this one while it is open, else a "
            "reopened or new ticket, whose number the answer gives."
        ),
    )
    @messages.mapping.post
    def add_message(self, request: Request, number: str) -> Response:
        """Threaded with one of the customer's own identities, so the message goes through
        the same service (dedupe, customer lock, reopen rules, live events) as every other
        inbound message; any identity will do, as each belongs to exactly one customer."""
        ticket = self._ticket()
        if ticket.merged_into_id:
            raise ConflictError(
                _("Ticket #%(number)s was merged into #%(target)s."),
                code="ticket_merged",
                params={"number": ticket.pk, "target": ticket.merged_into_id},
                extra={"merged_into": ticket.merged_into_id},
            )
        serializer = TicketMessageInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        identity = ticket.customer.identities.order_by("id").first()
        if identity is None:
            raise ConflictError(
                _("The customer of this ticket has no identity to receive messages from."),
                code="customer_without_identity",
            )
        result = services.thread_inbound_message(
            channel=Channel.API,
            external_id=data["external_id"],
            identities=[IdentityClaim(identity.kind, identity.value, identity.verified)],
            text=data["text"],
            attachments=data["attachments"],
        )
        return _inbound_response(result)

    @extend_schema(
        parameters=[NUMBER],
        request=TransferSerializer,
        responses={200: TicketSerializer},
        description=(
            "Transfer the ticket to an agent (username) and/or a team (slug), with an "
            "optional note; logged as a routing decision (`transferred` when it moves work "
            "from someone, else `manual`). 409 `ticket_closed` for a closed or merged ticket."
        ),
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def transfer(self, request: Request, number: str) -> Response:
        ticket = self._ticket()
        serializer = TransferSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        with transaction.atomic():
            transfer_ticket(
                ticket=ticket,
                actor=staff_actor(request),
                team=data.get("team", False),
                assignee=data.get("assignee", False),
                note=data["note"],
            )
        updated = selectors.with_list_relations(Ticket.objects.all()).get(pk=ticket.pk)
        return Response(TicketSerializer(updated).data)

    @extend_schema(
        parameters=[NUMBER],
        request=ReceiptInputSerializer,
        responses={200: ReceiptResultSerializer},
        description=(
            "Report that a reply shown by the partner app (channel `api` or `kiosk`) was "
            "delivered, read or failed. Delivery only moves forward: a late or repeated "
            "receipt is ignored (`changed: false`)."
        ),
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def receipts(self, request: Request, number: str) -> Response:
        ticket = self._ticket()
        serializer = ReceiptInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        reply = ticket.messages.filter(
            pk=data["message_id"], direction=Direction.OUTBOUND, channel__in=RECEIPT_CHANNELS
        ).first()
        if reply is None:
            raise NotFoundError(
                _("This ticket has no such reply on a partner channel."),
                code="message_not_found",
                fields={"message_id": [_("Unknown reply.")]},
            )
        changed = services.record_delivery(
            message_id=reply.pk,
            status=data["status"],
            reason=data["reason"] if data["status"] == DeliveryStatus.FAILED else "",
        )
        reply.refresh_from_db(fields=["delivery_status"])
        body = {
            "message_id": reply.pk,
            "delivery_status": reply.delivery_status,
            "changed": changed,
        }
        return Response(body)
