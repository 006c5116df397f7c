from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TicketsConfig(AppConfig):
    name = "tickets"
    verbose_name = _("Tickets")

    def ready(self) -> None:
        # Imported for their side effects: receivers, Celery tasks and admin registrations.
        import tickets.automation.admin
        import tickets.automation.receivers
        import tickets.routing.admin
        import tickets.routing.triggers
        import tickets.services  # the customer_merged receiver
        import tickets.sla.admin
        import tickets.sla.clock
        import tickets.sla.jobs
        import tickets.sla.receivers
        import tickets.surveys.admin
        import tickets.surveys.tasks  # noqa: F401
