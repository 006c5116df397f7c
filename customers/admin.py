from django.contrib import admin

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


class IdentityInline(admin.TabularInline):
    model = Identity
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
