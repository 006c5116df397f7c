"""Admin of routing: team policies and default team rules are edited here by managers
(no code); the queue and the decision log are read-only views for checking."""

from __future__ import annotations

from django.contrib import admin

from tickets.models import DefaultTeamRule, QueueEntry, RoutingDecision, RoutingPolicy


@admin.register(RoutingPolicy)
class RoutingPolicyAdmin(admin.ModelAdmin):
    list_display = ("team", "enabled", "strategy", "reserved_tiers", "store_first_minutes")
    list_filter = ("enabled", "strategy")
    list_select_related = ("team",)
    autocomplete_fields = ("team", "overflow_team")


@admin.register(DefaultTeamRule)
class DefaultTeamRuleAdmin(admin.ModelAdmin):
    list_display = ("__str__", "channel", "language", "team")
    list_filter = ("channel", "language")
    list_select_related = ("team",)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(QueueEntry)
class QueueEntryAdmin(ReadOnlyAdmin):
    list_display = (
        "ticket_id",
        "team",
        "kind",
        "tier",
        "priority_rank",
        "waiting_since",
        "retry_at",
    )
    list_filter = ("kind", "tier", "team")
    ordering = ("team", "-priority_rank", "-tier_rank", "waiting_since")
    list_select_related = ("team",)
    show_full_result_count = False


@admin.register(RoutingDecision)
class RoutingDecisionAdmin(ReadOnlyAdmin):
    list_display = ("ticket_id", "created_at", "kind", "reason", "team", "assignee")
    list_filter = ("kind", "reason")
    list_select_related = ("team", "assignee")
    search_fields = ("=ticket__id",)
    show_full_result_count = False
