"""Idempotency-Key on POST, the per-client rate limit, and errors outside any endpoint."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from customers.models import Customer, CustomerEvent
from omniservice import ratelimit
from omniservice.api import throttling
from omniservice.api.keys import create_api_key
from omniservice.api.models import ApiKey, IdempotencyRecord
from tests.api.assertions import error_of
from tests.conftest import api_client_for_key
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

CUSTOMERS = "/api/v1/customers/"


def new_customer(value: str = "13800138000") -> dict:
    return {"name": "王芳", "identities": [{"kind": "phone", "value": value}]}


def post(client, path, body, key: str | None = None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(path, body, format="json", **headers)


# --- idempotency ------------------------------------------------------------------------


def test_replayed_post_returns_the_first_answer_and_creates_once(partner):
    first = post(partner, CUSTOMERS, new_customer(), key="create-wang-1")

    again = post(partner, CUSTOMERS, new_customer(), key="create-wang-1")

    assert first.status_code == 201
    assert not first.has_header("Idempotent-Replayed")
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Customer.objects.count() == 1


def test_without_a_key_a_retry_is_a_second_request(partner):
    assert post(partner, CUSTOMERS, new_customer()).status_code == 201

    error_of(post(partner, CUSTOMERS, new_customer()), 409, "identity_taken")


def test_same_key_with_a_different_body_is_400_idempotency_key_reused(partner):
    post(partner, CUSTOMERS, new_customer("13800138000"), key="k-1")

    response = post(partner, CUSTOMERS, new_customer("13900139000"), key="k-1")

    error_of(response, 400, "idempotency_key_reused")
    assert Customer.objects.count() == 1


def test_same_key_on_another_endpoint_is_reused(partner):
    post(partner, CUSTOMERS, new_customer(), key="k-1")
    customer = Customer.objects.get()

    response = post(partner, f"{CUSTOMERS}{customer.public_id}/merge/", {"source": "x"}, "k-1")

    error_of(response, 400, "idempotency_key_reused")


def test_idempotency_keys_are_per_client(partner, key_client):
    other = key_client("customers:write", "customers:read")
    mine = post(partner, CUSTOMERS, new_customer("13800138000"), key="shared-key")

    theirs = post(other, CUSTOMERS, new_customer("13900139000"), key="shared-key")

    assert mine.status_code == theirs.status_code == 201
    assert not theirs.has_header("Idempotent-Replayed")
    assert theirs.json()["id"] != mine.json()["id"]
    assert Customer.objects.count() == 2


def test_a_client_never_gets_another_clients_stored_answer(partner, key_client):
    mine = post(partner, CUSTOMERS, new_customer(), key="shared-key")

    theirs = post(key_client("customers:write"), CUSTOMERS, new_customer(), key="shared-key")

    assert mine.status_code == 201
    error = error_of(theirs, 409, "identity_taken")
    assert error["customer_id"] == mine.json()["id"]


def test_an_error_answer_is_replayed_too(partner):
    CustomerFactory().identities.create(kind="phone", value="+8613800138000")
    first = post(partner, CUSTOMERS, new_customer(), key="k-1")

    again = post(partner, CUSTOMERS, new_customer(), key="k-1")

    assert first.status_code == again.status_code == 409
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()


def test_a_request_refused_before_running_does_not_claim_the_key(db):
    key, raw = create_api_key(name="erp", scopes=["customers:read"])
    client = api_client_for_key(raw)
    error_of(post(client, CUSTOMERS, new_customer(), key="k-1"), 403, "missing_scope")

    ApiKey.objects.filter(pk=key.pk).update(scopes=["customers:read", "customers:write"])
    response = post(client, CUSTOMERS, new_customer(), key="k-1")

    assert response.status_code == 201
    assert not response.has_header("Idempotent-Replayed")


def test_a_key_whose_first_request_is_still_running_is_409(db):
    _key, raw = create_api_key(name="erp", scopes=["customers:write"])
    first = post(api_client_for_key(raw), CUSTOMERS, new_customer(), key="k-1")
    IdempotencyRecord.objects.filter(key="k-1").update(response_status=None, response_body=None)

    response = post(api_client_for_key(raw), CUSTOMERS, new_customer(), key="k-1")

    assert first.status_code == 201
    error_of(response, 409, "idempotency_in_progress")
    assert Customer.objects.count() == 1


def test_an_overlong_idempotency_key_is_400(partner):
    error_of(
        post(partner, CUSTOMERS, new_customer(), key="k" * 201), 400, "invalid_idempotency_key"
    )
    assert not Customer.objects.exists()


def test_replayed_event_batch_is_not_ingested_again(partner):
    batch = {
        "events": [
            {
                "kind": "order",
                "source": "shop",
                "external_id": "o-1",
                "occurred_at": "2025-03-01T10:00:00+08:00",
                "identities": [{"kind": "member_no", "value": "M-1"}],
            }
        ]
    }
    first = post(partner, "/api/v1/events/", batch, key="batch-1")

    again = post(partner, "/api/v1/events/", batch, key="batch-1")

    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert again.json()["results"][0]["status"] == "created"
    assert CustomerEvent.objects.count() == 1


def test_idempotency_key_is_ignored_on_patch(partner):
    customer = CustomerFactory()
    path = f"{CUSTOMERS}{customer.public_id}/"

    first = partner.patch(path, {"name": "A"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    second = partner.patch(path, {"name": "B"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")

    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json()["name"] == "B"
    assert not IdempotencyRecord.objects.exists()


# --- throttling -------------------------------------------------------------------------


@pytest.fixture
def clock(monkeypatch) -> SimpleNamespace:
    """The throttle's clock, frozen 15 s into a minute window; move it with ``clock.now``."""
    clock = SimpleNamespace(now=1_700_000_040.0 + 15)  # 1_700_000_040 is a multiple of 60
    monkeypatch.setattr(ratelimit, "now", lambda: clock.now)
    return clock


