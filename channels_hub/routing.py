"""Websocket routes. The console, store tablet and customer chat consumers join here."""

from django.urls import URLPattern

websocket_urlpatterns: list[URLPattern] = []
