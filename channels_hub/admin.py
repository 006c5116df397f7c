from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from channels_hub.inbox import replay_failed
from channels_hub.models import (
    CallbackTask,
    CallRecord,
    ChannelConnection,
    InboundDelivery,
    TemplateReply,
    WebChatVisitor,
    WhatsAppTemplate,
)


@admin.register(ChannelConnection)
class ChannelConnectionAdmin(admin.ModelAdmin):
    """Credentials are set from the console's channel pages; never shown here."""

    list_display = ("name", "channel", "is_active", "is_default", "health", "last_inbound_at")
    list_filter = ("channel", "is_active", "health")
    readonly_fields = (
        "webhook_key",
        "health",
        "last_error",
        "last_error_at",
        "last_inbound_at",
        "last_outbound_at",
    )
    exclude = ("secrets_encrypted",)


@admin.register(InboundDelivery)
class InboundDeliveryAdmin(admin.ModelAdmin):
    """The webhooks' inbox: what waits to be threaded, and what failed or was dropped."""

    list_display = ("channel", "external_id", "state", "attempts", "received_at", "last_error")
    list_filter = ("state", "channel")
    search_fields = ("external_id",)
    readonly_fields = [f.name for f in InboundDelivery._meta.fields]
    actions = ("retry_deliveries",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description=_("Thread the selected failed deliveries again"))
    def retry_deliveries(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = replay_failed(queryset)
        self.message_user(
            request,
            ngettext(
                "%(count)d delivery will be threaded again.",
                "%(count)d deliveries will be threaded again.",
                count,
            )
            % {"count": count},
            messages.SUCCESS,
        )


@admin.register(WebChatVisitor)
class WebChatVisitorAdmin(admin.ModelAdmin):
    """Read-only: visitors are created by the widget; what they typed in the pre-chat form."""

    list_display = ("public_id", "name", "contact", "topic", "user_id", "last_message_at")
    list_filter = ("connection",)
    search_fields = ("public_id", "name", "contact", "user_id")
    readonly_fields = [f.name for f in WebChatVisitor._meta.fields]
    raw_id_fields = ("customer",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(CallRecord)
class CallRecordAdmin(admin.ModelAdmin):
    """Calls as the PBX reported them (read only: the webhook writes them)."""

    list_display = ("call_id", "direction", "state", "customer_number", "agent", "started_at")
    list_filter = ("state", "direction")
    search_fields = ("call_id", "customer_number")
    raw_id_fields = ("customer", "ticket", "message", "agent")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(CallbackTask)
class CallbackTaskAdmin(admin.ModelAdmin):
    list_display = ("ticket", "status", "created_at", "done_by", "done_at")
    list_filter = ("status",)
    raw_id_fields = ("call", "ticket", "done_by")


@admin.register(WhatsAppTemplate)
class WhatsAppTemplateAdmin(admin.ModelAdmin):
    """Read only: templates are made in Meta's WhatsApp Manager and synced from there."""

    list_display = ("name", "language", "category", "status", "parameter_count", "synced_at")
    list_filter = ("connection", "status", "category", "language")
    search_fields = ("name", "body_text")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(TemplateReply)
class TemplateReplyAdmin(admin.ModelAdmin):
    list_display = ("message", "name", "language", "created_at")
    search_fields = ("name",)
    raw_id_fields = ("message", "template")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
