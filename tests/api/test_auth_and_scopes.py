"""Who may call the partner API: API keys and their scopes, console sessions, the key command."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from customers.models import Customer, IdentityKind
from omniservice.api.keys import create_api_key
from omniservice.api.models import SCOPES, ApiKey
from tests.api.assertions import error_of
from tests.conftest import api_client_for_key
from tests.factories import CustomerFactory, IdentityFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer() -> Customer:
    customer = CustomerFactory(name="王芳")
    IdentityFactory(customer=customer, kind=IdentityKind.EMAIL, value="wang.fang@example.com")
    return customer


@pytest.fixture
def other_customer() -> Customer:
    return IdentityFactory(kind=IdentityKind.EMAIL, value="li.lei@example.com").customer


def _event_batch() -> dict:
    return {
        "events": [
            {
                "kind": "order",
                "source": "shop",
                "external_id": "o-1",
                "occurred_at": "2025-03-01T10:00:00+08:00",
                "identities": [{"kind": "email", "value": "wang.fang@example.com"}],
            }
        ]
    }


# (endpoint, needed scope, method, path, body); {id} and {other} are customer public ids.
CUSTOMER_ENDPOINTS = [
    ("list", "customers:read", "get", "/api/v1/customers/", None),
    ("retrieve", "customers:read", "get", "/api/v1/customers/{id}/", None),
    (
        "lookup",
        "customers:read",
        "get",
        "/api/v1/customers/lookup/?email=wang.fang@example.com",
        None,
    ),
    ("timeline", "customers:read", "get", "/api/v1/customers/{id}/timeline/", None),
    (
        "create",
        "customers:write",
        "post",
        "/api/v1/customers/",
        {"identities": [{"kind": "phone", "value": "13800138000"}]},
    ),
    ("patch", "customers:write", "patch", "/api/v1/customers/{id}/", {"name": "Changed"}),
    ("merge", "customers:merge", "post", "/api/v1/customers/{id}/merge/", {"source": "{other}"}),
    ("events", "events:write", "post", "/api/v1/events/", "events"),
]
ENDPOINT_IDS = [endpoint[0] for endpoint in CUSTOMER_ENDPOINTS]


def _call(client: APIClient, method: str, path: str, body, customer, other_customer):
    path = path.format(id=customer.public_id)
    if body == "events":
        body = _event_batch()
    elif body and body.get("source") == "{other}":
        body = {"source": other_customer.public_id}
    if body is None:
        return getattr(client, method)(path)
    return getattr(client, method)(path, body, format="json")


# --- no or bad credentials --------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "scope", "method", "path", "body"), CUSTOMER_ENDPOINTS, ids=ENDPOINT_IDS
)
def test_request_without_credentials_is_401_not_authenticated(
    endpoint, scope, method, path, body, customer, other_customer
):
    response = _call(APIClient(), method, path, body, customer, other_customer)

    error_of(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "raw_key",
    [
        "osk_deadbeef_not-the-secret",
        "osk_only-two-parts",
        "sk_live_somethingelse",
        "garbage",
    ],
)
def test_unknown_or_malformed_key_is_401_authentication_failed(raw_key, customer):
    response = api_client_for_key(raw_key).get("/api/v1/customers/")

    error_of(response, 401, "authentication_failed")


def test_right_prefix_with_wrong_secret_is_401_authentication_failed(db):
    key, raw = create_api_key(name="erp", scopes=["customers:read"])
    forged = f"osk_{key.prefix}_{'x' * 43}"

    error_of(api_client_for_key(forged).get("/api/v1/customers/"), 401, "authentication_failed")
    assert api_client_for_key(raw).get("/api/v1/customers/").status_code == 200


def test_bearer_header_without_key_is_401_authentication_failed(db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer ")

    error_of(client.get("/api/v1/customers/"), 401, "authentication_failed")


def test_revoked_key_is_401_authentication_failed(db):
    key, raw = create_api_key(name="erp", scopes=["customers:read"])
    client = api_client_for_key(raw)
    assert client.get("/api/v1/customers/").status_code == 200

    ApiKey.objects.filter(pk=key.pk).update(is_active=False)

    error_of(client.get("/api/v1/customers/"), 401, "authentication_failed")


# --- scopes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "scope", "method", "path", "body"), CUSTOMER_ENDPOINTS, ids=ENDPOINT_IDS
)
def test_key_with_every_scope_but_the_needed_one_is_403_missing_scope(
    endpoint, scope, method, path, body, key_client, customer, other_customer
):
    client = key_client(*(set(SCOPES) - {scope}))
    customers_before = Customer.objects.count()

    response = _call(client, method, path, body, customer, other_customer)

    error = error_of(response, 403, "missing_scope")
    assert scope in error["message"]
    assert Customer.objects.count() == customers_before
    customer.refresh_from_db()
    assert customer.name == "王芳"
    assert customer.status == "active"


@pytest.mark.parametrize(
    ("endpoint", "scope", "method", "path", "body"), CUSTOMER_ENDPOINTS, ids=ENDPOINT_IDS
)
def test_key_with_only_the_needed_scope_is_allowed(
    endpoint, scope, method, path, body, key_client, customer, other_customer
):
    response = _call(key_client(scope), method, path, body, customer, other_customer)

    assert response.status_code in (200, 201), response.content


def test_key_with_the_star_scope_may_merge(key_client, customer, other_customer):
    response = key_client("*").post(
        f"/api/v1/customers/{customer.public_id}/merge/",
        {"source": other_customer.public_id},
        format="json",
    )

    assert response.status_code == 200


def test_read_only_partner_fixture_may_read_but_not_write(partner_read_only, customer):
    assert partner_read_only.get(f"/api/v1/customers/{customer.public_id}/").status_code == 200

    response = partner_read_only.patch(
        f"/api/v1/customers/{customer.public_id}/", {"name": "x"}, format="json"
    )

    error_of(response, 403, "missing_scope")


def test_key_with_an_unrelated_scope_cannot_list_customers(partner_no_scope, customer):
    error_of(partner_no_scope.get("/api/v1/customers/"), 403, "missing_scope")


# --- console sessions -------------------------------------------------------------------


def test_agent_session_can_read_customers(personas, console_client, customer):
    client = console_client(personas.agent)

    listed = client.get("/api/v1/customers/")
    retrieved = client.get(f"/api/v1/customers/{customer.public_id}/")

    assert listed.status_code == 200
    assert [c["id"] for c in listed.json()["results"]] == [customer.public_id]
    assert retrieved.status_code == 200


def test_store_clerk_session_can_read_customers(personas, console_client, customer):
    client = console_client(personas.store_clerk)

    assert client.get("/api/v1/customers/").status_code == 200
    assert client.get(f"/api/v1/customers/{customer.public_id}/timeline/").status_code == 200


def test_agent_session_cannot_merge_but_manager_can(
    personas, console_client, customer, other_customer
):
    path = f"/api/v1/customers/{customer.public_id}/merge/"
    body = {"source": other_customer.public_id}

    error_of(console_client(personas.agent).post(path, body, format="json"), 403, "missing_scope")
    assert console_client(personas.manager).post(path, body, format="json").status_code == 200


def test_session_user_without_staff_profile_is_403(db, customer):
    client = APIClient()
    client.force_login(UserFactory())

    error_of(client.get("/api/v1/customers/"), 403, "missing_scope")
    error_of(client.get(f"/api/v1/customers/{customer.public_id}/"), 403, "missing_scope")


# --- stores: reference data -------------------------------------------------------------


def test_stores_list_is_readable_by_any_valid_key(personas, partner_no_scope):
    response = partner_no_scope.get("/api/v1/stores/")

    assert response.status_code == 200
    assert [s["code"] for s in response.json()["results"]] == ["bj-001", "sh-001"]


def test_stores_list_needs_credentials(personas):
    error_of(APIClient().get("/api/v1/stores/"), 401, "not_authenticated")


def test_stores_list_refuses_a_revoked_key(personas):
    key, raw = create_api_key(name="old", scopes=["kb:read"])
    ApiKey.objects.filter(pk=key.pk).update(is_active=False)

    error_of(api_client_for_key(raw).get("/api/v1/stores/"), 401, "authentication_failed")


# --- the create_api_key command ---------------------------------------------------------


def _run_create_api_key(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("create_api_key", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_create_api_key_prints_a_working_key_as_last_line(db):
    out, _err = _run_create_api_key(
        "erp", "--scopes", "customers:read, events:write", "--rate", "30"
    )

    raw = out.strip().splitlines()[-1]
    assert raw.startswith("osk_")
    key = ApiKey.objects.get(name="erp")
    assert key.scopes == ["customers:read", "events:write"]
    assert key.rate_per_minute == 30
    assert api_client_for_key(raw).get("/api/v1/customers/").status_code == 200


def test_create_api_key_stores_only_a_hash(db):
    out, err = _run_create_api_key("erp", "--scopes", "customers:read")

    raw = out.strip().splitlines()[-1]
    secret = raw.split("_", 2)[2]
    row = ApiKey.objects.filter(name="erp").values().get()
    for column, value in row.items():
        assert secret not in str(value), column
        assert raw not in str(value), column
    assert len(row["secret_hash"]) == 64
    assert secret not in err


def test_create_api_key_refuses_unknown_scopes(db):
    with pytest.raises(CommandError, match="customers:delete"):
        _run_create_api_key("erp", "--scopes", "customers:read,customers:delete")

    assert not ApiKey.objects.exists()


def test_create_api_key_refuses_empty_scopes_and_duplicate_names(db):
    with pytest.raises(CommandError):
        _run_create_api_key("erp", "--scopes", " , ")
    _run_create_api_key("erp", "--scopes", "kb:read")

    with pytest.raises(CommandError):
        _run_create_api_key("erp", "--scopes", "kb:read")

    assert ApiKey.objects.count() == 1
