"""Console inbox and ticket-list API latency with a large ticket table on PostgreSQL.

Loads N tickets (200,000 by default) for 50,000 customers over 10 teams, 6 stores and 40
agents with COPY, starts the production HTTP server (gunicorn, WSGI), logs an agent and a manager in
(sessions written directly) and measures, over HTTP:

- the console inbox ``/console/`` in its views (mine, teams, unassigned, all) and with a
  filter, as HTML pages;
- the partner list ``GET /api/v1/tickets/?page_size=50``.

Target (issue #3): inbox page p95 <= 150 ms. ``--quick`` loads 5,000 tickets.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bench import _harness as harness
from bench.ingest_events import _copy_rows, _setup_django

TARGET_P95_MS = 150.0
TEAMS = 10
STORES = 6
AGENTS = 40


def load(database: harness.ScratchDatabase, tickets: int) -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    from customers.models import Customer
    from omniservice.org.models import Role, StaffProfile, Store, Team
    from tickets.models import Ticket

    rng = random.Random(7)
    customers = max(tickets // 4, 100)
    stores = [Store.objects.create(code=f"st-{i}", name=f"门店 {i}") for i in range(STORES)]
    teams = [Team.objects.create(slug=f"team-{i}", name=f"Team {i}") for i in range(TEAMS)]
    user_model = get_user_model()
    password = make_password("bench-password")
    agents = []
    for i in range(AGENTS):
        user = user_model.objects.create(username=f"agent{i}", password=password, is_staff=True)
        profile = StaffProfile.objects.create(user=user, role=Role.AGENT, display_name=f"Agent {i}")
        profile.teams.set([teams[i % TEAMS]])
        agents.append(user)
    manager = user_model.objects.create(username="manager", password=password, is_staff=True)
    StaffProfile.objects.create(user=manager, role=Role.MANAGER, display_name="Manager")

    now = datetime.now(UTC)
    connection = database.connect()
    with connection, connection.cursor() as cursor:
        _copy_rows(
            cursor,
            Customer,
            (
                {
                    "id": i,
                    "public_id": f"cus_bench{i:011d}",
                    "name": f"客户 {i}",
                    "language": "zh-hans",
                    "timezone": "Asia/Shanghai",
                    "tier": rng.choice(["standard"] * 8 + ["gold", "vip"]),
                    "preferred_channel": "",
                    "contact_hours_start": None,
                    "contact_hours_end": None,
                    "home_store_id": None,
                    "status": "active",
                    "merged_into_id": None,
                    "merged_at": None,
                    "created_at": now.isoformat(),
                    "updated_at": now.isoformat(),
                }
                for i in range(1, customers + 1)
            ),
            chunk=20_000,
        )

        def rows():
            statuses = ["new", "open", "open", "pending", "on_hold"] + ["solved", "closed"] * 5
            channels = ["api", "email", "web_chat", "wechat", "whatsapp", "phone", "store"]
            for i in range(1, tickets + 1):
                updated = now - timedelta(seconds=rng.randint(0, 365 * 86400))
                team = teams[rng.randrange(TEAMS)]
                store = stores[rng.randrange(STORES)] if rng.random() < 0.2 else None
                assignee = agents[rng.randrange(AGENTS)] if rng.random() < 0.7 else None
                channel = rng.choice(channels)
                yield {
                    "id": i,
                    "customer_id": rng.randint(1, customers),
                    "subject": f"订单问题 {i}",
                    "status": rng.choice(statuses),
                    "priority": rng.choice(["low", "normal", "normal", "high", "urgent"]),
                    "origin_channel": channel,
                    "last_channel": channel,
                    "store_id": store.pk if store else None,
                    "team_id": team.pk,
                    "assignee_id": assignee.pk if assignee else None,
                    "created_at": (updated - timedelta(hours=2)).isoformat(),
                    "updated_at": updated.isoformat(),
                    "last_customer_message_at": updated.isoformat(),
                    "last_agent_message_at": None,
                    "first_response_at": None,
                    "next_response_due_at": None,
                    "first_response_due_at": None,
                    "resolution_due_at": None,
                    "sla_breached_at": None,
                    "language": "zh-hans",
                    "solved_at": None,
                    "closed_at": None,
                    "reopen_count": 0,
                    "merged_into_id": None,
                }

        _copy_rows(cursor, Ticket, rows(), chunk=20_000)
        for table in ("customers_customer", "tickets_ticket"):
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    connection.close()
    return {"agent": agents[0], "manager": manager, "customers": customers}


def session_cookie(user: Any) -> str:
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return session.session_key


def measure(client: httpx.Client, path: str, requests: int) -> dict[str, Any]:
    timings, errors = [], 0
    client.get(path)  # warm-up
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(path)
        timings.append(time.perf_counter() - started)
        if response.status_code != 200:
            errors += 1
    return {
        **harness.percentiles_ms(timings),
        "requests": requests,
        "errors": errors,
        "bytes": len(response.content),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5,000 tickets, few requests")
    parser.add_argument("--tickets", type=int, default=None)
    parser.add_argument("--requests", type=int, default=None)
    args = parser.parse_args(argv)
    tickets = args.tickets or (5_000 if args.quick else 200_000)
    requests = args.requests or (20 if args.quick else 200)

    database = harness.ScratchDatabase("omniservice_bench_inbox")
    database.recreate()
    env = harness.app_environment(DATABASE_URL=database.url)
    try:
        harness.manage(["migrate", "--no-input"], env)
        _setup_django(database.url)
        started = time.perf_counter()
        people = load(database, tickets)
        harness.log(
            f"loaded {tickets} tickets for {people['customers']} customers in "
            f"{time.perf_counter() - started:.1f}s"
        )
        key = harness.create_api_key("bench-inbox", ["tickets:read"], 1_000_000, env)
        agent_cookie = session_cookie(people["agent"])
        manager_cookie = session_cookie(people["manager"])
        port = harness.free_port()
        base = f"http://127.0.0.1:{port}"
        with harness.http_server("gunicorn", port, 2, env) as server:
            harness.wait_until_ready(server, base)
            pages: dict[str, Any] = {}
            with httpx.Client(
                base_url=base, cookies={"sessionid": agent_cookie}, timeout=30
            ) as agent:
                for view in ("mine", "teams", "unassigned"):
                    pages[f"agent:{view}"] = measure(agent, f"/console/?view={view}", requests)
                pages["agent:teams+high"] = measure(
                    agent, "/console/?view=teams&priority=high&status=open", requests
                )
            with httpx.Client(
                base_url=base, cookies={"sessionid": manager_cookie}, timeout=30
            ) as manager:
                pages["manager:all"] = measure(manager, "/console/?view=all", requests)
            with httpx.Client(
                base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30
            ) as partner:
                pages["api:tickets"] = measure(partner, "/api/v1/tickets/?page_size=50", requests)
    finally:
        database.drop()

    worst = max(value["p95"] for name, value in pages.items() if not name.startswith("api"))
    errors = sum(value["errors"] for value in pages.values())
    for name, value in pages.items():
        harness.log(
            f"{name:22} p50 {value['p50']:7.1f} ms  p95 {value['p95']:7.1f} ms  "
            f"p99 {value['p99']:7.1f} ms  errors {value['errors']}"
        )
    met = worst <= TARGET_P95_MS and errors == 0
    print(
        json.dumps(
            {
                "bench": "inbox",
                "metrics": {
                    "tickets": tickets,
                    "requests_per_page": requests,
                    "worst_inbox_p95_ms": worst,
                    "errors": errors,
                    "pages": pages,
                },
                "targets": {"inbox_p95_ms": TARGET_P95_MS, "errors": 0},
                "met": met,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
