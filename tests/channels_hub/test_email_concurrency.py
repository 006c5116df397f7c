"""The same email delivered at once by several paths (the listener and IMAP, or an MX
retrying) is stored once. PostgreSQL only: SQLite serialises writers."""

from __future__ import annotations

import pytest

from channels_hub.email_ingest import ingest_email
from channels_hub.email_models import EmailRecord
from tests.channels_hub import email_samples as samples
from tests.tickets.test_concurrency import run_together
from tickets.models import Message, Ticket

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def test_concurrent_deliveries_of_one_email_store_it_once():
    connection = samples.make_email_connection()
    raw = samples.with_attachments().as_bytes()
    outcomes = run_together([lambda: ingest_email(raw, connection=connection)] * 4)
    assert sorted(o.status for o in outcomes) == ["duplicate"] * 3 + ["stored"]
    message = Message.objects.get()
    assert message.attachments.count() == 2
    assert EmailRecord.objects.get().message == message
    assert Ticket.objects.count() == 1
