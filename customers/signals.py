"""Signals the customers layer sends upward (the layer rule forbids importing higher apps).

``customer_merged(sender=Customer, source_id, target_id)`` is sent INSIDE the merge
transaction, after identities and events moved. Receivers in higher apps (tickets,
analytics, ...) move the rows they own from source to target with plain UPDATEs; they
must not do network I/O (use the outbox). An exception aborts the whole merge.
"""

from django.dispatch import Signal

customer_merged = Signal()
