from django.urls import path

from channels_hub.webhooks import channel_webhook

app_name = "channels_hub"
urlpatterns = [
    path("<slug:channel>/<str:key>/", channel_webhook, name="webhook"),
]
