"""A manager connects a mailbox in the console; its send test goes out by SMTP."""

from __future__ import annotations

import pytest
from django.urls import reverse

from channels_hub.email_ingest import connection_for_address
from channels_hub.models import ChannelConnection
from tests.channels_hub import email_samples as samples
from tests.tickets.test_console_views import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def sink():
    yield from samples.run_sink()


def test_manager_connects_a_mailbox_with_encrypted_passwords_and_sends_a_test(personas, sink):
    client = client_for(personas.manager)
    response = client.post(
        reverse("channels:connection-create", args=["email"]),
        {
            "name": "Brand mail",
            "is_active": "on",
            "from_address": samples.SUPPORT,
            "from_name": "Brand Support",
            "signature": "Brand customer service",
            "inbound_addresses": "help@brand.example, vip@brand.example",
            "smtp_host": "127.0.0.1",
            "smtp_port": str(sink.port),
            "smtp_security": "none",
            "smtp_password": "smtp-secret",
            "imap_host": "imap.brand.example",
            "imap_user": "support",
            "imap_password": "imap-secret",
        },
    )
    assert response.status_code == 302
    connection = ChannelConnection.objects.get()
    assert connection.secrets == {"smtp_password": "smtp-secret", "imap_password": "imap-secret"}
    assert "imap-secret" not in connection.secrets_encrypted
    assert connection_for_address("vip@brand.example") == connection
    assert connection_for_address("someone@elsewhere.example") is None
    page = client.get(reverse("channels:connection-edit", args=[connection.pk])).content.decode()
    assert "smtp-secret" not in page and "imap-secret" not in page
    assert "/hooks/" not in page  # mail arrives by SMTP and IMAP: no webhook URL to copy

    client.post(
        reverse("channels:connection-test", args=[connection.pk]), {"to": "me@brand.example"}
    )
    (received,) = sink.received
    assert received.rcpt_tos == ["me@brand.example"]
    connection.refresh_from_db()
    assert connection.health == "ok"
