from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TicketsConfig(AppConfig):
    name = "tickets"
    verbose_name = _("Tickets")

    def ready(self) -> None:
        from tickets import (  # noqa: F401 - surveys: admin, receivers, tasks
            admin_surveys,
            services,
            tasks_surveys,
        )
