from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ChannelsHubConfig(AppConfig):
    name = "channels_hub"
    verbose_name = _("Channels")

    def ready(self) -> None:
        # Register the outbox handlers: message delivery, partner webhooks of automation,
        # survey delivery; and the IMAP polling tasks of email.
        from channels_hub import (  # noqa: F401
            automation_webhooks,
            delivery,
            email_tasks,
            outreach,
        )
