"""Automation rules: conditions on a ticket, its customer and the message of an event,
actions through ``tickets.services``, run by Celery on ticket events and on a schedule.

- ``conditions``: the fields a rule can test, evaluation and the time rules' prefilter;
- ``actions``: what a rule can do (set fields, tags, note, macro reply, notify, webhook);
- ``engine``: ordering, stop, logging, loop protection, once-per-period time rules;
- ``rules``: the write side of rule management (validation, order, enable/disable);
- ``receivers`` / ``tasks``: the ``ticket_changed`` receiver and the Celery tasks.

Partner webhooks are delivered by the outbox topic ``automation.webhook``, whose handler
lives in ``channels_hub.automation_webhooks`` (the edge layer does the HTTP).
"""
