"""The store tablet: log an in-store interaction; and the console's handover to a store.

Store staff work in their home store only (another store's page is a 404); managers and
administrators may open any store; contact-centre agents have no store page (403).
"""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from channels_hub.store_services import InteractionKind, log_store_interaction
from omniservice.errors import DomainError
from omniservice.org.models import Role, Store
from tickets.models import OPEN_STATUSES
from tickets.selectors import ticket_for
from tickets.services import hand_over_to_store
from tickets.views import console_view
from tickets.visibility import profile_of, sees_everything, tickets_visible_to

RECENT_TICKETS = 20


class InteractionForm(forms.Form):
    kind = forms.ChoiceField(
        label=gettext_lazy("Visit"), choices=InteractionKind.choices, widget=forms.RadioSelect
    )
    phone = forms.CharField(label=gettext_lazy("Phone"), max_length=40, required=False)
    member_no = forms.CharField(label=gettext_lazy("Member number"), max_length=64, required=False)
    name = forms.CharField(label=gettext_lazy("Customer name"), max_length=120, required=False)
    text = forms.CharField(
        label=gettext_lazy("What happened"),
        max_length=5000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    token = forms.CharField(max_length=64, widget=forms.HiddenInput)


class HandoverForm(forms.Form):
    store = forms.ModelChoiceField(
        label=gettext_lazy("Store"),
        queryset=Store.objects.filter(is_active=True),
        to_field_name="code",
    )
    reason = forms.CharField(label=gettext_lazy("Reason (internal note)"), max_length=1000)
    reply = forms.CharField(
        label=gettext_lazy("Message to the customer (optional)"), max_length=5000, required=False
    )


def _store_for(request: HttpRequest, code: str) -> Store:
    profile = profile_of(request.user)
    if profile is not None and profile.role == Role.STORE_STAFF:
        if profile.home_store is None or profile.home_store.code != code:
            raise Http404
        return profile.home_store
    if not sees_everything(request.user):
        raise PermissionDenied
    store = Store.objects.filter(code=code, is_active=True).first()
    if store is None:
        raise Http404
    return store


@console_view
def store_home(request: HttpRequest) -> HttpResponse:
    profile = profile_of(request.user)
    if profile is not None and profile.home_store_id:
        return redirect("store:interactions", code=profile.home_store.code)
    if not sees_everything(request.user):
        raise PermissionDenied
    first = Store.objects.filter(is_active=True).order_by("code").first()
    if first is None:
        raise Http404
    return redirect("store:interactions", code=first.code)


@require_http_methods(["GET", "POST"])
@console_view
def interactions(request: HttpRequest, code: str) -> HttpResponse:
    store = _store_for(request, code)
    if request.method == "POST":
        form = InteractionForm(request.POST)
        if form.is_valid():
            try:
                result = log_store_interaction(store=store, staff=request.user, **form.cleaned_data)
            except DomainError as exc:
                form.add_error(None, exc.text)
            else:
                messages.success(
                    request,
                    _("Logged on ticket #%(number)s.") % {"number": result.ticket.pk},
                )
                return redirect("store:interactions", code=store.code)
    else:
        form = InteractionForm(initial={"token": uuid.uuid4().hex})
    recent = (
        tickets_visible_to(request.user)
        .filter(store=store, status__in=OPEN_STATUSES, merged_into__isnull=True)
        .select_related("customer")
        .order_by("-updated_at")[:RECENT_TICKETS]
    )
    stores = Store.objects.filter(is_active=True) if sees_everything(request.user) else None
    return render(
        request,
        "channels_hub/store/interactions.html",
        {"store": store, "form": form, "recent": recent, "stores": stores},
        status=400 if request.method == "POST" else 200,
    )


@require_POST
@console_view
def hand_over(request: HttpRequest, number: int) -> HttpResponse:
    ticket = ticket_for(request.user, number)
    if ticket is None:
        raise Http404
    form = HandoverForm(request.POST)
    if not form.is_valid():
        error = next(iter(form.errors.values()))[0]
        return _answer(request, ticket.pk, str(error), code="invalid", status=400)
    data = form.cleaned_data
    try:
        hand_over_to_store(
            ticket=ticket,
            store=data["store"],
            actor=request.user,
            reason=data["reason"],
            reply_text=data["reply"],
        )
    except DomainError as exc:
        return _answer(request, ticket.pk, exc.text, code=exc.code, status=exc.status)
    text = _("Handed over to %(store)s.") % {"store": data["store"].name}
    return _answer(request, ticket.pk, text)


def _answer(
    request: HttpRequest, number: int, text: str, *, code: str = "", status: int = 200
) -> HttpResponse:
    if "application/json" in request.headers.get("Accept", ""):
        if status == 200:
            return JsonResponse({"ok": True, "message": text})
        return JsonResponse({"error": {"code": code, "message": text}}, status=status)
    (messages.success if status == 200 else messages.error)(request, text)
    return redirect("console:ticket", number=number)
