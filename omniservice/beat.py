"""The beat scheduler: periodic tasks live in the database, editable in the admin.

django-celery-beat's ``DatabaseScheduler`` copies ``CELERY_BEAT_SCHEDULE`` into its
``PeriodicTask`` table with ``update_or_create`` on every beat start, so an interval a
manager changed (or a task they disabled and re-enabled) in the admin silently reverts
to the code's value at the next deploy. Here the settings only *seed* the table: an
entry missing from the database is created from the settings, an existing one is left
as the admin set it. The database is the truth once a task exists; delete its row to
get the code's default back.
"""

from __future__ import annotations

from typing import Any

from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler, ModelEntry


class SeededEntry(ModelEntry):
    @classmethod
    def from_entry(cls, name: str, app: Any = None, **entry: Any) -> SeededEntry:
        existing = PeriodicTask._default_manager.filter(name=name).first()
        if existing is not None:
            return cls(existing, app=app)
        return super().from_entry(name, app=app, **entry)


class SeededDatabaseScheduler(DatabaseScheduler):
    Entry = SeededEntry


def seed_periodic_tasks(schedule: dict[str, dict[str, Any]]) -> list[str]:
    """Create the missing database rows of ``schedule``; the names created."""
    created = []
    for name, fields in schedule.items():
        if not PeriodicTask._default_manager.filter(name=name).exists():
            SeededEntry.from_entry(name, **fields)
            created.append(name)
    return created
