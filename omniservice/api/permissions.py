"""Scope checks: an API key needs the scope an endpoint names; a console user's role
grants scopes through ``ROLE_SCOPES``."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import permissions
from rest_framework.request import Request

from omniservice.api.models import ApiKey
from omniservice.org.roles import ROLE_SCOPES


def scopes_of(request: Request) -> frozenset[str]:
    if isinstance(request.auth, ApiKey):
        return frozenset(request.auth.scopes)
    user = request.user
    if not user or not user.is_authenticated:
        return frozenset()
    if user.is_superuser:
        return frozenset({"*"})
    profile = getattr(user, "staff_profile", None)
    if profile is None:
        return frozenset()
    return ROLE_SCOPES.get(profile.role, frozenset())


def required_scope(view: Any, request: Request) -> str | None:
    """The scope of this action: ``view.scopes`` maps actions (or methods) to scopes."""
    scopes: dict[str, str] = getattr(view, "scopes", {})
    action = getattr(view, "action", None)
    if action and action in scopes:
        return scopes[action]
    method = request.method.lower()
    if method in scopes:
        return scopes[method]
    if request.method in permissions.SAFE_METHODS:
        return scopes.get("read")
    return scopes.get("write")


class HasScope(permissions.BasePermission):
    message = _("This API key or user lacks the scope this endpoint needs.")
    code = "missing_scope"

    def has_permission(self, request: Request, view: Any) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        if not hasattr(view, request.method.lower()):
            return True  # let the view answer 405 Method Not Allowed
        scope = required_scope(view, request)
        if scope is None:
            # Deny by default: only views that say so are open to any authenticated client.
            return bool(getattr(view, "any_authenticated_client", False))
        granted = scopes_of(request)
        if "*" in granted or scope in granted:
            return True
        self.message = _("This endpoint needs the scope %(scope)s.") % {"scope": scope}
        return False
