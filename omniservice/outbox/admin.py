from django.contrib import admin

from omniservice.outbox.models import OutboxMessage


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    list_display = ("id", "topic", "status", "attempts", "available_at", "created_at")
    list_filter = ("status", "topic")
    search_fields = ("topic", "dedupe_key")
    readonly_fields = ("created_at", "processed_at")
