"""The public survey page: no login, the unguessable token in the link is the key.

One page per survey, in the customer's language (``?lang=`` switches), usable on a phone:
the scores are buttons, the optional comment above them goes with the tap. One answer per
survey; the comment may be changed for a while after. Unknown and expired links get a
clear 404 page. Requests are rate-limited per client address; forms carry Django's CSRF
token; the pages are never cached, indexed or leaked through the Referer header.
"""

from __future__ import annotations

import zoneinfo
from typing import Any

from django import forms
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from omniservice import ratelimit
from omniservice.errors import ConflictError, DomainError, NotFoundError
from tickets.models import SatisfactionPolicy, Survey, SurveyKind
from tickets.surveys import services as surveys

RATE_PER_MINUTE = 30  # per client address, every survey page request
ANSWERS_PER_MINUTE = 10  # per survey, form posts


class AnswerForm(forms.Form):
    score = forms.IntegerField(
        error_messages={"required": _("Tap a score."), "invalid": _("Tap a score.")}
    )
    comment = forms.CharField(
        required=False, max_length=surveys.MAX_COMMENT_CHARS, widget=forms.Textarea
    )

    def __init__(self, *args: Any, survey: Survey, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        low, high = survey.scale
        self.fields["score"].min_value = low
        self.fields["score"].max_value = high
        self.fields["score"].validators = []
        self.low, self.high = low, high

    def clean_score(self) -> int:
        score = self.cleaned_data["score"]
        if not self.low <= score <= self.high:
            raise forms.ValidationError(
                _("Choose a score from %(low)s to %(high)s."),
                params={"low": self.low, "high": self.high},
                code="invalid_score",
            )
        return score


class CommentForm(forms.Form):
    comment = forms.CharField(
        required=False, max_length=surveys.MAX_COMMENT_CHARS, widget=forms.Textarea
    )


def _private(response: HttpResponse, language: str | None = None) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    # Not "no-referrer": browsers would then post with "Origin: null" and fail the CSRF check.
    response["Referrer-Policy"] = "same-origin"
    response["X-Robots-Tag"] = "noindex, nofollow"
    if language:
        response["Content-Language"] = language
    return response


def _notice(request: HttpRequest, reason: str, *, status: int, language: str | None = None):
    context = {"reason": reason}
    if language:
        with translation.override(language):
            response = render(request, "tickets/surveys/notice.html", context, status=status)
    else:
        response = render(request, "tickets/surveys/notice.html", context, status=status)
    return _private(response, language)


def _page_language(request: HttpRequest, survey: Survey) -> str:
    wanted = request.GET.get("lang", "")
    return wanted if wanted in {code for code, _name in settings.LANGUAGES} else survey.language


@require_http_methods(["GET", "POST"])
def survey_page(request: HttpRequest, token: str) -> HttpResponse:
    rate = ratelimit.hit(f"survey-ip:{ratelimit.client_address(request.META)}", RATE_PER_MINUTE)
    if not rate.allowed:
        response = _notice(request, "throttled", status=429)
        response["Retry-After"] = str(max(1, round(rate.retry_after)))
        return response
    survey = surveys.survey_for_token(token)
    if survey is None:
        return _notice(request, "unknown", status=404)
    language = _page_language(request, survey)
    policy = SatisfactionPolicy.current()
    if not surveys.is_viewable(survey, policy):
        return _notice(request, "expired", status=404, language=language)
    with translation.override(language), timezone.override(_customer_zone(survey)):
        return _private(_survey_view(request, survey, policy, language), language)


def _customer_zone(survey: Survey) -> zoneinfo.ZoneInfo | None:
    try:
        return zoneinfo.ZoneInfo(survey.customer.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


def _survey_view(
    request: HttpRequest, survey: Survey, policy: SatisfactionPolicy, language: str
) -> HttpResponse:
    answer_form: AnswerForm | None = None
    comment_form: CommentForm | None = None
    page_error = ""
    status = 200
    if request.method == "POST":
        if not ratelimit.hit(f"survey-answers:{survey.pk}", ANSWERS_PER_MINUTE).allowed:
            return _notice(request, "throttled", status=429, language=language)
        try:
            if survey.answered_at is None:
                answer_form = AnswerForm(request.POST, survey=survey)
                if answer_form.is_valid():
                    surveys.answer_survey(
                        token=survey.token,
                        score=answer_form.cleaned_data["score"],
                        comment=answer_form.cleaned_data["comment"],
                    )
                    return _after_post(survey, language)
            else:
                comment_form = CommentForm(request.POST)
                if comment_form.is_valid():
                    surveys.change_survey_comment(
                        token=survey.token, comment=comment_form.cleaned_data["comment"]
                    )
                    return _after_post(survey, language, edited=True)
        except NotFoundError:
            return _notice(request, "expired", status=404, language=language)
        except ConflictError as exc:
            if exc.code == "survey_answered":
                return _after_post(survey, language)
            page_error = exc.text
            status = 409
        except DomainError as exc:
            status = 400
            form = answer_form or comment_form
            if form is not None:
                for field, errors in (exc.fields or {None: [exc.text]}).items():
                    for error in errors:
                        form.add_error(field if field in form.fields else None, error)
        else:
            status = 400
    survey.refresh_from_db()
    deadline = surveys.edit_deadline(survey, policy)
    can_edit = deadline is not None and timezone.now() < deadline
    if survey.answered_at is None and answer_form is None:
        answer_form = AnswerForm(survey=survey)
    if can_edit and comment_form is None:
        comment_form = CommentForm(initial={"comment": survey.comment})
    low, high = survey.scale
    context = {
        "survey": survey,
        "is_csat": survey.kind == SurveyKind.CSAT,
        "scores": list(range(low, high + 1)),
        "answer_form": answer_form if survey.answered_at is None else None,
        "comment_form": comment_form if can_edit else None,
        "edit_deadline": deadline,
        "edited": request.GET.get("edited") == "1",
        "page_error": page_error,
        "language": language,
        "other_languages": [(c, n) for c, n in settings.LANGUAGES if c != language],
    }
    return render(request, "tickets/surveys/page.html", context, status=status)


def _after_post(survey: Survey, language: str, *, edited: bool = False) -> HttpResponse:
    """POST/redirect/GET: a reload never posts the answer twice."""
    query = f"?lang={language}" + ("&edited=1" if edited else "")
    return redirect(f"{reverse('surveys:page', args=[survey.token])}{query}")
