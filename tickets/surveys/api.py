"""Partner API of the satisfaction surveys (thin: authorise, select, render).

``GET /api/v1/tickets/{number}/satisfaction/`` (scope ``tickets:read``): the CSAT surveys
of a ticket, newest first, with their answers. Partner keys see every ticket; a console
user only ``tickets_visible_to(user)``, anything else is 404 as if it did not exist.

``POST`` on the same path (scope ``tickets:write``, partner keys only): the customer's
answer as tapped in a partner app or kiosk that shows the scores as buttons (the channels
with buttons; the others get the link to the survey page). Same rules as the page: one
answer per survey (409 after), the bad-score policy applies. An agent never answers for
the customer, so a console session gets 403.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from omniservice.api.models import ApiKey
from omniservice.api.views import ApiView
from omniservice.errors import DomainError, NotFoundError
from tickets.api import api_ticket
from tickets.models import DeliveryStatus, Survey, SurveyDelivery, SurveyOutcome
from tickets.surveys import services as surveys

MAX_SURVEYS = 100


class AgentAnswerError(DomainError):
    status = 403


class SurveySerializer(serializers.ModelSerializer):
    delivery_status = serializers.SerializerMethodField()
    outcome = serializers.ChoiceField(choices=SurveyOutcome.choices, read_only=True)
    sent_at = serializers.DateTimeField(source="created_at", read_only=True)
    message_id = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = Survey
        fields = [
            "id",
            "kind",
            "channel",
            "language",
            "sent_at",
            "expires_at",
            "delivery_status",
            "message_id",
            "score",
            "comment",
            "answered_at",
            "comment_updated_at",
            "outcome",
        ]
        read_only_fields = fields

    @extend_schema_field(
        serializers.ChoiceField(choices=[*DeliveryStatus.choices, *SurveyDelivery.choices])
    )
    def get_delivery_status(self, survey: Survey) -> str:
        """A CSAT survey travels as a message of the ticket: its delivery status."""
        if survey.message is not None:
            return survey.message.delivery_status
        return survey.delivery


class SatisfactionSerializer(serializers.Serializer):
    ticket = serializers.IntegerField(help_text="ticket number")
    latest_score = serializers.IntegerField(
        allow_null=True, help_text="the score of the newest answered survey"
    )
    surveys = SurveySerializer(many=True)


NUMBER = OpenApiParameter("number", int, OpenApiParameter.PATH, description="ticket number")


class AnswerSerializer(serializers.Serializer):
    survey = serializers.IntegerField(
        required=False, help_text="the survey id; by default the newest unanswered one"
    )
    score = serializers.IntegerField(min_value=1, max_value=5)
    comment = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=surveys.MAX_COMMENT_CHARS
    )


class TicketSatisfactionView(ApiView):
    scopes = {"get": "tickets:read", "post": "tickets:write"}

    @extend_schema(
        parameters=[NUMBER],
        responses={200: SatisfactionSerializer},
        description=(
            "The satisfaction surveys of a ticket (one per solve, newest first, at most "
            "100) with the customer's score (1-5) and comment once answered."
        ),
    )
    def get(self, request: Request, number: int) -> Response:
        ticket = api_ticket(request, number)
        rows = list(surveys.surveys_of_ticket(ticket)[:MAX_SURVEYS])
        latest = next((s.score for s in rows if s.answered_at is not None), None)
        body = {"ticket": ticket.pk, "latest_score": latest, "surveys": rows}
        return Response(SatisfactionSerializer(body).data)

    @extend_schema(
        parameters=[NUMBER],
        request=AnswerSerializer,
        responses={200: SurveySerializer},
        description=(
            "Record the customer's CSAT answer tapped in a partner app or kiosk (partner "
            "keys only). One answer per survey: 409 ``survey_answered`` after; 404 "
            "``survey_not_found`` when the ticket has no such (or no unanswered) survey, "
            "``survey_expired`` when it can no longer be answered."
        ),
    )
    def post(self, request: Request, number: int) -> Response:
        if not isinstance(request.auth, ApiKey):
            raise AgentAnswerError(
                _("Only the customer answers a survey."), code="customer_answers_only"
            )
        ticket = api_ticket(request, number)
        answer = AnswerSerializer(data=request.data)
        answer.is_valid(raise_exception=True)
        candidates = surveys.surveys_of_ticket(ticket)
        if "survey" in answer.validated_data:
            survey = candidates.filter(pk=answer.validated_data["survey"]).first()
        else:
            survey = candidates.filter(answered_at__isnull=True).first()
        if survey is None:
            raise NotFoundError(_("This survey does not exist."), code="survey_not_found")
        survey = surveys.answer_survey(
            token=survey.token,
            score=answer.validated_data["score"],
            comment=answer.validated_data["comment"],
        )
        return Response(SurveySerializer(survey).data)
