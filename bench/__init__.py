"""Benchmarks of the hot paths, one script each: ``python -m bench.<name> [--quick]``.

Each script sets up what it needs (a dedicated ``omniservice_bench*`` PostgreSQL
database, the data volume, the production ASGI server), stops what it started, and
prints one JSON object as its last line: ``{"bench", "metrics", "targets", "met"}``.
"""
