"""SLA: business-hours calendars, policies, each ticket's clock, warnings and breaches.

- :mod:`tickets.sla.calendar`: pure business-time arithmetic on a ``Schedule``;
- :mod:`tickets.sla.policies`: which policy and which schedule apply to a ticket;
- :mod:`tickets.sla.clock`: the ``ticket_changed`` receiver keeping the due times;
- :mod:`tickets.sla.receivers`: the clock following a customer's tier and a store's hours;
- :mod:`tickets.sla.jobs`: the periodic job (warnings, breaches, escalation);
- :mod:`tickets.sla.admin`: how managers edit calendars, holidays and policies.

The data lives in :mod:`tickets.models.sla`.
"""
