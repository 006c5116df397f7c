"""The pages a brand's admin opens first, in a real browser, with no CDN reachable."""

import pytest

from customers.models import IdentityKind
from tests.factories import CustomerEventFactory, CustomerFactory, IdentityFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_api_docs_render_offline_with_every_customer_endpoint(live_server, page, screenshot):
    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector(".opblock-summary-path", timeout=15_000)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert "/api/v1/customers/lookup/" in paths
    assert "/api/v1/events/" in paths
    assert page.external_requests == []
    screenshot(page, "api-docs")


def test_admin_shows_a_customer_with_identities_and_timeline(
    live_server, page, screenshot, admin_user
):
    customer = CustomerFactory(name="王芳", tier="vip")
    IdentityFactory(
        customer=customer, kind=IdentityKind.PHONE, value="+8613800138000", verified=True
    )
    IdentityFactory(customer=customer, kind=IdentityKind.EMAIL, value="wang.fang@example.com")
    CustomerEventFactory(customer=customer, external_id="TM-1", amount="399.00", currency="CNY")

    page.goto(f"{live_server.url}/admin/login/?next=/admin/customers/customer/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", "password")
    page.click("input[type=submit]")
    page.wait_for_selector("#result_list")
    assert "王芳" in page.inner_text("#result_list")
    page.click(f"#result_list a:has-text('{customer.public_id}')")
    page.wait_for_selector("#identities-group")
    assert "+8613800138000" in page.inner_text("#identities-group")
    assert page.external_requests == []
    page.locator("#identities-group").scroll_into_view_if_needed()
    screenshot(page, "admin-customer")


def test_home_page_switches_language(live_server, page, screenshot):
    page.goto(f"{live_server.url}/")
    page.select_option("select[name=language]", "en")
    page.wait_for_selector("text=Partner API")
    assert page.get_attribute("html", "lang") == "en"
    screenshot(page, "home")
