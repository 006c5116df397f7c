from django.urls import path

from channels_hub import webchat_views

app_name = "webchat"
urlpatterns = [
    path("<str:name>", webchat_views.widget_asset, name="asset"),
    path("api/<str:key>/session", webchat_views.session, name="session"),
    path("api/<str:key>/messages", webchat_views.messages, name="messages"),
    path("api/<str:key>/offline", webchat_views.offline, name="offline"),
    path(
        "api/<str:key>/attachments/<int:attachment_id>",
        webchat_views.attachment,
        name="attachment",
    ),
]
