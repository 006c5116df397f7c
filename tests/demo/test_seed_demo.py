from datetime import timedelta
from io import StringIO

import phonenumbers
import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Q
from django.utils import timezone

from customers.identity import normalize_value
from customers.models import (
    Consent,
    ConsentLog,
    Customer,
    CustomerEvent,
    CustomerStatus,
    EventKind,
    Identity,
    IdentityKind,
    ValueTier,
)
from customers.services import merge_customers
from demo.people import CustomerGenerator
from demo.reference_data import DEMO_PASSWORD, STAFF, STORES
from demo.seeding import DEFAULT_SEED, seed_demo
from omniservice.org.models import Role, StaffProfile, Store, Team
from tests.factories import CustomerFactory, IdentityFactory, StoreFactory, UserFactory

pytestmark = pytest.mark.django_db

CITIES = {"上海", "北京", "深圳", "广州", "成都", "杭州"}


def run_seed(*args: str, customers: int = 50) -> str:
    out = StringIO()
    call_command("seed_demo", f"--customers={customers}", *args, stdout=out, stderr=out)
    return out.getvalue()


@pytest.fixture
def seeded() -> str:
    return run_seed()


def table_counts() -> dict[str, int]:
    models = (Store, Team, StaffProfile, Customer, Identity, CustomerEvent, Consent, ConsentLog)
    return {model.__name__: model.objects.count() for model in models}


def test_seed_creates_a_store_in_each_of_six_cities_with_opening_hours(seeded):
    stores = list(Store.objects.all())
    assert {store.city for store in stores} == CITIES
    assert {store.code for store in stores} == {spec.code for spec in STORES}
    for store in stores:
        store.full_clean()
        assert store.name and store.name_en and store.address
        assert store.timezone == "Asia/Shanghai"
        assert set(store.opening_hours) == {"mon", "tue", "wed", "thu", "fri", "sat", "sun"}


def test_seed_creates_staff_in_every_role_and_store_staff_in_every_store(seeded):
    roles = dict(StaffProfile.objects.values_list("user__username", "role"))
    assert roles["admin"] == Role.ADMIN
    assert roles["manager"] == Role.MANAGER
    assert sum(role == Role.AGENT for role in roles.values()) >= 6
    clerks = StaffProfile.objects.filter(role=Role.STORE_STAFF)
    assert set(clerks.values_list("home_store__code", flat=True)) == {s.code for s in STORES}
    assert get_user_model().objects.get(username="admin").is_superuser
    languages = {lang for p in StaffProfile.objects.all() for lang in p.languages}
    assert languages == {"zh-hans", "en"}
    agents = StaffProfile.objects.filter(role=Role.AGENT)
    assert all(a.teams.exists() and a.skills.exists() for a in agents)


def test_seed_creates_contact_centre_teams_and_one_team_per_store(seeded):
    slugs = set(Team.objects.values_list("slug", flat=True))
    assert {"online-support", "vip-care", "returns-repairs"} <= slugs
    assert Team.objects.filter(store__isnull=False).count() == len(STORES)
    assert not Team.objects.filter(lead__isnull=True).exists()


@pytest.mark.parametrize("username", ["admin", "manager", "agent1", "sh-staff1"])
def test_demo_login_works_with_the_published_password(seeded, client, username):
    assert client.login(username=username, password="omniservice-demo")


def test_every_demo_account_shares_the_one_demo_password(seeded):
    users = get_user_model().objects.filter(username__in=[s.username for s in STAFF])
    assert users.count() == len(STAFF)
    assert len(set(users.values_list("password", flat=True))) == 1
    assert users.first().check_password(DEMO_PASSWORD)


def test_seed_prints_the_demo_logins(seeded):
    assert "omniservice-demo" in seeded
    for spec in STAFF:
        assert spec.username in seeded


def test_seed_creates_the_requested_number_of_customers_with_chinese_and_english_names(seeded):
    customers = list(Customer.objects.all())
    assert len(customers) == 50
    chinese = [c for c in customers if c.language == "zh-hans"]
    english = [c for c in customers if c.language == "en"]
    assert chinese and english
    assert all("\u4e00" <= c.name[0] <= "\u9fff" for c in chinese)
    assert all(c.name.isascii() and " " in c.name for c in english)
    assert {c.tier for c in customers} >= {ValueTier.STANDARD, ValueTier.SILVER}
    assert all(c.status == CustomerStatus.ACTIVE for c in customers)


