"""Websocket routes. The store tablet consumer will join here.

``customer_websocket_urlpatterns`` are the sockets of customers on other sites: they
check the origin against their connection's allow-list and use no session, so
``omniservice.asgi`` routes them around the console's host check and session auth.
"""

from django.urls import path

from channels_hub.consumers import ConsoleConsumer
from channels_hub.webchat_consumer import WebChatConsumer

websocket_urlpatterns = [
    path("ws/console/", ConsoleConsumer.as_asgi()),
]

customer_websocket_urlpatterns = [
    path("ws/chat/", WebChatConsumer.as_asgi()),
]
