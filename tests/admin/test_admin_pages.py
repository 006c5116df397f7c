import pytest
from django.urls import reverse

from customers.models import CustomerStatus, MergeSuggestion, SuggestionStatus
from tests.factories import CustomerEventFactory, CustomerFactory, IdentityFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def suggestion():
    older, newer = CustomerFactory(name="王芳"), CustomerFactory(name="王芳")
    return MergeSuggestion.objects.create(
        customer_a=older, customer_b=newer, evidence=["wechat_openid"]
    )


def test_manager_merges_a_suggested_pair_from_the_admin(client, personas, suggestion):
    client.force_login(personas.manager.user)
    url = reverse("admin:customers_mergesuggestion_changelist")
    response = client.post(url, {"action": "merge_pairs", "_selected_action": [suggestion.pk]})
    assert response.status_code == 302
    suggestion.refresh_from_db()
    suggestion.customer_b.refresh_from_db()
    assert suggestion.status == SuggestionStatus.MERGED
    assert suggestion.customer_b.status == CustomerStatus.MERGED
    assert suggestion.customer_b.merged_into_id == suggestion.customer_a_id


def test_agent_cannot_merge_from_the_admin(client, personas, suggestion):
    client.force_login(personas.agent.user)
    url = reverse("admin:customers_mergesuggestion_changelist")
    response = client.post(url, {"action": "merge_pairs", "_selected_action": [suggestion.pk]})
    assert response.status_code == 403
    suggestion.refresh_from_db()
    assert suggestion.status == SuggestionStatus.OPEN


def test_superuser_dismisses_a_suggestion(admin_client, suggestion):
    url = reverse("admin:customers_mergesuggestion_changelist")
    admin_client.post(url, {"action": "dismiss_pairs", "_selected_action": [suggestion.pk]})
    suggestion.refresh_from_db()
    assert suggestion.status == SuggestionStatus.DISMISSED
    assert suggestion.resolved_by == "user:admin"


def test_customer_admin_pages_render_with_customer_text_escaped(admin_client):
    customer = CustomerFactory(name="<script>alert(1)</script>")
    IdentityFactory(customer=customer)
    CustomerEventFactory(customer=customer)
    changelist = admin_client.get(reverse("admin:customers_customer_changelist"))
    change = admin_client.get(reverse("admin:customers_customer_change", args=[customer.pk]))
    events = admin_client.get(reverse("admin:customers_customerevent_changelist"))
    for response in (changelist, change, events):
        assert response.status_code == 200
        assert b"<script>alert(1)</script>" not in response.content
    assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in changelist.content


@pytest.mark.parametrize(
    "name",
    [
        "org_store",
        "org_team",
        "org_staffprofile",
        "api_apikey",
        "outbox_outboxmessage",
        "customers_customermerge",
    ],
)
def test_admin_changelists_render(admin_client, personas, name):
    response = admin_client.get(reverse(f"admin:{name}_changelist"))
    assert response.status_code == 200


def test_identity_typed_in_the_admin_is_normalised_or_refused():
    from customers.admin import IdentityForm

    form = IdentityForm(
        data={"kind": "phone", "value": "138 0013 8000", "verified": True, "source": "admin"}
    )
    assert form.is_valid(), form.errors
    assert form.cleaned_data["value"] == "+8613800138000"
    bad = IdentityForm(data={"kind": "phone", "value": "12345", "source": "admin"})
    assert not bad.is_valid()
    assert "value" in bad.errors
