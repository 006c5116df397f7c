"""Routing: every waiting ticket reaches an eligible agent, under row locks, with a reason.

- ``rules``: capacity kinds, eligibility, strategies (pure, no database);
- ``queue``: which tickets wait, in which team and order (team resolution, store first);
- ``engine``: the batch that claims a team's queue and assigns (SKIP LOCKED);
- ``services``: assignment and transfer by hand, re-queue on offline, store overflow;
- ``triggers``: receivers and Celery tasks (ticket changes, presence, the sweep);
- ``selectors``: the decisions of a ticket, its queue position and transfer targets (console).
"""
