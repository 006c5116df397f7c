"""Signals of the tickets app, for the parts of tickets that react to a change.

``ticket_changed`` is sent inside the transaction that made the change, after the ticket
row is saved, so a receiver may update the same ticket (SLA due times) or schedule work
with ``transaction.on_commit`` (routing, automation, surveys). Arguments:

- ``ticket``: the saved :class:`tickets.models.Ticket`.
- ``event``: ``"created"``, ``"updated"`` or ``"message_added"``.
- ``changed``: the names of the fields that changed (empty for ``message_added``).
- ``message``: the new :class:`tickets.models.Message` for ``message_added``, else None.
- ``message_follows``: on ``created``, True when a ``message_added`` for the ticket's first
  message follows in the same transaction (receivers that react to both may wait for it).
"""

from django.dispatch import Signal

ticket_changed = Signal()
