"""Partner API of replies: ``POST /api/v1/tickets/{number}/replies/`` (scope
``tickets:write``) queues a reply to the ticket's customer, as free text or made from an
approved WhatsApp template (the one way to write on WhatsApp after the 24-hour window).

It lives here, not in ``tickets.api``, because a template belongs to a channel
connection, which the tickets layer does not know. Partner keys reach every ticket and
reply as the system; a console session only ``tickets_visible_to(user)`` (else 404) and
replies as its user. ``POST /api/v1/tickets/{number}/messages/`` stays what it is: the
customer's own next message received by a partner app.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response

from channels_hub.template_replies import TemplateChoice, send_template_reply
from omniservice.api.views import ApiView
from tickets import services
from tickets.api import CodedChoiceField, MessageSerializer, api_ticket, staff_actor
from tickets.models import AuthorKind, Channel, Message

MAX_PARAMETERS = 20
REPLY_CHANNELS = [choice for choice in Channel.choices if choice[0] != Channel.CONSOLE]
NUMBER = OpenApiParameter("number", int, OpenApiParameter.PATH, description="ticket number")


class TemplateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=512, help_text="the template's name in Meta")
    language = serializers.CharField(max_length=15, help_text="Meta's code: zh_CN, en_US …")
    parameters = serializers.ListField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=False),
        required=False,
        default=list,
        max_length=MAX_PARAMETERS,
        help_text="the values of {{1}}, {{2}} … in order",
    )


class ReplyInputSerializer(serializers.Serializer):
    text = serializers.CharField(required=False, allow_blank=True, default="")
    channel = CodedChoiceField(
        choices=REPLY_CHANNELS,
        required=False,
        allow_null=True,
        default=None,
        refusal_code="unknown_channel",
        help_text="default: the customer's last channel; a template goes on WhatsApp",
    )
    template = TemplateInputSerializer(required=False, allow_null=True, default=None)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["template"] is None:
            if not attrs["text"].strip():
                raise serializers.ValidationError(
                    {"text": [_("Give a text or a template.")]}, code="empty_message"
                )
            return attrs
        if attrs["text"].strip():
            raise serializers.ValidationError(
                {"text": [_("Send a text or a template, not both.")]}, code="text_and_template"
            )
        if attrs["channel"] not in (None, Channel.WHATSAPP):
            raise serializers.ValidationError(
                {"channel": [_("Templates are sent on WhatsApp.")]}, code="template_not_whatsapp"
            )
        return attrs


class TemplateUsedSerializer(serializers.Serializer):
    name = serializers.CharField()
    language = serializers.CharField()
    parameters = serializers.ListField(child=serializers.CharField())


class ReplySerializer(MessageSerializer):
    template = serializers.SerializerMethodField()

    class Meta(MessageSerializer.Meta):
        fields = [*MessageSerializer.Meta.fields, "template"]
        read_only_fields = fields

    @extend_schema_field(TemplateUsedSerializer(allow_null=True))
    def get_template(self, message: Message) -> dict[str, Any] | None:
        """The template the reply was made from; null for a free-form reply."""
        record = getattr(message, "template_reply", None)
        if record is None:
            return None
        return {"name": record.name, "language": record.language, "parameters": record.parameters}


class TicketReplyView(ApiView):
    scopes = {"post": "tickets:write"}
    parser_classes = [JSONParser]

    @extend_schema(
        parameters=[NUMBER],
        request=ReplyInputSerializer,
        responses={201: ReplySerializer},
        description=(
            "Queue a reply to the ticket's customer: `text` (on `channel`, default the "
            "customer's last one) or `template` `{name, language, parameters}`, an approved "
            "WhatsApp template (`parameters`, in order: a text header's variable, the body's "
            "`{{1}}` … `{{n}}` or named placeholders as they first appear, then each URL "
            "button's variable), "
            "of the default WhatsApp connection, allowed after the 24-hour "
            "window. A template is checked before anything is written: unknown "
            "(`template_not_found`), not approved (`template_not_approved`), a value "
            "omniservice cannot fill (`template_unsupported`), wrong number of parameters "
            "(`wrong_parameter_count`), an empty, too long or multi-line value "
            "(`parameter_empty`, `parameter_too_long`, `parameter_invalid`), too long once "
            "filled in (`template_too_long`), no WhatsApp number (`no_whatsapp_number`), "
            "refused or missing consent (`consent_refused`, `marketing_consent_missing`); "
            "each is a 400. Delivery then follows as for any reply (`delivery_status`)."
        ),
    )
    def post(self, request: Request, number: int) -> Response:
        ticket = api_ticket(request, number)
        serializer = ReplyInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        author = staff_actor(request)
        kind = AuthorKind.AGENT if author is not None else AuthorKind.SYSTEM
        if data["template"] is not None:
            template = data["template"]
            message = send_template_reply(
                ticket=ticket,
                author=author,
                choice=TemplateChoice(
                    name=template["name"],
                    language=template["language"],
                    parameters=template["parameters"],
                ),
                author_kind=kind,
            )
        else:
            message = services.reply(
                ticket=ticket,
                author=author,
                text=data["text"],
                channel=data["channel"],
                author_kind=kind,
            )
        return Response(ReplySerializer(message).data, status=status.HTTP_201_CREATED)