def test_fourth_request_in_a_minute_is_429_with_retry_after(key_client, clock):
    client = key_client("customers:read", rate_per_minute=3)
    for _ in range(3):
        assert client.get(CUSTOMERS).status_code == 200

    response = client.get(CUSTOMERS)

    error_of(response, 429, "throttled")
    assert response["Retry-After"] == "45"


def test_throttle_counts_every_endpoint_of_the_key(key_client, clock):
    client = key_client("customers:read", "customers:write", rate_per_minute=3)
    client.get(CUSTOMERS)
    client.get("/api/v1/stores/")
    post(client, CUSTOMERS, new_customer())

    error_of(client.get("/api/v1/stores/"), 429, "throttled")
    error_of(post(client, CUSTOMERS, new_customer("13900139000")), 429, "throttled")
    assert Customer.objects.count() == 1


def test_throttle_is_per_key(key_client, clock):
    busy = key_client("customers:read", rate_per_minute=3)
    calm = key_client("customers:read", rate_per_minute=3)
    for _ in range(4):
        busy.get(CUSTOMERS)

    assert busy.get(CUSTOMERS).status_code == 429
    assert calm.get(CUSTOMERS).status_code == 200


def test_throttle_window_resets_the_next_minute(key_client, clock):
    client = key_client("customers:read", rate_per_minute=3)
    for _ in range(4):
        client.get(CUSTOMERS)

    clock.now += 45

    assert client.get(CUSTOMERS).status_code == 200


def test_key_without_own_rate_uses_the_installation_default(key_client, clock, settings):
    settings.API_DEFAULT_RATE_PER_MINUTE = 2
    client = key_client("customers:read")

    assert [client.get(CUSTOMERS).status_code for _ in range(3)] == [200, 200, 429]


def test_anonymous_requests_are_throttled_too(client, db, clock, monkeypatch):
    monkeypatch.setattr(throttling, "ANONYMOUS_RATE_PER_MINUTE", 2)

    # The schema is public, so anonymous requests reach the throttle (by client IP).
    statuses = [client.get("/api/schema/").status_code for _ in range(3)]

    assert statuses == [200, 200, 429]


# --- errors outside any endpoint --------------------------------------------------------


def test_unknown_api_path_is_a_json_404(partner):
    response = partner.get("/api/v1/nope/")

    assert response["Content-Type"].startswith("application/json")
    error_of(response, 404, "not_found")


def test_unknown_api_path_without_credentials_is_a_json_404(client, db):
    error_of(client.get("/api/v1/customers/cus_x/nope/"), 404, "not_found")


def test_unknown_page_outside_the_api_is_html(client, db):
    response = client.get("/nope/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_unsupported_method_is_405_in_the_error_format(partner):
    customer = CustomerFactory()

    error_of(partner.delete(f"{CUSTOMERS}{customer.public_id}/"), 405, "method_not_allowed")
    assert Customer.objects.filter(pk=customer.pk).exists()
