from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from customers import services
from customers.identity import InvalidIdentity, normalize_value
from customers.models import (
    Consent,
    ConsentLog,
    Customer,
    CustomerEvent,
    CustomerMerge,
    Identity,
    MergeSuggestion,
    Tag,
)


class IdentityForm(forms.ModelForm):
    """Identities typed in the admin are normalised like those arriving from channels."""

    class Meta:
        model = Identity
        fields = ["kind", "value", "verified", "source"]

    def clean(self):
        cleaned = super().clean()
        kind, value = cleaned.get("kind"), cleaned.get("value")
        if kind and value:
            try:
                cleaned["value"] = normalize_value(kind, value)
            except InvalidIdentity as exc:
                self.add_error("value", exc.text)
        return cleaned


class IdentityInline(admin.TabularInline):
    model = Identity
    form = IdentityForm
    extra = 0
    fields = ("kind", "value", "verified", "source", "created_at")
    readonly_fields = ("created_at",)


class ConsentInline(admin.TabularInline):
    model = Consent
    extra = 0


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("public_id", "name", "tier", "language", "home_store", "status", "updated_at")
    list_filter = ("tier", "status", "language", "home_store")
    search_fields = ("public_id", "name", "identities__value")
    readonly_fields = (
        "public_id",
        "status",
        "merged_into",
        "merged_at",
        "created_at",
        "updated_at",
    )
    filter_horizontal = ("tags",)
    inlines = [IdentityInline, ConsentInline]
    list_select_related = ("home_store",)
    show_full_result_count = False


@admin.register(CustomerEvent)
class CustomerEventAdmin(admin.ModelAdmin):
    list_display = (
        "kind",
        "source",
        "external_id",
        "customer",
        "occurred_at",
        "amount",
        "currency",
        "store",
    )
    list_filter = ("kind", "source", "store")
    search_fields = ("external_id", "customer__public_id")
    raw_id_fields = ("customer",)
    list_select_related = ("customer", "store")
    show_full_result_count = False


@admin.register(MergeSuggestion)
class MergeSuggestionAdmin(admin.ModelAdmin):
    list_display = ("customer_a", "customer_b", "evidence", "status", "created_at")
    list_filter = ("status",)
    raw_id_fields = ("customer_a", "customer_b")
    readonly_fields = (
        "customer_a",
        "customer_b",
        "evidence",
        "status",
        "created_at",
        "resolved_at",
        "resolved_by",
    )
    list_select_related = ("customer_a", "customer_b")
    actions = ["merge_pairs", "dismiss_pairs"]

    def has_add_permission(self, request):
        return False

    @admin.action(description=_("Merge: keep the older customer"), permissions=["merge"])
    def merge_pairs(self, request, queryset):
        actor = f"user:{request.user.get_username()}"
        done = 0
        for suggestion in queryset.filter(status="open"):
            try:
                services.merge_customers(
                    source_id=suggestion.customer_b_id,
                    target_id=suggestion.customer_a_id,
                    actor=actor,
                    reason=str(_("Merge suggestion accepted in the admin")),
                )
                done += 1
            except ValidationError as exc:
                self.message_user(request, "; ".join(exc.messages), messages.WARNING)
        self.message_user(request, _("%(count)d customers merged.") % {"count": done})

    @admin.action(description=_("Dismiss: they are different people"), permissions=["change"])
    def dismiss_pairs(self, request, queryset):
        actor = f"user:{request.user.get_username()}"
        done = 0
        for suggestion in queryset.filter(status="open"):
            services.dismiss_merge_suggestion(suggestion=suggestion, actor=actor)
            done += 1
        self.message_user(request, _("%(count)d suggestions dismissed.") % {"count": done})

    def has_merge_permission(self, request):
        return request.user.has_perm("customers.merge_customer")


@admin.register(CustomerMerge)
class CustomerMergeAdmin(admin.ModelAdmin):
    list_display = ("source", "target", "actor", "reason", "created_at")
    raw_id_fields = ("source", "target")
    readonly_fields = (
        "source",
        "target",
        "actor",
        "reason",
        "moved",
        "source_snapshot",
        "created_at",
    )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


admin.site.register(Tag)
admin.site.register(ConsentLog)
