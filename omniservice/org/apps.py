from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OrgConfig(AppConfig):
    name = "omniservice.org"
    label = "org"
    verbose_name = _("Organisation")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from omniservice.org.roles import ensure_role_groups

        # Not limited to this app: the permissions of the apps above the kernel exist only
        # once their own post_migrate ran, so the groups are refreshed after each app.
        post_migrate.connect(ensure_role_groups, dispatch_uid="org.ensure_role_groups")
