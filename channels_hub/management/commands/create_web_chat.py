"""Create a web chat connection and print the tag to paste into the site's pages."""

from __future__ import annotations

import secrets
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from channels_hub.models import ChannelConnection
from tickets.models import Channel


class Command(BaseCommand):
    help = "Create a web chat connection (widget key, allowed origins, identity secret)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument(
            "--origin",
            action="append",
            default=[],
            help="a site allowed to embed the chat, e.g. https://shop.example.com (repeatable)",
        )
        parser.add_argument("--title", default="", help="the chat window's title")
        parser.add_argument(
            "--base-url", default="http://127.0.0.1:8000", help="where omniservice is served"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        origins = [o.rstrip("/") for o in options["origin"]]
        if any(not o.startswith(("https://", "http://")) for o in origins):
            raise CommandError("--origin must be like https://shop.example.com")
        secret = secrets.token_hex(32)
        connection = ChannelConnection(
            channel=Channel.WEB_CHAT,
            name=options["name"],
            settings={"allowed_origins": origins, "title": options["title"]},
        )
        connection.set_secrets({"identity_secret": secret})
        connection.save()
        base = options["base_url"].rstrip("/")
        self.stdout.write(f"identity secret (keep it on your server): {secret}")
        self.stdout.write(
            f'<script src="{base}/chat/widget.js" data-key="{connection.webhook_key}" async>'
            "</script>"
        )
