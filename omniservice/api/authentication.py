from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from omniservice.api.keys import authenticate_key
from omniservice.api.models import ApiKey


@dataclass(frozen=True)
class PartnerClient:
    """The ``request.user`` of a request authenticated by an API key."""

    api_key: ApiKey
    is_authenticated: bool = True
    is_active: bool = True
    is_staff: bool = False
    is_superuser: bool = False

    @property
    def pk(self) -> str:
        return f"apikey:{self.api_key.pk}"

    def __str__(self) -> str:
        return f"API key {self.api_key.name}"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer osk_…`` for partner systems."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[PartnerClient, ApiKey] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _sep, token = header.partition(" ")
        if scheme.lower() != self.keyword.lower():
            return None
        token = token.strip()
        if not token:
            raise exceptions.AuthenticationFailed(_("The Authorization header carries no key."))
        key = authenticate_key(token)
        if key is None:
            raise exceptions.AuthenticationFailed(_("Invalid or revoked API key."))
        return PartnerClient(api_key=key), key

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


def actor_of(request: Request) -> str:
    """Who did it, for audit trails: ``apikey:<name>`` or ``user:<username>``."""
    if isinstance(request.auth, ApiKey):
        return f"apikey:{request.auth.name}"
    user = request.user
    if user is not None and user.is_authenticated:
        return f"user:{user.get_username()}"
    return "anonymous"
