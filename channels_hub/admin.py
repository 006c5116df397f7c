from django.contrib import admin

from channels_hub.models import ChannelConnection


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
