"""Websocket routes. The store tablet and customer chat consumers will join here."""

from django.urls import path

from channels_hub.consumers import ConsoleConsumer

websocket_urlpatterns = [
    path("ws/console/", ConsoleConsumer.as_asgi()),
]
