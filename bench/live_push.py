"""Live push to the agent console: inbound API messages -> every entitled websocket.

    python -m bench.live_push                    # 300 sockets, 100 msg/s for 60 s, both servers
    python -m bench.live_push --quick            # 30 sockets, 20 msg/s for 5 s (smoke run)
    python -m bench.live_push --server uvicorn   # only one server
    python -m bench.live_push --channel-layer pubsub   # channels_redis' pub/sub layer

Sets everything up itself: a scratch PostgreSQL database ``omniservice_bench_live``
(dropped and recreated, dropped again at the end), migrations, a Redis database of its
own on the local Redis (db 9, flushed before each server), stores, teams and staff
(agents, a few in two teams; store staff; managers), a session per staff member made with
``django.contrib.sessions``, customers that each have an open ticket of a known team (some
with a store, some assigned, a few to an agent of another team), and an API key with
``tickets:write``.

Per server (uvicorn ``--workers 2``, the production server; daphne, which has no workers
option, as two processes on two ports, sockets and POSTs split evenly between them): one
client process opens every console socket (``Cookie: sessionid=...``, ``Origin``), POSTs
``/api/v1/messages/`` open-loop at the given rate, and timestamps with one monotonic clock
each POST's response and each event frame a socket receives. Afterwards, per (message,
entitled socket): delay = receipt of ``message.added`` - POST response (negative when the
push beat the response); lost = entitled receipts missing ``--grace`` seconds after the
last response (``ticket.updated`` counted per socket and ticket too); duplicated = an event
id (or a message id) twice on one socket; wrong receivers = sockets that got an event of a
ticket their user may not see (rules applied to the set-up tables, independently of the
group mechanism). The last line of output is the JSON summary of the bench conventions.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import ClientConnection

from bench import _harness as harness
from bench import _live as live
from bench._harness import log
from bench.ingest_events import _setup_django

BENCH = "live_push"
TARGETS = {"p99_ms": 100, "lost": 0, "duplicated": 0, "wrong_receivers": 0}
# The offered rate must be sustained: a server that falls behind has a POST queue that the
# push delay (counted from each POST's response) would not show.
RATE_SUSTAINED = 0.97
PRODUCTION_SERVER = "uvicorn"
SERVERS = ("uvicorn", "daphne")
# HTTP connections per server port: bounds the requests in flight (each one a thread and a
# PostgreSQL connection under ASGI); later POSTs wait in the client and their time counts.
POST_CONNECTIONS = 25
TICKET_EVENTS = frozenset({"ticket.created", "ticket.updated", "message.added"})


@dataclass
class Config:
    sockets: int
    rate: float
    duration: float
    warmup_s: float
    grace_s: float
    teams: int
    stores: int
    tickets: int
    workers: int
    post_server: str
    servers: list[str]
    redis_url: str
    compression: bool
    post_new_connections: bool
    channel_layer: str
    seed: int
    database: str
    keep_db: bool
    quick: bool


def parse_args(argv: list[str]) -> Config:
    parser = argparse.ArgumentParser(
        prog="python -m bench.live_push",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--server", choices=[*SERVERS, "both"], default="both")
    parser.add_argument("--sockets", type=int, help="console sockets (default 300)")
    parser.add_argument("--rate", type=float, help="inbound messages per second (default 100)")
    parser.add_argument("--duration", type=float, help="seconds of load (default 60)")
    parser.add_argument("--grace", type=float, default=5.0, help="seconds to wait for stragglers")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument(
        "--post-server",
        choices=["gunicorn", "same"],
        default="gunicorn",
        help="where the POSTs go: gunicorn (threaded WSGI, the production HTTP server, "
        "as in docker-compose) or the websocket server itself",
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/9", help="flushed!")
    parser.add_argument(
        "--no-compression", action="store_true", help="do not offer permessage-deflate"
    )
    parser.add_argument(
        "--post-new-connections",
        action="store_true",
        help="a new TCP connection per POST (as from many partner systems) instead of "
        "keep-alive: uvicorn's workers then share the POSTs (keep-alive connections stay "
        "with the worker that accepted them)",
    )
    parser.add_argument(
        "--channel-layer",
        choices=["configured", "core", "pubsub"],
        default="configured",
        help="the app's configured Redis layer, or force channels_redis core / pubsub "
        "(through bench/_live_settings.py) to compare them",
    )
    parser.add_argument("--seed", type=int, default=20240607)
    parser.add_argument("--database", default="omniservice_bench_live")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args(argv)
    if not args.database.startswith("omniservice_bench_live"):
        parser.error("--database must start with omniservice_bench_live")
    quick = args.quick
    sockets = args.sockets or (30 if quick else 300)
    if sockets < 10:
        parser.error("--sockets must be at least 10")
    return Config(
        sockets=sockets,
        rate=args.rate or (20.0 if quick else 100.0),
        duration=args.duration or (5.0 if quick else 60.0),
        warmup_s=1.0 if quick else 3.0,
        grace_s=args.grace,
        teams=3 if sockets < 100 else 10,
        stores=2 if sockets < 100 else 5,
        tickets=max(40, 2 * sockets),
        workers=args.workers,
        post_server=args.post_server,
        servers=list(SERVERS) if args.server == "both" else [args.server],
        redis_url=args.redis_url,
        compression=not args.no_compression,
        post_new_connections=args.post_new_connections,
        channel_layer=args.channel_layer,
        seed=args.seed,
        database=args.database,
        keep_db=args.keep_db,
        quick=quick,
    )


# --- population --------------------------------------------------------------------------


@dataclass
class Staff:
    index: int
    user_id: int
    role: str
    team_ids: frozenset[int]
    home_store_id: int | None
    cookie: str
    groups: frozenset[str]  # console_groups_for(user)


@dataclass
class TicketInfo:
    pk: int
    phone: str
    team_id: int
    store_id: int | None
    store_code: str | None
    assignee_id: int | None
    groups: frozenset[str]  # ticket_groups(ticket)
    entitled: frozenset[int] = frozenset()  # Staff.index


@dataclass
class Population:
    staff: list[Staff]
    tickets: list[TicketInfo]
    rule_mismatches: int  # set-up rules vs group intersection (must be 0)
    roles: dict[str, int]


def _may_see(person: Staff, ticket: TicketInfo) -> bool:
    """The visibility rules, applied to the set-up tables (not to the groups)."""
    if person.role == "manager":
        return True
    if ticket.assignee_id == person.user_id:
        return True
    if person.role == "store_staff":
        return ticket.store_id is not None and ticket.store_id == person.home_store_id
    return ticket.team_id in person.team_ids


def build_population(config: Config) -> Population:
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    from customers.identity import IdentityClaim
    from omniservice.org.models import Role, Store, Team
    from omniservice.org.services import create_staff_member
    from tickets import services
    from tickets.models import Ticket
    from tickets.visibility import console_groups_for, ticket_groups

    rng = random.Random(config.seed)
    session_store = import_module(settings.SESSION_ENGINE).SessionStore
    stores = [
        Store.objects.create(code=f"live{n:02d}", name=f"{n}号店", name_en=f"Store {n}")
        for n in range(1, config.stores + 1)
    ]
    teams = [
        Team.objects.create(slug=f"live-team-{n}", name=f"Team {n}")
        for n in range(1, config.teams + 1)
    ]
    n_managers = max(1, round(config.sockets * 0.03))
    n_store_staff = max(config.stores, round(config.sockets * 0.10))
    n_agents = config.sockets - n_managers - n_store_staff
    plan: list[tuple[str, list[Team], Store | None]] = []
    plan += [(Role.MANAGER, [], None)] * n_managers
    plan += [(Role.STORE_STAFF, [], stores[i % len(stores)]) for i in range(n_store_staff)]
    for i in range(n_agents):
        own = [teams[i % len(teams)]]
        if i % 10 == 9:  # one agent in ten also works for the next team
            own.append(teams[(i + 1) % len(teams)])
        plan.append((Role.AGENT, own, None))

    staff: list[Staff] = []
    users = []
    for index, (role, own_teams, store) in enumerate(plan):
        profile = create_staff_member(
            username=f"live{index:04d}",
            password=None,
            role=role,
            display_name=f"Live {index}",
            teams=own_teams,
            home_store=store,
        )
        user = profile.user
        session = session_store()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.save()
        users.append(user)
        staff.append(
            Staff(
                index=index,
                user_id=user.pk,
                role=str(role),
                team_ids=frozenset(t.pk for t in own_teams),
                home_store_id=store.pk if store else None,
                cookie=f"{settings.SESSION_COOKIE_NAME}={session.session_key}",
                groups=frozenset(console_groups_for(user)),
            )
        )
    agents_of = {
        t.pk: [p for p in staff if p.role == "agent" and t.pk in p.team_ids] for t in teams
    }
    staff_of = {s.pk: [p for p in staff if p.home_store_id == s.pk] for s in stores}
    user_by_id = {u.pk: u for u in users}

    tickets: list[TicketInfo] = []
    for i in range(config.tickets):
        phone = f"+86139{i:08d}"
        team = teams[i % len(teams)]
        store = stores[i % len(stores)] if i % 10 < 3 else None  # 30% came in through a store
        result = services.thread_inbound_message(
            channel="api",
            external_id=f"live-setup-{i}",
            identities=[IdentityClaim("phone", phone)],
            text=f"set-up message {i}",
            store=store,
        )
        draw = rng.random()
        assignee = None
        if draw < 0.5:
            assignee = rng.choice(agents_of[team.pk])
        elif draw < 0.6:  # assigned to an agent of another team
            other = teams[(i + 1 + rng.randrange(len(teams) - 1)) % len(teams)]
            assignee = rng.choice(agents_of[other.pk])
        elif draw < 0.7 and store is not None:
            assignee = rng.choice(staff_of[store.pk])
        services.assign(
            ticket=result.ticket,
            actor=None,
            team=team,
            assignee=user_by_id[assignee.user_id] if assignee else False,
        )
        ticket = Ticket.objects.get(pk=result.ticket.pk)
        tickets.append(
            TicketInfo(
                pk=ticket.pk,
                phone=phone,
                team_id=team.pk,
                store_id=store.pk if store else None,
                store_code=store.code if store else None,
                assignee_id=ticket.assignee_id,
                groups=frozenset(ticket_groups(ticket)),
            )
        )
    mismatches = 0
    for ticket in tickets:
        by_rules = frozenset(p.index for p in staff if _may_see(p, ticket))
        by_groups = frozenset(p.index for p in staff if p.groups & ticket.groups)
        mismatches += len(by_rules ^ by_groups)
        ticket.entitled = by_rules
    return Population(staff, tickets, mismatches, dict(Counter(p.role for p in staff)))


# --- workload ----------------------------------------------------------------------------


@dataclass
class Planned:
    ticket: TicketInfo
    body: bytes
    measured: bool


def build_plan(config: Config, population: Population, server: str) -> list[Planned]:
    rng = random.Random(config.seed + 1)  # the same tickets, in the same order, per server
    warmup = round(config.rate * config.warmup_s)
    total = warmup + round(config.rate * config.duration)
    plan = []
    for k in range(total):
        ticket = rng.choice(population.tickets)
        body: dict[str, Any] = {
            "channel": "api",
            "external_id": f"live-{server}-{k}",
            "identities": [{"kind": "phone", "value": ticket.phone}],
            "text": f"我的订单到哪里了 #{k}",
        }
        if ticket.store_code:
            body["store"] = ticket.store_code
        plan.append(Planned(ticket, json.dumps(body, ensure_ascii=False).encode(), k >= warmup))
    return plan


# --- the client ---------------------------------------------------------------------------


@dataclass
class PostResult:
    planned: Planned
    sent: float
    answered: float
    status: int
    ticket_id: int | None = None
    message_id: int | None = None
    error: str | None = None


@dataclass
class SocketRun:
    person: Staff
    port: int
    frames: list[tuple[float, str]] = field(default_factory=list)
    hello_streams: frozenset[str] = frozenset()
    connect_error: str | None = None
    closed_at: float | None = None  # the server closed the socket before the bench did


@dataclass
class ClientRun:
    sockets: list[SocketRun]
    posts: list[PostResult]
    cpu: dict[str, float]
    measured_wall_s: float
    load_ended: float
    sockets_per_process: list[int]


async def _open(run: SocketRun, compression: bool) -> ClientConnection | None:
    origin = f"http://127.0.0.1:{run.port}"
    try:
        ws = await websockets.connect(
            f"ws://127.0.0.1:{run.port}/ws/console/",
            additional_headers={"Cookie": run.person.cookie, "Origin": origin},
            compression="deflate" if compression else None,
            proxy=None,
            open_timeout=60,
            max_queue=None,
        )
        hello = json.loads(await asyncio.wait_for(ws.recv(), timeout=60))
    except Exception as exc:
        run.connect_error = f"{type(exc).__name__}: {exc}"
        return None
    if hello.get("type") != "hello":
        run.connect_error = f"first frame was {hello!r}"
        await ws.close()
        return None
    run.hello_streams = frozenset(hello.get("streams", []))
    return ws


async def _read(ws: ClientConnection, run: SocketRun, closing: asyncio.Event) -> None:
    frames = run.frames
    clock = time.monotonic
    try:
        async for raw in ws:
            frames.append((clock(), raw))
    except websockets.ConnectionClosed:
        pass
    if not closing.is_set():
        run.closed_at = time.monotonic()


async def _post(
    client: httpx.AsyncClient,
    planned: Planned,
    sent: float,
    out: list[PostResult],
    gate: asyncio.Semaphore,
) -> None:
    try:
        await _post_once(client, planned, sent, out)
    finally:
        gate.release()


async def _post_once(
    client: httpx.AsyncClient, planned: Planned, sent: float, out: list[PostResult]
) -> None:
    try:
        response = await client.post("/api/v1/messages/", content=planned.body)
    except httpx.HTTPError as exc:
        out.append(PostResult(planned, sent, time.monotonic(), 0, error=repr(exc)))
        return
    answered = time.monotonic()
    result = PostResult(planned, sent, answered, response.status_code)
    if response.status_code == 201:
        answer = response.json()
        result.ticket_id, result.message_id = answer["ticket"], answer["message_id"]
    else:
        result.error = response.text[:300]
    out.append(result)


async def _post_open_loop(
    clients: list[httpx.AsyncClient], plan: list[Planned], rate: float, out: list[PostResult]
) -> None:
    """Send item k at start + k / rate (open loop) while fewer than POST_CONNECTIONS per
    port are in flight; past that, items wait in line and the POST time of each counts
    from its scheduled start (no coordinated omission). Bounding the in-flight requests
    here rather than in httpx keeps its pool from scanning thousands of waiters."""
    start = time.monotonic() + 0.05
    gate = asyncio.Semaphore(POST_CONNECTIONS * len(clients))
    tasks = []
    for k, planned in enumerate(plan):
        scheduled = start + k / rate
        delay = scheduled - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await gate.acquire()
        client = clients[k % len(clients)]
        tasks.append(asyncio.create_task(_post(client, planned, scheduled, out, gate)))
    await asyncio.gather(*tasks)


async def drive(
    config: Config,
    ports: list[int],
    post_ports: list[int],
    population: Population,
    plan: list[Planned],
    key: str,
    cpu: live.CpuWindow,
) -> ClientRun:
    runs = [SocketRun(p, ports[p.index % len(ports)]) for p in population.staff]
    gate = asyncio.Semaphore(20)

    async def open_one(run: SocketRun) -> ClientConnection | None:
        async with gate:
            return await _open(run, config.compression)

    began = time.monotonic()
    connections = await asyncio.gather(*(open_one(r) for r in runs))
    opened = sum(1 for c in connections if c is not None)
    log(f"  {opened}/{len(runs)} sockets connected in {time.monotonic() - began:.1f} s")
    closing = asyncio.Event()
    readers = [
        asyncio.create_task(_read(ws, run, closing))
        for ws, run in zip(connections, runs, strict=True)
        if ws is not None
    ]
    await asyncio.sleep(2)  # presence events of the connections drain
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    keepalive = 0 if config.post_new_connections else POST_CONNECTIONS
    limits = httpx.Limits(max_connections=POST_CONNECTIONS, max_keepalive_connections=keepalive)
    clients = [
        httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}",
            headers=headers,
            timeout=60,
            limits=limits,
            trust_env=False,
        )
        for port in post_ports
    ]
    posts: list[PostResult] = []
    try:
        warmup = [p for p in plan if not p.measured]
        measured = [p for p in plan if p.measured]
        await _post_open_loop(clients, warmup, config.rate, posts)
        await asyncio.sleep(1)
        log(f"  load: {len(measured)} messages at {config.rate:g}/s")
        cpu.start()
        load_began = time.monotonic()
        await _post_open_loop(clients, measured, config.rate, posts)
        load_ended = time.monotonic()
        measured_wall = load_ended - load_began
        figures = cpu.stop()
        await asyncio.sleep(config.grace_s)
    finally:
        for client in clients:
            await client.aclose()
    groups = sorted({g for p in population.staff for g in p.groups})
    per_process = live.sockets_per_process(config.redis_url, groups)
    closing.set()
    await asyncio.gather(
        *(ws.close() for ws in connections if ws is not None), return_exceptions=True
    )
    for reader in readers:
        reader.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    return ClientRun(runs, posts, figures, measured_wall, load_ended, per_process)


# --- analysis ----------------------------------------------------------------------------


class SeqTracker:
    """What static/console/console.js does with seq numbers, replayed on one socket's
    frames: every event carries the seq of each group it was published to (``seqs``); a
    jump leaves holes, a late event fills one, and a hole still open SEQ_GRACE_S after it
    was seen makes the console refetch (counted in ``refetches``)."""

    SEQ_GRACE_S = 1.0

    def __init__(self, streams: frozenset[str]) -> None:
        self.streams = streams
        self.last: dict[str, int] = {}
        self.got: dict[str, set[int]] = {}
        self.missing: dict[tuple[str, int], float] = {}
        self.jumps = self.late = self.refetches = 0

    def see(self, at: float, event: dict[str, Any]) -> None:
        self._expire(at)
        seqs = event.get("seqs") or (
            {event["stream"]: event["seq"]} if isinstance(event.get("seq"), int) else {}
        )
        for stream, seq in seqs.items():
            if stream not in self.streams or not isinstance(seq, int):
                continue
            self.got.setdefault(stream, set()).add(seq)
            previous = self.last.get(stream)
            if previous is None or seq == previous + 1:
                self.last[stream] = seq
            elif seq > previous + 1:
                self.jumps += 1
                for hole in range(previous + 1, seq):
                    self.missing[(stream, hole)] = at
                self.last[stream] = seq
            else:
                self.late += 1
                self.missing.pop((stream, seq), None)

    def _expire(self, now: float) -> None:
        if any(now - since >= self.SEQ_GRACE_S for since in self.missing.values()):
            self.refetches += 1
            self.missing.clear()

    def finish(self) -> None:
        self._expire(float("inf"))

    def holes(self) -> int:
        """Seqs never received between the first and the last one seen, per stream."""
        return sum(max(got) - min(got) + 1 - len(got) for got in self.got.values())


def analyse(population: Population, run: ClientRun) -> dict[str, Any]:
    tickets = {t.pk: t for t in population.tickets}
    good = [p for p in run.posts if p.status == 201 and p.message_id is not None]
    by_message = {p.message_id: p for p in good}
    posts_per_ticket = Counter(p.ticket_id for p in good)
    misthreaded = sum(1 for p in good if p.ticket_id != p.planned.ticket.pk)

    delays: list[float] = []
    lost_messages = duplicated = wrong_receipts = unknown_messages = 0
    lost_updates = extra_updates = 0
    wrong_sockets: set[int] = set()
    seq_gaps = sockets_with_gaps = out_of_order = seq_missing = refetches = 0
    frames_total = 0
    for srun in run.sockets:
        index = srun.person.index
        added: dict[int, float] = {}
        updated: Counter[int] = Counter()
        seen_ids: set[str] = set()
        tracker = SeqTracker(srun.person.groups)
        for received, raw in srun.frames:
            event = json.loads(raw)
            kind = event.get("type")
            frames_total += 1
            event_id = event.get("id")
            if event_id:
                if event_id in seen_ids:
                    duplicated += 1
                    continue
                seen_ids.add(event_id)
            tracker.see(received, event)
            ticket = tickets.get(event.get("ticket_id"))
            if kind not in TICKET_EVENTS:
                continue
            if ticket is None or index not in ticket.entitled:
                wrong_receipts += 1
                wrong_sockets.add(index)
                continue
            if kind == "message.added":
                message_id = event.get("message_id")
                if message_id in added:
                    duplicated += 1
                elif message_id not in by_message:
                    unknown_messages += 1
                else:
                    added[message_id] = received
                if "changed" in event:  # the ticket's state rides on the message event
                    updated[ticket.pk] += 1
            else:
                updated[ticket.pk] += 1
        tracker.finish()
        seq_gaps += tracker.jumps
        sockets_with_gaps += 1 if tracker.jumps else 0
        out_of_order += tracker.late
        refetches += tracker.refetches
        seq_missing += tracker.holes()
        for message_id, post in by_message.items():
            if index not in tickets[post.ticket_id].entitled:
                continue
            received = added.get(message_id)
            if received is None:
                lost_messages += 1
            elif post.planned.measured:
                delays.append(received - post.answered)
        for ticket_id, count in posts_per_ticket.items():
            if index in tickets[ticket_id].entitled:
                got = updated.get(ticket_id, 0)
                lost_updates += max(0, count - got)
                extra_updates += max(0, got - count)

    measured_posts = [p for p in run.posts if p.planned.measured]
    measured_ok = [p for p in measured_posts if p.status == 201]
    errors = [p for p in run.posts if p.status != 201]
    post_latency = harness.percentiles_ms([p.answered - p.sent for p in measured_ok])
    delay = harness.percentiles_ms(delays)
    expected = sum(len(tickets[p.ticket_id].entitled) for p in measured_ok)
    return {
        "sockets_connected": sum(1 for s in run.sockets if s.connect_error is None),
        "sockets_closed_by_server_during_load": sum(
            1 for s in run.sockets if s.closed_at is not None and s.closed_at <= run.load_ended
        ),
        "sockets_closed_by_server_after_load": sum(
            1 for s in run.sockets if s.closed_at is not None and s.closed_at > run.load_ended
        ),
        "hello_stream_mismatches": sum(
            1 for s in run.sockets if s.connect_error is None and s.hello_streams != s.person.groups
        ),
        "sockets_per_server_process": run.sockets_per_process,
        "posts": len(measured_posts),
        "post_errors": len(errors),
        "rate_achieved_per_s": round(len(measured_posts) / run.measured_wall_s, 1),
        "post_p50_ms": post_latency["p50"],
        "post_p95_ms": post_latency["p95"],
        "post_p99_ms": post_latency["p99"],
        "misthreaded": misthreaded,
        "entitled_per_message": round(expected / max(1, len(measured_ok)), 1),
        "deliveries_expected": expected,
        "deliveries_measured": len(delays),
        "delay_p50_ms": delay["p50"],
        "delay_p95_ms": delay["p95"],
        "delay_p99_ms": delay["p99"],
        "delay_max_ms": delay["max"],
        "delay_min_ms": round(min(delays) * 1000, 2) if delays else 0.0,
        "delay_negative_pct": round(100 * sum(1 for d in delays if d < 0) / max(1, len(delays)), 1),
        "lost": lost_messages + lost_updates,
        "lost_message_added": lost_messages,
        "lost_ticket_updated": lost_updates,
        "duplicated": duplicated + extra_updates,
        "wrong_receivers": len(wrong_sockets),
        "wrong_receipts": wrong_receipts,
        "unknown_message_events": unknown_messages,
        "frames_received": frames_total,
        "seq_gaps_seen": seq_gaps,
        "sockets_seeing_seq_gaps": sockets_with_gaps,
        "seq_out_of_order": out_of_order,
        "refetches": refetches,
        "seq_holes": seq_missing,
        **run.cpu,
        "_error_samples": [p.error for p in errors[:3]],
        "_connect_errors": [s.connect_error for s in run.sockets if s.connect_error][:3],
    }


# --- one server ---------------------------------------------------------------------------


def run_server(
    name: str,
    config: Config,
    population: Population,
    key: str,
    database: harness.ScratchDatabase,
) -> dict[str, Any]:
    live.flush_redis(config.redis_url)
    env = server_environment(config, database)
    if name == "uvicorn":
        port = harness.free_port()
        servers = [live.uvicorn_server(port, config.workers, env)]
        ports = [port]
        label = f"uvicorn --workers {config.workers}"
    else:
        ports = [harness.free_port(), harness.free_port()]
        servers = [live.daphne_server(port, env) for port in ports]
        label = "daphne x2 processes (2 ports, sockets split evenly)"
    post_ports = ports
    if config.post_server == "gunicorn":
        post_port = harness.free_port()
        servers.append(harness.wsgi_server(post_port, 2, env))
        post_ports = [post_port]
        label += "; POSTs on gunicorn (2 workers x 4 threads)"
    else:
        label += "; POSTs on the same server"
    log(f"{name}: {label}")
    plan = build_plan(config, population, name)
    with contextlib.ExitStack() as stack:
        for server in servers:
            stack.enter_context(server)
        for server, port in zip(servers, [*ports, *post_ports][: len(servers)], strict=True):
            harness.wait_until_ready(server, f"http://127.0.0.1:{port}")
        cpu = live.CpuWindow(servers, live.redis_pid(config.redis_url), database)
        try:
            loop = _new_loop()
            run = loop.run_until_complete(
                drive(config, ports, post_ports, population, plan, key, cpu)
            )
            loop.close()
        finally:
            dead = [s for s in servers if not s.alive()]
            for server in dead:
                log(f"  {server.name} died:\n{server.tail()}")
        logs = {s.name: s.tail(100_000) for s in servers}
    metrics = analyse(population, run)
    metrics["server"] = label
    closed = (
        metrics["sockets_closed_by_server_during_load"]
        + metrics["sockets_closed_by_server_after_load"]
    )
    if metrics["post_errors"] or closed:
        for server_name, text in logs.items():
            kept = Path(tempfile.gettempdir()) / f"omniservice-bench-live-{server_name}.log"
            kept.write_text(text)
            log(f"  server errors: the {server_name} log is kept in {kept}")
    return metrics


def server_environment(config: Config, database: harness.ScratchDatabase) -> dict[str, str]:
    env = harness.app_environment(DATABASE_URL=database.url, REDIS_URL=config.redis_url)
    if config.channel_layer != "configured":
        env["DJANGO_SETTINGS_MODULE"] = "bench._live_settings"
        env["LIVE_BENCH_CHANNEL_LAYER"] = config.channel_layer
    return env


def channel_layer_backend(config: Config, database: harness.ScratchDatabase) -> str:
    """The channel layer the servers will run with, as their settings say."""
    code = "from django.conf import settings; print(settings.CHANNEL_LAYERS['default']['BACKEND'])"
    output = harness.manage(["shell", "-v", "0", "-c", code], server_environment(config, database))
    return output.strip().splitlines()[-1]


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


# --- report ------------------------------------------------------------------------------

ROWS = [
    ("sockets_connected", "sockets connected"),
    ("sockets_per_server_process", "sockets per server process"),
    ("sockets_closed_by_server_during_load", "sockets closed by server (load)"),
    ("sockets_closed_by_server_after_load", "sockets closed by server (after)"),
    ("posts", "POSTs (measured)"),
    ("rate_achieved_per_s", "rate achieved /s"),
    ("post_errors", "POST errors"),
    ("post_p50_ms", "POST p50 ms"),
    ("post_p99_ms", "POST p99 ms"),
    ("entitled_per_message", "entitled sockets / message"),
    ("deliveries_measured", "deliveries measured"),
    ("delay_p50_ms", "push delay p50 ms"),
    ("delay_p95_ms", "push delay p95 ms"),
    ("delay_p99_ms", "push delay p99 ms"),
    ("delay_max_ms", "push delay max ms"),
    ("delay_min_ms", "push delay min ms"),
    ("delay_negative_pct", "delay < 0 (%)"),
    ("lost", "lost events"),
    ("duplicated", "duplicated events"),
    ("wrong_receivers", "wrong receivers (sockets)"),
    ("seq_gaps_seen", "seq jumps seen by clients"),
    ("seq_out_of_order", "  late events filling a hole"),
    ("seq_holes", "seq holes at the end (lost)"),
    ("refetches", "console refetches (hole > 1 s)"),
    ("client_cpu_pct", "client CPU %"),
    ("server_cpu_pct", "server CPU %"),
    ("server_cpu_pct_per_process", "  per process"),
    ("postgres_cpu_pct", "PostgreSQL CPU % (cluster)"),
    ("redis_cpu_pct", "Redis CPU %"),
    ("machine_busy_pct", "machine busy % (all CPUs)"),
]


def report(config: Config, population: Population, metrics: dict[str, Any], backend: str) -> None:
    names = [n for n in config.servers if n in metrics]
    log("")
    log(
        f"live push: {config.sockets} sockets ({population.roles}), "
        f"{config.rate:g} msg/s for {config.duration:g} s, {os.cpu_count()} CPUs, "
        f"{backend}"
    )
    log(f"{'':30}" + "".join(f"{n:>22}" for n in names))
    for key, label in ROWS:
        cells = []
        for name in names:
            value = metrics[name].get(key)
            cells.append(f"{value!s:>22}")
        log(f"{label:30}" + "".join(cells))
    for name in names:
        for sample in metrics[name].get("_error_samples", []):
            log(f"{name} error sample: {sample}")
        for sample in metrics[name].get("_connect_errors", []):
            log(f"{name} connect error: {sample}")


def _met(figures: dict[str, Any], rate: float) -> bool:
    return (
        figures["sockets_connected"] == figures["sockets_expected"]
        and figures["rate_achieved_per_s"] >= RATE_SUSTAINED * rate
        and figures["seq_holes"] == 0
        and figures["post_errors"] == 0
        and figures["delay_p99_ms"] <= TARGETS["p99_ms"]
        and figures["lost"] <= TARGETS["lost"]
        and figures["duplicated"] <= TARGETS["duplicated"]
        and figures["wrong_receivers"] <= TARGETS["wrong_receivers"]
    )


def main(argv: list[str] | None = None) -> int:
    config = parse_args(sys.argv[1:] if argv is None else argv)
    database = harness.ScratchDatabase(config.database)
    load_at_start = os.getloadavg()[0]
    if load_at_start > 0.5:
        log(f"warning: load average {load_at_start:.2f} at start: other work shares the CPUs")
    _setup_django(database.url)
    env = harness.app_environment(DATABASE_URL=database.url)
    metrics: dict[str, Any] = {}
    try:
        log(f"setting up {database.name}: {config.sockets} staff, {config.tickets} tickets")
        database.recreate()
        harness.manage(["migrate", "--no-input", "-v", "0"], env)
        began = time.monotonic()
        population = build_population(config)
        log(f"  population {population.roles} built in {time.monotonic() - began:.1f} s")
        if population.rule_mismatches:
            log(f"  WARNING: {population.rule_mismatches} rule/group entitlement mismatches")
        key = harness.create_api_key("live-bench", ["tickets:write"], rate=100_000, env=env)
        backend = channel_layer_backend(config, database)
        log(f"  channel layer: {backend}")
        for name in config.servers:
            metrics[name] = run_server(name, config, population, key, database)
            metrics[name]["sockets_expected"] = config.sockets
    finally:
        live.flush_redis(config.redis_url)
        if not config.keep_db:
            from django.db import connections

            connections.close_all()
            database.drop()
    report(config, population, metrics, backend)
    judged = PRODUCTION_SERVER if PRODUCTION_SERVER in metrics else config.servers[0]
    summary: dict[str, Any] = {
        name: {k: v for k, v in figures.items() if not k.startswith("_")}
        for name, figures in metrics.items()
    }
    summary.update(
        sockets=config.sockets,
        rate_per_s=int(config.rate) if config.rate.is_integer() else config.rate,
        duration_s=int(config.duration) if config.duration.is_integer() else config.duration,
        production_server=PRODUCTION_SERVER,
        judged_on=judged,
        entitlement_rule_mismatches=population.rule_mismatches,
        roles=population.roles,
        tickets=config.tickets,
        teams=config.teams,
        stores=config.stores,
        compression=config.compression,
        post_keepalive=not config.post_new_connections,
        channel_layer=backend,
        cpus=os.cpu_count(),
        loadavg_at_start=round(load_at_start, 2),
    )
    met = _met(metrics[judged], config.rate) and population.rule_mismatches == 0
    print(json.dumps({"bench": BENCH, "metrics": summary, "targets": TARGETS, "met": met}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
