"""Admin of the satisfaction surveys: the one policy row, and the surveys (read-only)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse

from tickets.models import SatisfactionPolicy, Survey


@admin.register(SatisfactionPolicy)
class SatisfactionPolicyAdmin(admin.ModelAdmin):
    """A single row: the changelist opens it (created with its defaults on first visit)."""

    fieldsets = [
        (None, {"fields": ["csat_enabled", "bad_score_threshold", "bad_score_action", "flag_tag"]}),
        (None, {"fields": ["answer_days", "comment_edit_hours"]}),
        (
            "NPS",
            {"fields": ["nps_enabled", "nps_recent_days", "nps_interval_days", "nps_batch_size"]},
        ),
    ]

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        policy = SatisfactionPolicy.current()
        return HttpResponseRedirect(
            reverse("admin:tickets_satisfactionpolicy_change", args=[policy.pk])
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Survey)
class SurveyAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "customer", "ticket", "channel", "score", "outcome", "created_at")
    list_filter = ("kind", "score", "outcome", "delivery")
    list_select_related = ("customer",)
    raw_id_fields = ("customer", "ticket", "solve", "message")
    exclude = ("token",)  # the customer's key to the answer page
    search_fields = ("customer__public_id", "comment")
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
