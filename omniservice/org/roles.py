"""Roles are Django groups with permissions; a staff profile's role picks its group.

Permissions are named by string ("app_label.codename") so the kernel never imports the
apps above it; a permission whose app is not installed yet is skipped.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group, Permission

from omniservice.org.models import Role

_VIEW_CUSTOMERS = [
    "customers.view_customer",
    "customers.view_identity",
    "customers.view_customerevent",
]
_EDIT_CUSTOMERS = ["customers.change_customer", "customers.add_customer", "customers.add_identity"]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    Role.AGENT: [*_VIEW_CUSTOMERS, *_EDIT_CUSTOMERS, "org.view_store", "org.view_team"],
    Role.STORE_STAFF: [*_VIEW_CUSTOMERS, *_EDIT_CUSTOMERS, "org.view_store"],
    Role.MANAGER: [
        *_VIEW_CUSTOMERS,
        *_EDIT_CUSTOMERS,
        "customers.merge_customer",
        "customers.view_mergesuggestion",
        "customers.change_mergesuggestion",
        "org.view_store",
        "org.view_team",
        "org.change_team",
        "org.view_staffprofile",
        "org.change_staffprofile",
        *[
            f"tickets.{action}_{model}"
            for model in ("slapolicy", "businesscalendar", "holiday")
            for action in ("view", "add", "change", "delete")
        ],
        "tickets.view_slaevent",
        "tickets.view_satisfactionpolicy",
        "tickets.change_satisfactionpolicy",
        "tickets.view_survey",
        # periodic tasks (django-celery-beat): change intervals, disable tasks
        "django_celery_beat.view_periodictask",
        "django_celery_beat.change_periodictask",
        "django_celery_beat.view_intervalschedule",
        "django_celery_beat.add_intervalschedule",
        "django_celery_beat.view_crontabschedule",
        "django_celery_beat.add_crontabschedule",
    ],
    Role.ADMIN: ["*"],
}

# What a console user of each role may do through the API, in API-key scope terms.
ROLE_SCOPES: dict[str, frozenset[str]] = {
    Role.AGENT: frozenset(
        {
            "customers:read",
            "customers:write",
            "events:write",
            "tickets:read",
            "tickets:write",
            "kb:read",
        }
    ),
    Role.STORE_STAFF: frozenset(
        {
            "customers:read",
            "customers:write",
            "events:write",
            "tickets:read",
            "tickets:write",
            "kb:read",
        }
    ),
    Role.MANAGER: frozenset(
        {
            "customers:read",
            "customers:write",
            "customers:merge",
            "events:write",
            "tickets:read",
            "tickets:write",
            "kb:read",
            "kb:write",
        }
    ),
    Role.ADMIN: frozenset({"*"}),
}


def group_name(role: str) -> str:
    return f"role:{role}"


def _permissions_for(names: list[str]) -> list[Permission]:
    if names == ["*"]:
        return list(Permission.objects.all())
    wanted = {tuple(name.split(".", 1)) for name in names}
    return [
        perm
        for perm in Permission.objects.select_related("content_type").filter(
            codename__in=[codename for _label, codename in wanted]
        )
        if (perm.content_type.app_label, perm.codename) in wanted
    ]


def ensure_role_groups(**_kwargs: Any) -> None:
    """post_migrate: create one group per role and give it exactly its permissions."""
    for role, names in ROLE_PERMISSIONS.items():
        group, _created = Group.objects.get_or_create(name=group_name(role))
        group.permissions.set(_permissions_for(names))
