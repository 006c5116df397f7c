from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ChannelsHubConfig(AppConfig):
    name = "channels_hub"
    verbose_name = _("Channels")

    def ready(self) -> None:
        # Register the outbox handlers: message delivery, partner webhooks of automation,
        # survey delivery; the IMAP polling tasks of email and the template sync of
        # WhatsApp; the inbox drain of webhook messages and the call-to-ticket task of
        # the hotline; web chat follows customer merges.
        from channels_hub import (  # noqa: F401
            automation_webhooks,
            connections,
            delivery,
            email_tasks,
            inbox,
            media,
            outreach,
            phone_calls,
            template_tasks,
            webchat,
        )
