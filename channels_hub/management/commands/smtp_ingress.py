"""Run the inbound SMTP listener until interrupted (SIGINT / SIGTERM)."""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from channels_hub.email_smtpd import ingress_controller


class Command(BaseCommand):
    help = "Receive the brands' email over SMTP (SMTP_INGRESS_HOST / SMTP_INGRESS_PORT)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=None, help="default: SMTP_INGRESS_HOST")
        parser.add_argument("--port", type=int, default=None, help="default: SMTP_INGRESS_PORT")

    def handle(self, *args: Any, **options: Any) -> None:
        host = options["host"] or settings.SMTP_INGRESS_HOST
        port = options["port"] if options["port"] is not None else settings.SMTP_INGRESS_PORT
        controller = ingress_controller(host=host, port=port)
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_args: stop.set())
        controller.start()
        self.stdout.write(
            f"smtp_ingress listening on {host}:{port} "
            f"(max {settings.SMTP_INGRESS_MAX_BYTES} bytes per message)"
        )
        try:
            stop.wait()
        finally:
            controller.stop()
            self.stdout.write("smtp_ingress stopped")
