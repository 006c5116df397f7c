"""The OpenAPI document and the interactive docs, served without any CDN."""

from __future__ import annotations

import re

import pytest
from django.contrib.staticfiles import finders

pytestmark = pytest.mark.django_db

ASSET_PATTERN = re.compile(
    r"<(?:script|link)\b[^>]*?\b(?:src|href)\s*=\s*[\"']([^\"']+)[\"']", re.I
)


@pytest.fixture
def schema(client) -> dict:
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi+json")
    return response.json()


def test_schema_is_an_openapi_3_document(schema):
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"]


def test_schema_is_served_as_yaml_by_default(client, db):
    response = client.get("/api/schema/")

    assert response.status_code == 200
    assert response.content.startswith(b"openapi: 3.")


def test_schema_names_the_customers_events_and_stores_paths(schema):
    paths = schema["paths"]

    assert set(paths["/api/v1/customers/"]) == {"get", "post"}
    assert set(paths["/api/v1/customers/{id}/"]) == {"get", "patch"}
    assert set(paths["/api/v1/customers/{id}/merge/"]) == {"post"}
    assert set(paths["/api/v1/customers/{id}/timeline/"]) == {"get"}
    assert set(paths["/api/v1/customers/lookup/"]) == {"get"}
    assert set(paths["/api/v1/events/"]) == {"post"}
    assert set(paths["/api/v1/stores/"]) == {"get"}


def _parameters(operation: dict) -> set[str]:
    return {parameter["name"] for parameter in operation.get("parameters", [])}


def test_schema_documents_the_list_filters_and_lookup_identifiers(schema):
    customers = schema["paths"]["/api/v1/customers/"]["get"]
    lookup = schema["paths"]["/api/v1/customers/lookup/"]["get"]
    timeline = schema["paths"]["/api/v1/customers/{id}/timeline/"]["get"]

    assert _parameters(customers) >= {
        "cursor",
        "page_size",
        "ordering",
        "updated_since",
        "tier",
        "tag",
        "store",
        "status",
    }
    assert _parameters(lookup) >= {"phone", "email", "member_no", "wechat_openid"}
    assert _parameters(timeline) == {"id", "cursor", "page_size"}


def test_schema_documents_the_bearer_api_key(schema):
    schemes = schema["components"]["securitySchemes"]

    bearer = [s for s in schemes.values() if s.get("scheme") == "bearer"]
    assert bearer
    assert bearer[0]["type"] == "http"


def test_docs_page_uses_only_local_static_assets(client, db):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assets = ASSET_PATTERN.findall(html)
    assert any(asset.endswith(".js") for asset in assets), assets
    assert any(asset.endswith(".css") for asset in assets), assets
    for asset in assets:
        assert not re.match(r"^(?:[a-z]+:)?//", asset, re.I), asset
        assert asset.startswith("/static/"), asset
        assert finders.find(asset.removeprefix("/static/")), asset
    assert "cdn." not in html.lower()
    assert "/api/schema/" in html


def test_redoc_page_uses_only_local_static_assets(client, db):
    response = client.get("/api/redoc/")

    assert response.status_code == 200
    assets = ASSET_PATTERN.findall(response.content.decode())
    assert assets
    for asset in assets:
        assert asset.startswith("/static/"), asset