def test_every_customer_has_an_identity_and_consents_come_with_a_log(seeded):
    assert not Customer.objects.filter(identities__isnull=True).exists()
    assert Consent.objects.count() == ConsentLog.objects.count() > 0


def test_every_identity_is_stored_normalised_and_phones_are_valid_e164(seeded):
    identities = list(Identity.objects.values_list("kind", "value"))
    assert {kind for kind, _value in identities} >= {
        IdentityKind.PHONE,
        IdentityKind.EMAIL,
        IdentityKind.MEMBER_NO,
        IdentityKind.WECHAT_OPENID,
    }
    for kind, value in identities:
        assert normalize_value(kind, value) == value
        if kind == IdentityKind.PHONE:
            assert value.startswith("+")
            assert phonenumbers.is_valid_number(phonenumbers.parse(value))


def test_demo_emails_use_reserved_example_domains(seeded):
    emails = Identity.objects.filter(kind=IdentityKind.EMAIL).values_list("value", flat=True)
    assert {email.rsplit("@", 1)[1] for email in emails} <= {
        "example.com",
        "example.net",
        "example.org",
    }


def test_events_reference_existing_stores_and_amounts_are_in_cny(seeded):
    store_ids = set(Store.objects.values_list("id", flat=True))
    events = CustomerEvent.objects.all()
    assert {e.kind for e in events} == set(EventKind.values)
    for event in events:
        assert event.store_id is None or event.store_id in store_ids
        assert (event.amount is None) == (event.currency == "")
        assert event.currency in ("", "CNY")
    visits = events.filter(kind=EventKind.STORE_VISIT)
    assert visits.exists() and not visits.filter(store__isnull=True).exists()
    ratings = [e.data["rating"] for e in events.filter(kind=EventKind.FEEDBACK)]
    assert ratings and all(1 <= r <= 5 for r in ratings)
    statuses = events.filter(kind=EventKind.ORDER_STATUS)
    assert all(e.data["status"] for e in statuses)


def test_events_lie_within_the_last_year_and_never_in_the_future(seeded):
    now = timezone.now()
    events = CustomerEvent.objects.all()
    assert events.count() > 50 * 5
    assert not events.filter(occurred_at__gt=now).exists()
    assert not events.filter(occurred_at__lt=now - timedelta(days=366)).exists()


def test_customers_are_as_old_as_their_history(seeded):
    for customer in Customer.objects.prefetch_related("events"):
        assert all(e.occurred_at >= customer.created_at for e in customer.events.all())


def test_look_alike_customers_share_a_name_and_store_but_no_identity():
    now = timezone.now()
    seed_demo(customers=50, seed=DEFAULT_SEED, now=now)
    plans = list(CustomerGenerator(seed=DEFAULT_SEED, now=now).generate(50))
    twins = [plan for plan in plans if plan.twin_of]
    assert twins
    for twin in twins:
        pair = Customer.objects.filter(public_id__in=[twin.public_id, twin.twin_of])
        assert pair.count() == 2
        assert len({(c.name, c.home_store_id) for c in pair}) == 1
        a, b = ({(i.kind, i.value) for i in c.identities.all()} for c in pair)
        assert a and b and not a & b


def test_second_run_adds_nothing(seeded):
    before = table_counts()
    output = run_seed()
    assert "already present" in output
    assert table_counts() == before


def test_same_seed_gives_the_same_customers():
    now = timezone.now()
    first = list(CustomerGenerator(seed=DEFAULT_SEED, now=now).generate(30))
    second = list(CustomerGenerator(seed=DEFAULT_SEED, now=now).generate(30))
    assert first == second
    other = list(CustomerGenerator(seed=DEFAULT_SEED + 1, now=now).generate(30))
    assert [c.name for c in other] != [c.name for c in first]


