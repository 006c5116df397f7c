"""A manager connects WeChat in the console: the form, the webhook URL to give WeChat,
the list with health; the credentials never come back to the browser."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from channels_hub.models import ChannelConnection

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_manager_connects_wechat_and_sees_its_health(
    asgi_server, console_page, screenshot, personas
):
    page = console_page(personas.manager.user, locale="zh-CN")
    page.goto(f"{asgi_server.url}/console/channels/")
    page.select_option("#new-channel", "wechat")
    page.click("#add-connection button[type=submit]")

    page.fill("#id_name", "公众号 · 官方服务号")
    page.fill("#id_app_id", "wx5823bf96d3bd56c7")
    page.fill("#id_app_secret", "a-very-secret-app-secret")
    page.fill("#id_token", "wechat-token")
    page.check("#id_is_default")
    page.click("#connection-form button[type=submit]")

    connection = ChannelConnection.objects.get()
    expect(page.locator("#webhook-url")).to_have_value(
        f"{asgi_server.url}/hooks/wechat/{connection.webhook_key}/"
    )
    assert "a-very-secret-app-secret" not in page.content()
    assert connection.secrets["app_secret"] == "a-very-secret-app-secret"

    page.goto(f"{asgi_server.url}/console/channels/")
    expect(page.locator("#connections")).to_contain_text("公众号 · 官方服务号")
    expect(page.locator("#connections .health")).to_have_text("尚未检查")
    screenshot(page, "console-channels")
