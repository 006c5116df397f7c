"""Admin for SLA calendars, holidays and policies (managers have these permissions)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from customers.models import ValueTier
from omniservice.celery import queue_or_run
from tickets.models import Channel, Priority
from tickets.models.sla import BusinessCalendar, Holiday, SlaEvent, SlaPolicy


def schedule_recompute(request: HttpRequest) -> None:
    """After the admin's transaction commits, apply the edit to every open ticket's clock
    (once per request, however many rows a list edit saved)."""
    if getattr(request, "_sla_recompute_scheduled", False):
        return
    request._sla_recompute_scheduled = True  # type: ignore[attr-defined]
    from tickets.sla.jobs import recompute_open_tickets

    transaction.on_commit(lambda: queue_or_run(recompute_open_tickets))


class RecomputesOpenTickets:
    """Admin mixin: saving or deleting a calendar, holiday or policy recomputes the clocks."""

    def save_model(
        self, request: HttpRequest, obj: Model, form: forms.ModelForm, change: bool
    ) -> None:
        super().save_model(request, obj, form, change)  # type: ignore[misc]
        schedule_recompute(request)

    def save_related(
        self, request: HttpRequest, form: forms.ModelForm, formsets: list, change: bool
    ) -> None:
        super().save_related(request, form, formsets, change)  # type: ignore[misc]
        schedule_recompute(request)

    def delete_model(self, request: HttpRequest, obj: Model) -> None:
        super().delete_model(request, obj)  # type: ignore[misc]
        schedule_recompute(request)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        super().delete_queryset(request, queryset)  # type: ignore[misc]
        schedule_recompute(request)


class HolidayInline(admin.TabularInline):
    model = Holiday
    fk_name = "calendar"
    fields = ("date", "name", "hours")
    extra = 1


@admin.register(BusinessCalendar)
class BusinessCalendarAdmin(RecomputesOpenTickets, admin.ModelAdmin):
    list_display = ("name", "timezone", "team", "is_default")
    list_filter = ("is_default", "timezone")
    search_fields = ("name",)
    list_select_related = ("team",)
    inlines = [HolidayInline]


@admin.register(Holiday)
class HolidayAdmin(RecomputesOpenTickets, admin.ModelAdmin):
    """Public holidays (neither calendar nor store) and store holidays live here."""

    list_display = ("date", "name", "calendar", "store", "hours")
    list_filter = ("calendar", "store")
    date_hierarchy = "date"
    search_fields = ("name",)
    list_select_related = ("calendar", "store")


class SlaPolicyForm(forms.ModelForm):
    priorities = forms.MultipleChoiceField(
        label=_("priorities"),
        choices=Priority.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: any."),
    )
    tiers = forms.MultipleChoiceField(
        label=_("customer tiers"),
        choices=ValueTier.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: any."),
    )
    channels = forms.MultipleChoiceField(
        label=_("channels"),
        choices=Channel.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("The channel the customer uses now. None ticked: any."),
    )

    class Meta:
        model = SlaPolicy
        fields = [
            "name",
            "position",
            "is_active",
            "priorities",
            "tiers",
            "channels",
            "teams",
            "first_response_minutes",
            "next_response_minutes",
            "resolution_minutes",
            "warning_minutes",
            "business_hours_only",
            "calendar",
            "pause_on_hold",
            "escalate_raise_priority",
            "escalate_notify_managers",
            "escalate_to_team",
            "escalate_reassign",
        ]


@admin.register(SlaPolicy)
class SlaPolicyAdmin(RecomputesOpenTickets, admin.ModelAdmin):
    form = SlaPolicyForm
    list_display = (
        "position",
        "name",
        "is_active",
        "first_response_minutes",
        "next_response_minutes",
        "resolution_minutes",
        "warning_minutes",
    )
    list_display_links = ("name",)
    list_editable = ("position", "is_active")
    list_filter = ("is_active",)
    search_fields = ("name",)
    filter_horizontal = ("teams",)
    actions = ["recompute_open_tickets"]
    fieldsets = (
        (None, {"fields": ("name", "position", "is_active")}),
        (_("Conditions"), {"fields": ("priorities", "tiers", "channels", "teams")}),
        (
            _("Targets"),
            {
                "fields": (
                    "first_response_minutes",
                    "next_response_minutes",
                    "resolution_minutes",
                    "warning_minutes",
                    "business_hours_only",
                    "calendar",
                    "pause_on_hold",
                )
            },
        ),
        (
            _("Escalation on breach"),
            {
                "fields": (
                    "escalate_raise_priority",
                    "escalate_notify_managers",
                    "escalate_to_team",
                    "escalate_reassign",
                )
            },
        ),
    )

    @admin.action(description=_("Recompute the SLA clocks of open tickets"))
    def recompute_open_tickets(self, request: HttpRequest, queryset: QuerySet) -> None:
        schedule_recompute(request)
        self.message_user(
            request, _("Open tickets are being recomputed in the background."), messages.INFO
        )


@admin.register(SlaEvent)
class SlaEventAdmin(admin.ModelAdmin):
    list_display = ("at", "ticket", "target", "kind", "cycle", "due_at", "policy")
    list_filter = ("kind", "target")
    list_select_related = ("policy",)
    raw_id_fields = ("ticket",)
    date_hierarchy = "at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
