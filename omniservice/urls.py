"""The composition root: the only module (with settings) that knows every app."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from channels_hub.api import TicketReplyView
from customers.api import CustomerViewSet, EventBatchView
from omniservice import health, views
from omniservice.org.api import StoreListView
from tickets.api import InboundMessageView, TicketViewSet
from tickets.surveys.api import TicketSatisfactionView

router = SimpleRouter(trailing_slash=True)
router.register("customers", CustomerViewSet, basename="customer")
router.register("tickets", TicketViewSet, basename="ticket")

api_v1 = [
    path("", include(router.urls)),
    path("events/", EventBatchView.as_view(), name="event-batch"),
    path("stores/", StoreListView.as_view(), name="store-list"),
    path("messages/", InboundMessageView.as_view(), name="inbound-message"),
    path("tickets/<int:number>/replies/", TicketReplyView.as_view(), name="ticket-replies"),
    path(
        "tickets/<int:number>/satisfaction/",
        TicketSatisfactionView.as_view(),
        name="ticket-satisfaction",
    ),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("console/calls/", include("channels_hub.phone_urls")),
    path("console/store/", include("channels_hub.store_urls")),
    path("console/channels/", include("channels_hub.urls_console")),
    path("console/", include("tickets.urls")),
    path("survey/", include("tickets.surveys.urls")),
    path("hooks/", include("channels_hub.urls")),
    path("chat/", include("channels_hub.webchat_urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/v1/", include((api_v1, "api"), namespace="v1")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
]

handler404 = "omniservice.views.not_found"
handler500 = "omniservice.views.server_error"
