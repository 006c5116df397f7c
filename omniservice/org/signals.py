"""Signals of the organisation, for the apps above the kernel (which org may not import).

``presence_changed`` is sent by :func:`omniservice.org.services.set_presence` after a staff
member's presence was saved (only when it really changed). Arguments: ``profile`` (the
:class:`~omniservice.org.models.StaffProfile`), ``presence`` (the new value) and
``previous`` (the value before). ``tickets.routing`` listens to it: an agent coming online
gets waiting work, an agent going offline has unanswered chats re-queued. Receivers must
schedule their work with ``transaction.on_commit``.
"""

from django.dispatch import Signal

presence_changed = Signal()
