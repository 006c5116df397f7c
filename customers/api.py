"""Partner API for customers and their events (thin: parse, authorise, call, render)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import filters, serializers, status
from rest_framework.decorators import action
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response

from customers import ingest, selectors, services
from customers.filters import CustomerFilter
from customers.identity import IdentityClaim, InvalidIdentity, normalize_value
from customers.models import (
    Consent,
    ConsentPurpose,
    ContactChannel,
    Customer,
    CustomerEvent,
    CustomerStatus,
    Identity,
    IdentityKind,
    ValueTier,
)
from omniservice.api.authentication import actor_of
from omniservice.api.views import ApiGenericViewSet, ApiView
from omniservice.errors import ConflictError, DomainError, NotFoundError

# --- output -----------------------------------------------------------------------------


class IdentitySerializer(serializers.ModelSerializer):
    class Meta:
        model = Identity
        fields = ["kind", "value", "verified", "created_at"]


class ConsentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Consent
        fields = ["channel", "purpose", "granted", "source", "updated_at"]


class ContactHoursSerializer(serializers.Serializer):
    start = serializers.TimeField(format="%H:%M")
    end = serializers.TimeField(format="%H:%M")


class CustomerSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
    tags = serializers.SlugRelatedField(many=True, read_only=True, slug_field="name")
    home_store = serializers.SlugRelatedField(read_only=True, slug_field="code")
    merged_into = serializers.SlugRelatedField(read_only=True, slug_field="public_id")
    contact_hours = serializers.SerializerMethodField()
    identities = IdentitySerializer(many=True, read_only=True)
    consents = ConsentSerializer(many=True, read_only=True)

    class Meta:
        model = Customer
        fields = [
            "id",
            "name",
            "language",
            "timezone",
            "tier",
            "tags",
            "preferred_channel",
            "contact_hours",
            "home_store",
            "status",
            "merged_into",
            "identities",
            "consents",
            "created_at",
            "updated_at",
        ]

    @extend_schema_field(ContactHoursSerializer(allow_null=True))
    def get_contact_hours(self, customer: Customer) -> dict[str, str] | None:
        return _contact_hours(customer)

    def to_representation(self, customer: Customer) -> dict[str, Any]:
        """Hand-written for speed (the lookup is a hot path): DRF building the nested
        fields costs more than the queries. The declared fields above stay the schema;
        a test checks both agree."""
        return represent_customer(customer)


def _contact_hours(customer: Customer) -> dict[str, str] | None:
    if customer.contact_hours_start is None:
        return None
    return {
        "start": customer.contact_hours_start.strftime("%H:%M"),
        "end": customer.contact_hours_end.strftime("%H:%M"),
    }


def _datetime(value: Any) -> str | None:
    return serializers.DateTimeField().to_representation(value) if value else None


def represent_customer(customer: Customer) -> dict[str, Any]:
    """The customer as the API shows it (same keys and formats as CustomerSerializer)."""
    return {
        "id": customer.public_id,
        "name": customer.name,
        "language": customer.language,
        "timezone": customer.timezone,
        "tier": customer.tier,
        "tags": [tag.name for tag in customer.tags.all()],
        "preferred_channel": customer.preferred_channel,
        "contact_hours": _contact_hours(customer),
        "home_store": customer.home_store.code if customer.home_store_id else None,
        "status": customer.status,
        "merged_into": customer.merged_into.public_id if customer.merged_into_id else None,
        "identities": [
            {
                "kind": i.kind,
                "value": i.value,
                "verified": i.verified,
                "created_at": _datetime(i.created_at),
            }
            for i in customer.identities.all()
        ],
        "consents": [
            {
                "channel": c.channel,
                "purpose": c.purpose,
                "granted": c.granted,
                "source": c.source,
                "updated_at": _datetime(c.updated_at),
            }
            for c in customer.consents.all()
        ],
        "created_at": _datetime(customer.created_at),
        "updated_at": _datetime(customer.updated_at),
    }


class EventSerializer(serializers.ModelSerializer):
    store = serializers.SlugRelatedField(read_only=True, slug_field="code")

    class Meta:
        model = CustomerEvent
        fields = [
            "id",
            "kind",
            "source",
            "external_id",
            "occurred_at",
            "amount",
            "currency",
            "store",
            "data",
            "received_at",
        ]


# --- input ------------------------------------------------------------------------------


class IdentityInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=IdentityKind.choices)
    value = serializers.CharField(max_length=255)
    verified = serializers.BooleanField(default=False)

    def validate(self, attrs: dict[str, Any]) -> IdentityClaim:
        try:
            value = normalize_value(attrs["kind"], attrs["value"])
        except InvalidIdentity as exc:
            raise serializers.ValidationError({"value": [exc.text]}, code=exc.code) from exc
        return IdentityClaim(attrs["kind"], value, attrs["verified"])


class ConsentInputSerializer(serializers.Serializer):
    channel = serializers.ChoiceField(choices=ContactChannel.choices)
    purpose = serializers.ChoiceField(choices=ConsentPurpose.choices)
    granted = serializers.BooleanField()

    def validate(self, attrs: dict[str, Any]) -> services.ConsentInput:
        return services.ConsentInput(**attrs)


class ContactHoursInputSerializer(serializers.Serializer):
    start = serializers.TimeField()
    end = serializers.TimeField()

    def validate(self, attrs: dict[str, Any]) -> tuple[Any, Any]:
        if attrs["start"] == attrs["end"]:
            raise serializers.ValidationError(_("start and end must differ."))
        return (attrs["start"], attrs["end"])


class CustomerWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    language = serializers.ChoiceField(choices=settings.LANGUAGES, required=False)
    timezone = serializers.CharField(max_length=64, required=False)
    tier = serializers.ChoiceField(choices=ValueTier.choices, required=False)
    preferred_channel = serializers.ChoiceField(
        choices=ContactChannel.choices, required=False, allow_blank=True
    )
    home_store = serializers.CharField(
        max_length=32, required=False, allow_null=True, help_text="store code"
    )
    tags = serializers.ListField(
        child=serializers.CharField(max_length=50), max_length=50, required=False
    )
    contact_hours = ContactHoursInputSerializer(required=False, allow_null=True)
    consents = ConsentInputSerializer(many=True, required=False)

    def service_arguments(self) -> dict[str, Any]:
        data = dict(self.validated_data)
        arguments: dict[str, Any] = {
            "consents": data.pop("consents", []),
            "tags": data.pop("tags", None),
        }
        if "contact_hours" in data:
            arguments["contact_hours"] = data.pop("contact_hours")
        data.pop("identities", None)
        arguments["profile"] = data
        return arguments


class CustomerCreateSerializer(CustomerWriteSerializer):
    identities = IdentityInputSerializer(many=True, min_length=1, max_length=20)


class MergeInputSerializer(serializers.Serializer):
    source = serializers.CharField(max_length=24, help_text="public id of the customer to absorb")
    reason = serializers.CharField(max_length=255, required=False, default="")


class TimelinePagination(CursorPagination):
    ordering = ("-occurred_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


LOOKUP_PARAMETERS = [
    "phone",
    "email",
    "member_no",
    "wechat_openid",
    "wechat_unionid",
    "app_user_id",
    "whatsapp_id",
]


# --- views ------------------------------------------------------------------------------


class TieBreakingOrderingFilter(filters.OrderingFilter):
    """The requested ordering, then the id: cursor pages must not skip or repeat customers
    sharing a value (a batch gives many customers one ``updated_at``)."""

    def get_ordering(self, request: Request, queryset: Any, view: Any) -> list[str] | None:
        ordering = super().get_ordering(request, queryset, view)
        if not ordering or any(term.lstrip("-") in {"id", "pk"} for term in ordering):
            return ordering
        return [*ordering, "-id" if ordering[0].startswith("-") else "id"]


class CustomerViewSet(ApiGenericViewSet):
    """Customers: the one record per real person, with identities and consents."""

    serializer_class = CustomerSerializer
    filterset_class = CustomerFilter
    filter_backends = [*ApiGenericViewSet.filter_backends, TieBreakingOrderingFilter]
    ordering_fields = ["id", "updated_at"]
    ordering = ["-id"]
    lookup_field = "public_id"
    lookup_url_kwarg = "id"
    scopes = {
        "list": "customers:read",
        "retrieve": "customers:read",
        "lookup": "customers:read",
        "timeline": "customers:read",
        "create": "customers:write",
        "partial_update": "customers:write",
        "merge": "customers:merge",
    }

    def get_queryset(self):
        return selectors.with_profile(Customer.objects.all())

    def _customer(self) -> Customer:
        customer = selectors.customer_by_public_id(self.kwargs["id"])
        if customer is None:
            raise NotFoundError(_("No such customer."), code="customer_not_found")
        return customer

    def list(self, request: Request) -> Response:
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(CustomerSerializer(page, many=True).data)

    def retrieve(self, request: Request, id: str) -> Response:
        return Response(CustomerSerializer(self._customer()).data)

    @extend_schema(request=CustomerCreateSerializer, responses={201: CustomerSerializer})
    def create(self, request: Request) -> Response:
        serializer = CustomerCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        arguments = serializer.service_arguments()
        customer = services.create_customer(
            identities=serializer.validated_data["identities"],
            profile=arguments["profile"],
            tags=arguments["tags"] or (),
            consents=arguments["consents"],
            contact_hours=arguments.get("contact_hours"),
            source="api",
            actor=actor_of(request),
        )
        customer = selectors.customer_by_public_id(customer.public_id)
        return Response(CustomerSerializer(customer).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=CustomerWriteSerializer, responses={200: CustomerSerializer})
    def partial_update(self, request: Request, id: str) -> Response:
        customer = self._customer()
        serializer = CustomerWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        arguments = serializer.service_arguments()
        services.update_customer(
            customer=customer,
            profile=arguments["profile"],
            tags=arguments["tags"],
            consents=arguments["consents"],
            contact_hours=arguments.get("contact_hours", False),
            source="api",
            actor=actor_of(request),
        )
        return Response(CustomerSerializer(self._customer()).data)

    @extend_schema(
        request=MergeInputSerializer,
        responses={200: CustomerSerializer},
        description="Merge the customer named in `source` into this one.",
    )
    @action(detail=True, methods=["post"])
    def merge(self, request: Request, id: str) -> Response:
        target = self._customer()
        serializer = MergeInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        source = selectors.customer_by_public_id(serializer.validated_data["source"])
        if source is None:
            raise DomainError(
                _("No customer has the source id."),
                code="customer_not_found",
                fields={"source": [_("Unknown customer.")]},
            )
        services.merge_customers(
            source_id=source.pk,
            target_id=target.pk,
            actor=actor_of(request),
            reason=serializer.validated_data["reason"] or _("Merged through the API"),
        )
        return Response(CustomerSerializer(self._customer()).data)

    @extend_schema(
        parameters=[OpenApiParameter(name, str, required=False) for name in LOOKUP_PARAMETERS],
        responses={200: CustomerSerializer},
        description="Find the customer owning exactly one identifier.",
    )
    @action(detail=False, methods=["get"])
    def lookup(self, request: Request) -> Response:
        given = [
            (name, request.query_params[name])
            for name in LOOKUP_PARAMETERS
            if name in request.query_params
        ]
        if len(given) != 1:
            raise DomainError(
                _("Give exactly one of %(names)s.") % {"names": ", ".join(LOOKUP_PARAMETERS)},
                code="invalid_lookup",
            )
        kind, raw = given[0]
        try:
            value = normalize_value(kind, raw)
        except InvalidIdentity as exc:
            exc.fields = {kind: [exc.text]}
            raise
        customer = selectors.customer_by_identity(IdentityClaim(kind, value))
        if customer is None:
            raise NotFoundError(
                _("No customer has this %(kind)s.") % {"kind": kind}, code="customer_not_found"
            )
        return Response(CustomerSerializer(customer).data)

    @extend_schema(responses={200: EventSerializer(many=True)})
    # No filter backends: CursorPagination would otherwise take the customer list's
    # OrderingFilter ordering (-id, or ?ordering=updated_at, a field events lack).
    @action(detail=True, methods=["get"], pagination_class=TimelinePagination, filter_backends=[])
    def timeline(self, request: Request, id: str) -> Response:
        customer = self._customer()
        if customer.status == CustomerStatus.MERGED:
            raise ConflictError(
                _("This customer was merged into another one."),
                code="customer_merged",
                extra={"merged_into": customer.merged_into.public_id},
            )
        page = self.paginate_queryset(selectors.customer_timeline(customer))
        return self.get_paginated_response(EventSerializer(page, many=True).data)

    def filter_queryset(self, queryset):
        if self.action != "list":
            return queryset
        return super().filter_queryset(queryset)


class EventBatchView(ApiView):
    """Push a batch of timeline events; one result per item, idempotent per source id."""

    scopes = {"post": "events:write"}
    parser_classes = [JSONParser]  # a form or multipart body is refused with 415

    @extend_schema(
        request=inline_serializer(
            "EventBatch",
            {"events": serializers.ListField(child=serializers.DictField(), max_length=1000)},
        ),
        responses={
            200: inline_serializer(
                "EventBatchResult",
                {
                    "created": serializers.IntegerField(),
                    "duplicates": serializers.IntegerField(),
                    "errors": serializers.IntegerField(),
                    "results": serializers.ListField(child=serializers.DictField()),
                },
            )
        },
    )
    def post(self, request: Request) -> Response:
        if not isinstance(request.data, dict) or "events" not in request.data:
            raise DomainError(
                _("The body must be an object with an events list."),
                code="invalid_batch",
                fields={"events": [_("This field is required.")]},
            )
        results = ingest.ingest_events(items=request.data["events"], actor=actor_of(request))
        counts = {"created": 0, "duplicate": 0, "error": 0}
        for result in results:
            counts[result.status] += 1
        body = {
            "created": counts["created"],
            "duplicates": counts["duplicate"],
            "errors": counts["error"],
            "results": [r.as_dict() for r in results],
        }
        if counts["error"] == len(results):
            body["error"] = {
                "code": "invalid_events",
                "message": _("No event of the batch is valid."),
                "fields": {},
            }
            return Response(body, status=status.HTTP_400_BAD_REQUEST)
        return Response(body)
