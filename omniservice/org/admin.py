from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from omniservice.org.models import Skill, StaffProfile, Store, Team
from omniservice.org.services import sync_role_group


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "city", "timezone", "is_active")
    list_filter = ("is_active", "city")
    search_fields = ("code", "name", "name_en", "city")


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "store", "lead")
    list_filter = ("store",)
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}


@admin.register(Skill)
class SkillAdmin(admin.ModelAdmin):
    list_display = ("code", "name")
    search_fields = ("code", "name")


@admin.register(StaffProfile)
class StaffProfileAdmin(admin.ModelAdmin):
    list_display = ("__str__", "role", "seniority", "home_store", "presence")
    list_filter = ("role", "seniority", "presence", "home_store", "teams")
    search_fields = ("user__username", "display_name")
    filter_horizontal = ("teams", "skills")
    list_select_related = ("user", "home_store")
    readonly_fields = ("presence_changed_at",)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        sync_role_group(user=obj.user, role=obj.role)
        if change and "role" in form.changed_data:
            messages.info(request, _("Role group updated."))
