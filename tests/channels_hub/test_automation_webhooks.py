"""The partner webhook handler against a real local HTTP server: signed JSON, a timeout,
4xx is a permanent failure, 5xx / timeouts / refused connections are retried."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from omniservice.outbox import services as outbox
from omniservice.outbox.models import OutboxMessage, OutboxStatus
from tests.factories import AutomationWebhookFactory
from tickets.automation.actions import WEBHOOK_TOPIC

pytestmark = pytest.mark.django_db

BODY = {"event": "automation.rule_matched", "delivery_id": "d-1", "ticket": {"number": 7}}


class Partner(BaseHTTPRequestHandler):
    status = 200
    hang = threading.Event()
    received: list[tuple[dict, bytes]] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers), body))
        if type(self).status == 0:  # never answer in time
            type(self).hang.wait(5)
            return
        self.send_response(type(self).status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def _server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Partner)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    Partner.hang.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def partner(_server):
    """The local partner server, with a clean record and a fresh 'hang' switch."""
    Partner.received = []
    Partner.hang = threading.Event()
    yield _server
    Partner.hang.set()


def queue_call(django_capture_on_commit_callbacks, url: str) -> tuple[OutboxMessage, object]:
    hook = AutomationWebhookFactory(url=url)
    with django_capture_on_commit_callbacks(execute=False):
        message = outbox.enqueue(WEBHOOK_TOPIC, {"webhook_id": hook.pk, "body": BODY})
    return message, hook


def status_of(message: OutboxMessage) -> str:
    return OutboxMessage.objects.get(pk=message.pk).status


def url_of(server) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/hooks/omni"


def test_a_2xx_answer_delivers_signed_json(partner, django_capture_on_commit_callbacks):
    Partner.status = 200
    message, hook = queue_call(django_capture_on_commit_callbacks, url_of(partner))
    assert outbox.deliver(message.pk) == OutboxStatus.DONE
    headers, body = Partner.received[0]
    assert json.loads(body) == BODY
    assert headers["Content-Type"].startswith("application/json")
    timestamp = headers["X-Omniservice-Timestamp"]
    expected = hmac.new(hook.secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    assert headers["X-Omniservice-Signature"] == "sha256=" + expected.hexdigest()
    assert headers["X-Omniservice-Delivery"] == "d-1"


@pytest.mark.parametrize("status", [400, 401, 404, 410, 422])
def test_a_4xx_answer_is_a_permanent_failure(partner, django_capture_on_commit_callbacks, status):
    Partner.status = status
    message, _hook = queue_call(django_capture_on_commit_callbacks, url_of(partner))
    assert outbox.deliver(message.pk) == OutboxStatus.DEAD
    stored = OutboxMessage.objects.get(pk=message.pk)
    assert f"HTTP {status}" in stored.last_error and stored.attempts == 1


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_a_5xx_or_429_answer_is_retried_later(partner, django_capture_on_commit_callbacks, status):
    Partner.status = status
    message, _hook = queue_call(django_capture_on_commit_callbacks, url_of(partner))
    assert outbox.deliver(message.pk) == OutboxStatus.PENDING
    stored = OutboxMessage.objects.get(pk=message.pk)
    assert stored.attempts == 1 and f"HTTP {status}" in stored.last_error
    assert stored.available_at > stored.created_at  # backoff before the next attempt


def test_a_timeout_is_retried(partner, django_capture_on_commit_callbacks, settings):
    settings.AUTOMATION_WEBHOOK_TIMEOUT_SECONDS = 1
    Partner.status = 0
    message, _hook = queue_call(django_capture_on_commit_callbacks, url_of(partner))
    assert outbox.deliver(message.pk) == OutboxStatus.PENDING
    assert "timed out" in OutboxMessage.objects.get(pk=message.pk).last_error


def test_a_refused_connection_is_retried(django_capture_on_commit_callbacks):
    message, _hook = queue_call(django_capture_on_commit_callbacks, "http://127.0.0.1:9/none")
    assert outbox.deliver(message.pk) == OutboxStatus.PENDING


def test_a_redirect_is_not_followed(partner, django_capture_on_commit_callbacks):
    Partner.status = 302
    message, _hook = queue_call(django_capture_on_commit_callbacks, url_of(partner))
    assert outbox.deliver(message.pk) == OutboxStatus.DEAD
    assert len(Partner.received) == 1


def test_a_disabled_webhook_is_not_called(partner, django_capture_on_commit_callbacks):
    message, hook = queue_call(django_capture_on_commit_callbacks, url_of(partner))
    hook.is_active = False
    hook.save()
    assert outbox.deliver(message.pk) == OutboxStatus.DEAD
    assert Partner.received == []