def test_seed_is_skipped_when_demo_usernames_belong_to_someone_else():
    UserFactory(username="admin", email="root@shop.example")
    output = run_seed()
    assert "Not seeding" in output and "user admin" in output
    assert not Store.objects.exists()
    assert not Customer.objects.exists()


def test_identity_owned_by_another_customer_is_left_out_not_taken():
    now = timezone.now()
    plan = next(CustomerGenerator(seed=7, now=now).generate(1))
    claimed = plan.identities[0]
    other = IdentityFactory(kind=claimed.kind, value=claimed.value).customer
    report = seed_demo(customers=5, seed=7, now=now)
    assert report.skipped_identities == 1
    assert Identity.objects.get(kind=claimed.kind, value=claimed.value).customer == other


def test_reset_without_confirmation_is_cancelled(seeded, monkeypatch):
    monkeypatch.setattr("builtins.input", lambda _prompt: "no")
    with pytest.raises(CommandError, match="cancelled"):
        run_seed("--reset")
    assert Customer.objects.count() == 50


def test_reset_with_no_input_recreates_the_demo_data_once(seeded):
    output = run_seed("--reset", "--no-input", customers=30)
    assert "Deleted the demo data" in output
    assert Customer.objects.count() == 30
    assert Store.objects.count() == len(STORES)
    assert StaffProfile.objects.count() == len(STAFF)


def test_reset_keeps_what_seed_demo_did_not_create(seeded):
    UserFactory(username="someone", email="someone@shop.example")
    foreign_store = StoreFactory(code="wh-001")
    foreign_customer = IdentityFactory(value="real.person@shop.example").customer
    run_seed("--reset", "--no-input", customers=10)
    assert get_user_model().objects.filter(username="someone").exists()
    assert Store.objects.filter(pk=foreign_store.pk).exists()
    assert Customer.objects.filter(pk=foreign_customer.pk).exists()
    assert Customer.objects.exclude(pk=foreign_customer.pk).count() == 10


def test_reset_also_removes_customers_merged_into_demo_customers(seeded):
    demo_a, demo_b = Customer.objects.order_by("pk")[:2]
    stranger = CustomerFactory(name="Walk-in")
    merge_customers(source_id=demo_b.pk, target_id=demo_a.pk, actor="test", reason="same person")
    merge_customers(source_id=stranger.pk, target_id=demo_a.pk, actor="test", reason="same")
    run_seed("--reset", "--no-input", customers=5)
    assert not Customer.objects.filter(pk__in=[demo_a.pk, demo_b.pk, stranger.pk]).exists()
    assert Customer.objects.count() == 5


def test_reset_refuses_when_other_data_protects_a_demo_store(seeded):
    Team.objects.create(slug="pop-up", name="Pop-up", store=Store.objects.get(code="sh-001"))
    with pytest.raises(CommandError, match="protected"):
        run_seed("--reset", "--no-input")
    assert Customer.objects.count() == 50


def test_negative_customer_count_is_refused():
    with pytest.raises(CommandError):
        run_seed(customers=-1)


def test_command_help_documents_the_reset_and_its_confirmation(capsys):
    with pytest.raises(SystemExit):
        call_command("seed_demo", "--help")
    text = capsys.readouterr().out
    assert "--reset" in text and "--no-input" in text and "omniservice-demo" in text


def test_every_demo_customer_has_a_demo_public_id(seeded):
    assert not Customer.objects.filter(~Q(public_id__startswith="cus_d3m0")).exists()


def test_demo_conversations_can_be_answered_on_the_channel_they_came_in_on(seeded):
    from tickets.models import Ticket

    own_kind = {
        "whatsapp": IdentityKind.WHATSAPP_ID,
        "wechat": IdentityKind.WECHAT_OPENID,
        "email": IdentityKind.EMAIL,
        "web_chat": IdentityKind.WEB_VISITOR_ID,
    }
    tickets = Ticket.objects.filter(origin_channel__in=own_kind).select_related("customer")
    assert tickets.exists()
    for ticket in tickets:
        kinds = set(ticket.customer.identities.values_list("kind", flat=True))
        assert own_kind[ticket.origin_channel] in kinds, ticket.origin_channel
