"""The public survey page in a real browser on a phone-sized screen: a customer taps a
score (the form's CSRF check passes with the page's referrer policy) and edits the comment."""

from __future__ import annotations

import pytest

from tests.factories import SurveyFactory
from tickets.models import Survey

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def phone(browser):
    context = browser.new_context(
        viewport={"width": 375, "height": 720}, locale="zh-CN", is_mobile=True, has_touch=True
    )
    page = context.new_page()
    yield page
    context.close()


def test_a_customer_answers_on_a_phone_and_changes_the_comment(live_server, phone, screenshot):
    survey = SurveyFactory(language="zh-hans")
    phone.goto(f"{live_server.url}/survey/{survey.token}/")

    assert phone.inner_text("h1") == "我们的服务怎么样？"
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 375  # nothing overflows the phone's width
    screenshot(phone, "survey-phone")
    phone.fill("#survey-comment", "很快就解决了")
    phone.tap("button.score-5")
    phone.wait_for_selector("text=谢谢您！")
    phone.fill("#survey-comment", "很快就解决了，谢谢小王")
    phone.click("button.survey-save")
    phone.wait_for_selector(".survey-saved")

    survey = Survey.objects.get(pk=survey.pk)
    assert (survey.score, survey.comment) == (5, "很快就解决了，谢谢小王")
