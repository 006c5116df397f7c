from django.urls import path

from channels_hub.phone_views import phone_webhook
from channels_hub.webhooks import channel_webhook

app_name = "channels_hub"
urlpatterns = [
    path("phone/<str:key>/", phone_webhook, name="phone-webhook"),
    path("<slug:channel>/<str:key>/", channel_webhook, name="webhook"),
]
