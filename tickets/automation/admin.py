"""Admin views of automation (the console pages are the managers' main tool)."""

from __future__ import annotations

from django.contrib import admin

from tickets.models import AutomationRule, AutomationRun, AutomationWebhook, Macro


@admin.register(AutomationRule)
class AutomationRuleAdmin(admin.ModelAdmin):
    list_display = ("position", "name", "kind", "match", "is_active", "stop_processing")
    list_display_links = ("name",)
    list_filter = ("kind", "is_active")
    search_fields = ("name",)
    readonly_fields = ("created_by", "created_at", "updated_at")


@admin.register(AutomationRun)
class AutomationRunAdmin(admin.ModelAdmin):
    list_display = ("created_at", "rule", "ticket", "trigger", "matched", "outcome", "error")
    list_filter = ("outcome", "trigger", "matched", "rule")
    search_fields = ("rule__name", "ticket__id")
    raw_id_fields = ("rule", "ticket")
    list_select_related = ("rule", "ticket")
    readonly_fields = (
        "rule",
        "ticket",
        "trigger",
        "event_key",
        "matched",
        "outcome",
        "actions_applied",
        "error",
        "created_at",
    )


@admin.register(AutomationWebhook)
class AutomationWebhookAdmin(admin.ModelAdmin):
    list_display = ("name", "url", "is_active", "created_at")
    search_fields = ("name", "url")


@admin.register(Macro)
class MacroAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "is_active", "updated_at")
    list_filter = ("is_active",)
    search_fields = ("name", "body_zh", "body_en")
    raw_id_fields = ("owner",)
