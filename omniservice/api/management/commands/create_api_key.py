from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from omniservice.api.keys import create_api_key
from omniservice.api.models import SCOPES


class Command(BaseCommand):
    help = "Create an API key for a partner system. The key is printed as the last line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="a unique name, e.g. the partner system")
        parser.add_argument(
            "--scopes",
            required=True,
            help=f"comma-separated scopes among: {', '.join(SCOPES)} (or * for all)",
        )
        parser.add_argument(
            "--rate",
            type=int,
            default=None,
            help="requests per minute (default: API_RATE_PER_MINUTE)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        scopes = [s.strip() for s in options["scopes"].split(",") if s.strip()]
        if not scopes:
            raise CommandError("--scopes needs at least one scope")
        try:
            key, raw = create_api_key(
                name=options["name"], scopes=scopes, rate_per_minute=options["rate"]
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stderr.write(f"Created API key {key.name!r} with scopes {', '.join(key.scopes)}.")
        self.stderr.write("Store it now: it cannot be shown again.")
        self.stdout.write(raw)
