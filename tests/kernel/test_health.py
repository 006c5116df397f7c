import pytest
from django.test import override_settings


@pytest.mark.django_db
def test_healthz_answers_without_touching_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_checks_the_database(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"]["database"] == "ok"


@pytest.mark.django_db
@override_settings(REDIS_URL="redis://127.0.0.1:1/0")
def test_readyz_is_unavailable_when_redis_is_unreachable(client):
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "checks": {"database": "ok", "redis": "unreachable"},
    }


@pytest.mark.redis
@pytest.mark.django_db
def test_readyz_reports_redis_when_configured(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"]["redis"] == "ok"


@pytest.mark.django_db
def test_home_page_is_served_in_both_languages(client):
    zh = client.get("/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    en = client.get("/", HTTP_ACCEPT_LANGUAGE="en")
    assert zh.status_code == en.status_code == 200
    assert 'lang="zh-hans"' in zh.content.decode()
    assert 'lang="en"' in en.content.decode()
    assert "Partner API" in en.content.decode()
