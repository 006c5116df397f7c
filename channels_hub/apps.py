from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ChannelsHubConfig(AppConfig):
    name = "channels_hub"
    verbose_name = _("Channels")

    def ready(self) -> None:
        from channels_hub import (
            delivery,  # noqa: F401 - registers the outbox handler
            webchat,  # noqa: F401 - follows customer merges
        )
