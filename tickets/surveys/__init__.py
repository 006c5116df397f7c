"""Satisfaction: CSAT surveys when a ticket is solved, NPS surveys per customer.

``services`` (shared parts, CSAT, answers, bad-score policy), ``nps`` (the periodic NPS
selection and delivery), ``tasks`` (Celery), ``views`` + ``urls`` (the public survey page,
mounted at ``/survey/``), ``api`` (partner API), ``admin``. Models: ``tickets.models.surveys``.
"""
