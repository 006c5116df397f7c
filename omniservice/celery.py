"""The Celery app. Without REDIS_URL tasks run in-process (eager), so no broker is needed."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omniservice.settings")

app = Celery("omniservice")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
