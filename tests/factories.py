"""factory-boy factories shared by every test module."""

from __future__ import annotations

from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from customers.models import Customer, CustomerEvent, EventKind, Identity, IdentityKind
from omniservice.org.models import Role, StaffProfile, Store, Team
from omniservice.org.services import sync_role_group


class StoreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Store

    code = factory.Sequence(lambda n: f"store-{n}")
    name = factory.Sequence(lambda n: f"门店 {n}")
    name_en = factory.Sequence(lambda n: f"Store {n}")
    city = "上海"
    timezone = "Asia/Shanghai"
    opening_hours = factory.LazyFunction(lambda: {"mon": [["10:00", "22:00"]]})


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team

    slug = factory.Sequence(lambda n: f"team-{n}")
    name = factory.Sequence(lambda n: f"Team {n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    is_staff = True
    password = factory.PostGenerationMethodCall("set_password", "pw-for-tests-only")

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class StaffProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StaffProfile
        skip_postgeneration_save = True

    user = factory.SubFactory(UserFactory)
    role = Role.AGENT
    display_name = factory.Sequence(lambda n: f"Agent {n}")

    @factory.post_generation
    def teams(obj, create, extracted, **kwargs):
        if create and extracted:
            obj.teams.set(extracted)

    @factory.post_generation
    def role_group(obj, create, extracted, **kwargs):
        if create:
            sync_role_group(user=obj.user, role=obj.role)


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    name = factory.Sequence(lambda n: f"Customer {n}")


class IdentityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Identity

    customer = factory.SubFactory(CustomerFactory)
    kind = IdentityKind.EMAIL
    value = factory.Sequence(lambda n: f"person{n}@example.com")


class CustomerEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CustomerEvent

    customer = factory.SubFactory(CustomerFactory)
    kind = EventKind.ORDER
    source = "shop"
    external_id = factory.Sequence(lambda n: f"order-{n}")
    occurred_at = factory.LazyFunction(timezone.now)


class TicketFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "tickets.Ticket"

    customer = factory.SubFactory(CustomerFactory)
    subject = factory.Sequence(lambda n: f"Question {n}")
    status = "new"
    origin_channel = "web_chat"
    last_channel = factory.SelfAttribute("origin_channel")


class MessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "tickets.Message"

    ticket = factory.SubFactory(TicketFactory)
    direction = "inbound"
    channel = factory.SelfAttribute("ticket.last_channel")
    author_kind = "customer"
    body_text = factory.Sequence(lambda n: f"Message {n}")
    delivery_status = "received"


class AutomationRuleFactory(factory.django.DjangoModelFactory):
    """An enabled event rule run on ticket creation; pass conditions and actions."""

    class Meta:
        model = "tickets.AutomationRule"

    name = factory.Sequence(lambda n: f"Rule {n}")
    kind = "event"
    events = factory.LazyFunction(lambda: ["created"])
    match = "all"
    conditions = factory.LazyFunction(list)
    actions = factory.LazyFunction(list)
    position = factory.Sequence(lambda n: n)


class MacroFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "tickets.Macro"

    name = factory.Sequence(lambda n: f"Macro {n}")
    body_zh = "您好 {{customer.name}}，工单 {{ticket.number}} 已处理。{{agent.name}}"
    body_en = "Hello {{customer.name}}, ticket {{ticket.number}} is done. {{agent.name}}"


class AutomationWebhookFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "tickets.AutomationWebhook"

    name = factory.Sequence(lambda n: f"Partner {n}")
    url = "http://127.0.0.1:9/hook"
    secret = "webhook-secret-for-tests"


class SkillFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "org.Skill"
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"skill-{n}")
    name = factory.SelfAttribute("code")


class RoutableAgentFactory(StaffProfileFactory):
    """An online agent ready for routing: ``RoutableAgentFactory(teams=[team], skills=[...])``."""

    presence = "online"
    presence_changed_at = factory.LazyFunction(timezone.now)
    capacity = factory.LazyFunction(lambda: {"chat": 5, "email": 20, "phone": 1})
    languages = factory.LazyFunction(lambda: ["zh-hans", "en"])

    @factory.post_generation
    def skills(obj, create, extracted, **kwargs):
        if create and extracted:
            obj.skills.set(extracted)


class SurveyFactory(factory.django.DjangoModelFactory):
    """A CSAT survey of a solved ticket, sent now, answerable for 14 days."""

    class Meta:
        model = "tickets.Survey"

    kind = "csat"
    ticket = factory.SubFactory(TicketFactory, status="solved")
    customer = factory.SelfAttribute("ticket.customer")
    channel = "api"
    language = "zh-hans"
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=14))
