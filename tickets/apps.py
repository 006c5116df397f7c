from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TicketsConfig(AppConfig):
    name = "tickets"
    verbose_name = _("Tickets")

    def ready(self) -> None:
        from tickets import services  # noqa: F401 - connects the customer_merged receiver
        from tickets.surveys import admin, tasks  # noqa: F401 - survey receivers, task, admin
