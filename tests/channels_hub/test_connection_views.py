"""Managers connect channels in the console: credentials are encrypted and never shown
again, a blank secret keeps the stored one, "send test" records the health."""

from __future__ import annotations

import pytest
from django.urls import reverse

from channels_hub.models import ChannelConnection
from tests.channels_hub.fake_provider import Answer
from tests.tickets.test_console_views import client_for
from tickets.models import Channel

pytestmark = pytest.mark.django_db


def whatsapp_form(base_url: str, **overrides: str) -> dict[str, str]:
    return {
        "name": "WhatsApp Shanghai",
        "is_active": "on",
        "phone_number_id": "106540352242922",
        "app_secret": "top-secret-app",
        "access_token": "EAAG-secret-token",
        "verify_token": "verify-me",
        "base_url": base_url,
        **overrides,
    }


def test_agents_cannot_open_the_channel_pages(personas):
    client = client_for(personas.agent)
    assert client.get(reverse("channels:connections")).status_code == 403
    assert client.get(reverse("channels:connection-create", args=["whatsapp"])).status_code == 403


def test_manager_connects_whatsapp_and_the_secrets_are_stored_encrypted(personas, fake_provider):
    client = client_for(personas.manager)
    response = client.post(
        reverse("channels:connection-create", args=["whatsapp"]),
        whatsapp_form(fake_provider.base_url),
    )

    connection = ChannelConnection.objects.get()
    assert response.status_code == 302
    assert connection.secrets == {
        "app_secret": "top-secret-app",
        "access_token": "EAAG-secret-token",
        "verify_token": "verify-me",
    }
    assert "top-secret-app" not in connection.secrets_encrypted
    assert connection.settings["phone_number_id"] == "106540352242922"

    page = client.get(reverse("channels:connection-edit", args=[connection.pk])).content.decode()
    assert "top-secret-app" not in page and "EAAG-secret-token" not in page
    assert f"/hooks/whatsapp/{connection.webhook_key}/" in page
    listing = client.get(reverse("channels:connections")).content.decode()
    assert "WhatsApp Shanghai" in listing


def test_blank_secret_keeps_the_stored_one_and_a_new_value_replaces_it(personas, fake_provider):
    client = client_for(personas.manager)
    client.post(
        reverse("channels:connection-create", args=["whatsapp"]),
        whatsapp_form(fake_provider.base_url),
    )
    connection = ChannelConnection.objects.get()

    client.post(
        reverse("channels:connection-edit", args=[connection.pk]),
        whatsapp_form(
            fake_provider.base_url, app_secret="", access_token="EAAG-rotated", name="Renamed"
        ),
    )

    connection.refresh_from_db()
    assert connection.name == "Renamed"
    assert connection.secrets["app_secret"] == "top-secret-app"
    assert connection.secrets["access_token"] == "EAAG-rotated"


def test_missing_required_fields_are_form_errors_and_nothing_is_saved(personas):
    client = client_for(personas.manager)
    response = client.post(
        reverse("channels:connection-create", args=["whatsapp"]),
        {"name": "x", "base_url": "not a url"},
    )
    assert response.status_code == 400
    assert "field-error" in response.content.decode()
    assert not ChannelConnection.objects.exists()


def test_unknown_or_builtin_channel_cannot_be_connected(personas):
    client = client_for(personas.manager)
    picked = client.get(reverse("channels:connection-new"), {"channel": "wechat"})
    assert picked.status_code == 302 and picked["Location"].endswith("/new/wechat/")
    assert client.get(reverse("channels:connection-new"), {"channel": "api"}).status_code == 404
    assert client.get(reverse("channels:connection-create", args=["console"])).status_code == 404
    assert (
        client.get(reverse("channels:connection-create", args=["carrier-pigeon"])).status_code
        == 404
    )


def test_one_default_per_channel(personas, fake_provider):
    client = client_for(personas.manager)
    url = reverse("channels:connection-create", args=["whatsapp"])
    client.post(url, whatsapp_form(fake_provider.base_url, name="A", is_default="on"))
    client.post(url, whatsapp_form(fake_provider.base_url, name="B", is_default="on"))
    assert list(
        ChannelConnection.objects.filter(is_default=True).values_list("name", flat=True)
    ) == ["B"]


def test_send_test_reports_success_and_failure_and_records_health(personas, fake_provider):
    client = client_for(personas.manager)
    client.post(
        reverse("channels:connection-create", args=["whatsapp"]),
        whatsapp_form(fake_provider.base_url),
    )
    connection = ChannelConnection.objects.get()
    path = "/v21.0/106540352242922/messages"
    fake_provider.answer("POST", path, Answer(200, {"messages": [{"id": "wamid.TEST"}]}))

    page = client.post(
        reverse("channels:connection-test", args=[connection.pk]),
        {"to": "+8613812345678"},
        follow=True,
    )
    assert "wamid.TEST" in page.content.decode()
    assert fake_provider.received(path)[0].json()["to"] == "8613812345678"
    connection.refresh_from_db()
    assert connection.health == "ok"

    fake_provider.answer(
        "POST", path, Answer(401, {"error": {"message": "Invalid OAuth access token", "code": 190}})
    )
    page = client.post(
        reverse("channels:connection-test", args=[connection.pk]),
        {"to": "+8613812345678"},
        follow=True,
    )
    assert "Invalid OAuth access token" in page.content.decode()
    connection.refresh_from_db()
    assert connection.health == "failing" and "190" in connection.last_error


def test_channel_page_queries_do_not_grow_with_connections(personas, django_assert_max_num_queries):
    client = client_for(personas.manager)
    for index in range(12):
        ChannelConnection.objects.create(channel=Channel.SMS, name=f"SMS {index}")
    with django_assert_max_num_queries(12):
        assert client.get(reverse("channels:connections")).status_code == 200
