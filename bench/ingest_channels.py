"""Signed provider webhooks for a mix of channels, with duplicate deliveries, on PostgreSQL.

    python -m bench.ingest_channels              # 450 webhooks/s offered for 60 s
    python -m bench.ingest_channels --rate 600   # find where the stack stops keeping up
    python -m bench.ingest_channels --quick      # 60/s for 5 s (smoke run)

Sets everything up itself: a scratch database ``omniservice_bench_channels`` (dropped and
recreated, dropped again at the end), migrations, one connection per channel with its
secrets (WhatsApp Cloud API, Twilio-style SMS, WeChat, Messenger, a PBX), a manager and an agent
of the general queue with a session each, and a Redis database of its own on the local
Redis (db 9, flushed: channel layer, cache, Celery broker). The webhooks go to gunicorn
(threaded WSGI, the production HTTP server), the two console sockets to uvicorn.

The client (one asyncio process) builds every request beforehand: the provider's payload
format, signed as the provider signs it (``X-Hub-Signature-256``, ``X-Twilio-Signature``,
WeChat's query signature with a fresh timestamp), from a pool of senders so that
conversations continue; 10 % of the deliveries are exact resends of an earlier one (the
provider retrying). It sends them open loop at the rate over keep-alive connections
(raw HTTP/1.1, so the client's own CPU stays small) and times each response from its
scheduled send time. Afterwards it counts, in the database, the messages stored per
provider id (must be exactly one each) and, on the manager's and the general-queue
agent's sockets, the ``message.added`` events received for the stored messages.

The last line of output is the JSON summary of the bench conventions.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import websockets

from bench import _harness as harness
from bench import _live as live
from bench._harness import log
from bench.ingest_events import _setup_django

BENCH = "ingest_channels"
TARGETS = {"accepted_per_s": 400, "p99_ms": 100, "stored_per_provider_id": 1, "missed_live": 0}
RATE_SUSTAINED = 0.97
WARM_UP_IDS = 50_000_000  # provider ids of the warm-up start here
MIX = (
    ("whatsapp", 0.38),
    ("sms", 0.24),
    ("wechat", 0.19),
    ("messenger", 0.14),
    ("phone", 0.05),  # a missed call to the hotline: a call message and a call-back task
)
SECRETS = {
    "whatsapp": {"app_secret": "bench-wa-secret", "access_token": "t", "verify_token": "v"},
    "sms": {"auth_token": "bench-twilio-token"},
    "wechat": {"token": "bench-wechat-token", "app_secret": "s"},
    "messenger": {"app_secret": "bench-meta-secret", "access_token": "t", "verify_token": "v"},
    "phone": {"signing_secret": "bench-pbx-secret"},
}
# Chinese punctuation is what customers type.
TEXTS = (
    "我的订单什么时候发货？",  # noqa: RUF001
    "Where is my parcel? It was due yesterday.",
    "这件外套有没有 M 码？",  # noqa: RUF001
    "Can I return the shoes in a store?",
    "会员积分怎么兑换？",  # noqa: RUF001
    "The zip on my bag broke after a week.",
)


@dataclass
class Config:
    rate: float
    duration: float
    duplicates: float
    senders: int
    connections: int
    web_workers: int
    web_threads: int
    inbox_workers: int
    inbox_nice: int
    warmup: float
    drain_timeout: float
    grace: float
    redis_url: str
    database: str
    keep_db: bool
    seed: int


def parse_args(argv: list[str]) -> Config:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest_channels")
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--rate", type=float, help="webhooks per second offered (default 450)")
    parser.add_argument("--duration", type=float, help="seconds of load (default 60)")
    parser.add_argument("--duplicates", type=float, default=0.10, help="share of resends")
    parser.add_argument("--senders", type=int, help="distinct customers (default 20,000)")
    parser.add_argument("--connections", type=int, default=48, help="client keep-alive sockets")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--web-threads", type=int, default=8, help="threads per gunicorn worker")
    parser.add_argument(
        "--inbox-workers", type=int, default=1, help="Celery worker processes threading the inbox"
    )
    parser.add_argument(
        "--inbox-nice",
        type=int,
        default=10,
        help="CPU niceness of the inbox workers: the webhooks answer first (0: equal)",
    )
    parser.add_argument(
        "--warmup", type=float, help="seconds of warm-up before the measured run (default 10)"
    )
    parser.add_argument(
        "--drain-timeout", type=float, default=900.0, help="seconds to wait for the inbox to empty"
    )
    parser.add_argument("--grace", type=float, default=5.0, help="seconds to wait for events")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/9", help="flushed!")
    parser.add_argument("--database", default="omniservice_bench_channels")
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--seed", type=int, default=20261204)
    args = parser.parse_args(argv)
    if not args.database.startswith("omniservice_bench"):
        parser.error("--database must start with omniservice_bench")
    quick = args.quick
    return Config(
        rate=args.rate or (60.0 if quick else 450.0),
        duration=args.duration or (5.0 if quick else 60.0),
        duplicates=args.duplicates,
        senders=args.senders or (500 if quick else 20_000),
        connections=min(args.connections, 8) if quick else args.connections,
        web_workers=args.web_workers,
        web_threads=args.web_threads,
        inbox_workers=args.inbox_workers,
        inbox_nice=args.inbox_nice,
        warmup=args.warmup if args.warmup is not None else (0.0 if quick else 10.0),
        drain_timeout=args.drain_timeout,
        grace=args.grace,
        redis_url=args.redis_url,
        database=args.database,
        keep_db=args.keep_db,
        seed=args.seed,
    )


# --- set-up ------------------------------------------------------------------------------


@dataclass
class Setup:
    paths: dict[str, str]  # channel -> webhook path
    cookies: dict[str, str]  # persona -> session cookie
    connection_ids: dict[str, int] = field(default_factory=dict)


def build_setup() -> Setup:
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    from channels_hub.connections import save_connection
    from channels_hub.models import ChannelConnection
    from omniservice.org.models import Role
    from omniservice.org.services import create_staff_member

    paths, connection_ids = {}, {}
    for channel, secrets in SECRETS.items():
        connection = save_connection(
            connection=ChannelConnection(channel=channel),
            name=f"bench {channel}",
            is_active=True,
            is_default=True,
            settings={"app_id": "wxbench"} if channel == "wechat" else {},
            secrets=secrets,
        )
        paths[channel] = f"/hooks/{channel}/{connection.webhook_key}/"
        connection_ids[channel] = connection.pk
    session_store = import_module(settings.SESSION_ENGINE).SessionStore
    cookies = {}
    for persona, role in (("manager", Role.MANAGER), ("agent", Role.AGENT)):
        profile = create_staff_member(
            username=f"bench-{persona}", password=None, role=role, display_name=persona
        )
        user = profile.user
        session = session_store()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.save()
        cookies[persona] = f"{settings.SESSION_COOKIE_NAME}={session.session_key}"
    return Setup(paths=paths, cookies=cookies, connection_ids=connection_ids)


# --- the requests --------------------------------------------------------------------------


@dataclass
class Planned:
    at: float  # seconds after the start
    channel: str
    provider_id: str
    raw: bytes  # the whole HTTP/1.1 request
    duplicate: bool


def _http(method: str, path: str, host: str, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _whatsapp(path: str, host: str, n: int, sender: int, text: str) -> tuple[str, bytes]:
    from channels_hub.adapters.meta import meta_signature

    wa_id = f"8613{sender:09d}"
    provider_id = f"wamid.bench{n}"
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "1",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "contacts": [{"profile": {"name": f"顾客{sender}"}, "wa_id": wa_id}],
                            "messages": [
                                {
                                    "from": wa_id,
                                    "id": provider_id,
                                    "timestamp": str(int(time.time())),
                                    "type": "text",
                                    "text": {"body": text},
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }
    body = json.dumps(payload, ensure_ascii=False).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": meta_signature(SECRETS["whatsapp"]["app_secret"], body),
    }
    return provider_id, _http("POST", path, host, headers, body)


def _sms(path: str, host: str, n: int, sender: int, text: str) -> tuple[str, bytes]:
    from channels_hub.adapters.sms import twilio_signature

    provider_id = f"SMbench{n:024d}"
    form = {
        "MessageSid": provider_id,
        "SmsSid": provider_id,
        "AccountSid": "ACbench",
        "From": f"+8613{sender:09d}",
        "To": "+8610000000",
        "Body": text,
        "NumMedia": "0",
    }
    body = urlencode(form).encode()
    signature = twilio_signature(SECRETS["sms"]["auth_token"], f"http://{host}{path}", form)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": signature,
    }
    return provider_id, _http("POST", path, host, headers, body)


def _wechat(path: str, host: str, n: int, sender: int, text: str) -> tuple[str, bytes]:
    from channels_hub.adapters.wechat import wechat_signature

    provider_id = str(6_000_000_000_000_000 + n)
    timestamp, nonce = str(int(time.time())), str(n)
    query = urlencode(
        {
            "signature": wechat_signature(SECRETS["wechat"]["token"], timestamp, nonce),
            "timestamp": timestamp,
            "nonce": nonce,
        }
    )
    body = (
        f"<xml><ToUserName><![CDATA[gh_bench]]></ToUserName>"
        f"<FromUserName><![CDATA[oBench{sender:08d}]]></FromUserName>"
        f"<CreateTime>{timestamp}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{text}]]></Content><MsgId>{provider_id}</MsgId></xml>"
    ).encode()
    headers = {"Content-Type": "text/xml"}
    return provider_id, _http("POST", f"{path}?{query}", host, headers, body)


def _messenger(path: str, host: str, n: int, sender: int, text: str) -> tuple[str, bytes]:
    from channels_hub.adapters.meta import meta_signature

    provider_id = f"m_bench{n}"
    payload = {
        "object": "page",
        "entry": [
            {
                "id": "PAGE",
                "time": int(time.time() * 1000),
                "messaging": [
                    {
                        "sender": {"id": f"7{sender:015d}"},
                        "recipient": {"id": "PAGE"},
                        "timestamp": int(time.time() * 1000),
                        "message": {"mid": provider_id, "text": text},
                    }
                ],
            }
        ],
    }
    body = json.dumps(payload, ensure_ascii=False).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": meta_signature(SECRETS["messenger"]["app_secret"], body),
    }
    return provider_id, _http("POST", path, host, headers, body)


def _phone(path: str, host: str, n: int, sender: int, text: str) -> tuple[str, bytes]:
    """A PBX reporting a missed call (signed like docs/channels.md says); the provider id
    is the external id its call message gets (``call:<connection>:<call id>``)."""
    from channels_hub.adapters.phone import phone_signature

    call_id = f"pbx-bench-{n}"
    event = {"call_id": call_id, "event": "missed", "from": f"+8613{sender:09d}"}
    body = json.dumps(event).encode()
    stamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-Omniservice-Timestamp": stamp,
        "X-Omniservice-Signature": phone_signature(SECRETS["phone"]["signing_secret"], stamp, body),
    }
    return call_id, _http("POST", path, host, headers, body)


BUILDERS = {
    "whatsapp": _whatsapp,
    "sms": _sms,
    "wechat": _wechat,
    "messenger": _messenger,
    "phone": _phone,
}


def build_plan(config: Config, setup: Setup, host: str, first_id: int = 0) -> list[Planned]:
    """The requests of one run; provider ids are numbered from ``first_id``."""
    rng = random.Random(config.seed + first_id)
    total = int(config.rate * config.duration)
    channels = [name for name, _share in MIX]
    weights = [share for _name, share in MIX]
    plan: list[Planned] = []
    originals: list[Planned] = []
    for n in range(first_id, first_id + total):
        at = (n - first_id) / config.rate
        if originals and rng.random() < config.duplicates:
            first = rng.choice(originals[-2000:])  # a provider retry comes soon after
            plan.append(Planned(at, first.channel, first.provider_id, first.raw, True))
            continue
        channel = rng.choices(channels, weights)[0]
        sender = rng.randrange(config.senders)
        provider_id, raw = BUILDERS[channel](
            setup.paths[channel], host, n, sender, rng.choice(TEXTS)
        )
        if channel == "phone":  # the call's message carries the connection in its id
            provider_id = f"call:{setup.connection_ids['phone']}:{provider_id}"
        planned = Planned(at, channel, provider_id, raw, False)
        plan.append(planned)
        originals.append(planned)
    return plan


# --- the client ------------------------------------------------------------------------------


@dataclass
class Result:
    planned: Planned
    status: int
    latency: float  # from the scheduled send time to the end of the response


@dataclass
class Run:
    results: list[Result] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)
    window: float = 0.0
    pending_after_load: int = 0
    drained_after: float | None = None  # seconds from the start until the inbox was empty
    start: float = 0.0  # time.monotonic() of the plan's second 0
    # Per persona: (time.monotonic() when received, message id) of each message.added.
    events: dict[str, list[tuple[float, int]]] = field(default_factory=dict)


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    if length:
        await reader.readexactly(length)
    return status


async def _sender(port: int, queue: asyncio.Queue, start: float, run: Run) -> None:
    reader = writer = None
    while True:
        planned = await queue.get()
        if planned is None:
            break
        delay = start + planned.at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        for attempt in range(2):
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(planned.raw)
                status = await _read_response(reader)
                break
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                if writer is not None:
                    writer.close()
                reader = writer = None
                if attempt == 1:
                    run.errors[type(exc).__name__] += 1
                    status = 0
        run.results.append(Result(planned, status, time.monotonic() - (start + planned.at)))
    if writer is not None:
        writer.close()


async def _listen(
    ws_port: int, cookie: str, events: list[tuple[float, int]], stop: asyncio.Event
) -> None:
    async with websockets.connect(
        f"ws://127.0.0.1:{ws_port}/ws/console/",
        additional_headers={"Cookie": cookie, "Origin": f"http://127.0.0.1:{ws_port}"},
        proxy=None,
        max_queue=None,
        open_timeout=30,
    ) as ws:
        hello = json.loads(await ws.recv())
        assert hello.get("type") == "hello", hello
        while not stop.is_set():
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout=0.5)
            except TimeoutError:
                continue
            event = json.loads(raw)
            if event.get("type") == "message.added":
                events.append((time.monotonic(), event.get("message_id")))


async def drive(config: Config, plan: list[Planned], port: int, ws_port: int, setup: Setup) -> Run:
    run = Run(events={persona: [] for persona in setup.cookies})
    stop = asyncio.Event()
    listeners = [
        asyncio.create_task(_listen(ws_port, cookie, run.events[persona], stop))
        for persona, cookie in setup.cookies.items()
    ]
    await asyncio.sleep(2)  # sockets joined their groups
    queue: asyncio.Queue = asyncio.Queue()
    for planned in plan:
        queue.put_nowait(planned)
    for _ in range(config.connections):
        queue.put_nowait(None)
    start = run.start = time.monotonic() + 0.5
    senders = [
        asyncio.create_task(_sender(port, queue, start, run)) for _ in range(config.connections)
    ]
    await asyncio.gather(*senders)
    run.window = time.monotonic() - start
    run.pending_after_load = await asyncio.to_thread(_backlog, config.redis_url)
    deadline = time.monotonic() + config.drain_timeout
    pending = run.pending_after_load
    while pending and time.monotonic() < deadline:
        await asyncio.sleep(0.25)
        pending = await asyncio.to_thread(_backlog, config.redis_url)
    if not pending:
        run.drained_after = time.monotonic() - start
    await asyncio.sleep(config.grace)
    stop.set()
    await asyncio.gather(*listeners, return_exceptions=True)
    return run


def _backlog(redis_url: str) -> int:
    """Work accepted but not done yet: inbox rows waiting to be threaded, and tasks (the
    hotline's ticket work, routing runs) waiting in the broker or running."""
    import redis
    from django.db import connection

    from channels_hub.inbox_models import DeliveryState, InboundDelivery

    broker = redis.Redis.from_url(redis_url)
    try:
        pending = InboundDelivery.objects.filter(state=DeliveryState.PENDING).count()
        return pending + broker.llen("celery") + broker.hlen("unacked")
    finally:
        connection.close()  # this thread's own connection
        broker.close()


# --- analysis -------------------------------------------------------------------------------


def analyse(config: Config, plan: list[Planned], run: Run, cpu: dict[str, Any]) -> dict[str, Any]:
    from django.db.models import Count

    from tickets.models import Direction, Message

    ok = [r for r in run.results if 200 <= r.status < 300]
    latencies = [r.latency for r in ok]
    expected_ids = {p.provider_id for p in plan if not p.duplicate}
    stored = dict(
        Message.objects.filter(direction=Direction.INBOUND, external_id__in=expected_ids)
        .values_list("external_id")
        .annotate(n=Count("id"))
        .values_list("external_id", "n")
    )
    accepted_ids = {r.planned.provider_id for r in ok}
    stored_counts = Counter(stored.get(pid, 0) for pid in expected_ids)
    provider_id_of = dict(  # the measured run's messages (not the warm-up's)
        Message.objects.filter(
            direction=Direction.INBOUND, external_id__in=expected_ids
        ).values_list("pk", "external_id")
    )
    message_ids = set(provider_id_of)
    live_missed = {}
    for persona, events in run.events.items():
        seen = {message_id for _, message_id in events}
        live_missed[persona] = len(message_ids - seen)
    visible = _visible_delays(plan, run, provider_id_of)
    figures: dict[str, Any] = {
        "offered_per_s": config.rate,
        "requests": len(run.results),
        "accepted": len(ok),
        "accepted_per_s": round(len(ok) / run.window, 1) if run.window else 0.0,
        "duplicates_sent": sum(1 for p in plan if p.duplicate),
        "http_errors": len(run.results) - len(ok),
        "status_counts": dict(Counter(r.status for r in run.results)),
        "connection_errors": dict(run.errors),
        **{f"response_{k}_ms": v for k, v in harness.percentiles_ms(latencies).items()},
        "pending_after_load": run.pending_after_load,
        "drained_after_s": round(run.drained_after, 2) if run.drained_after else None,
        "threaded_per_s": (
            round(sum(stored.values()) / run.drained_after, 1) if run.drained_after else 0.0
        ),
        "provider_ids": len(expected_ids),
        "provider_ids_accepted": len(accepted_ids & expected_ids),
        "stored_messages": sum(stored.values()),
        "provider_ids_stored_once": stored_counts.get(1, 0),
        "provider_ids_stored_twice_or_more": sum(n for k, n in stored_counts.items() if k > 1),
        "provider_ids_not_stored": stored_counts.get(0, 0),
        "live_missed_manager": live_missed.get("manager", 0),
        "live_missed_general_agent": live_missed.get("agent", 0),
        **{f"visible_{k}_ms": v for k, v in harness.percentiles_ms(visible).items()},
        "mix": dict(Counter(p.channel for p in plan)),
        **cpu,
        "load_window_s": round(run.window, 2),
    }
    return figures


def _visible_delays(plan: list[Planned], run: Run, provider_id_of: dict[int, str]) -> list[float]:
    """Seconds from a message's first delivery (its scheduled send) until the manager's
    console received its ``message.added``: what a person watching the inbox waits."""
    sent_at = {}
    for planned in plan:
        if not planned.duplicate:
            sent_at.setdefault(planned.provider_id, run.start + planned.at)
    first_seen: dict[int, float] = {}
    for received_at, message_id in run.events.get("manager", ()):
        first_seen.setdefault(message_id, received_at)
    return [
        first_seen[message_id] - sent_at[provider_id]
        for message_id, provider_id in provider_id_of.items()
        if message_id in first_seen and provider_id in sent_at
    ]


def met(figures: dict[str, Any]) -> bool:
    return (
        figures["accepted_per_s"] >= TARGETS["accepted_per_s"]
        and figures["accepted_per_s"] >= RATE_SUSTAINED * figures["offered_per_s"]
        and figures["response_p99_ms"] <= TARGETS["p99_ms"]
        and figures["http_errors"] == 0
        and figures["provider_ids_stored_twice_or_more"] == 0
        and figures["provider_ids_not_stored"] == 0
        and figures["live_missed_manager"] == 0
        and figures["live_missed_general_agent"] == 0
    )


def report(figures: dict[str, Any]) -> None:
    log("")
    rows = [
        ("webhooks/s offered", figures["offered_per_s"]),
        ("accepted/s", figures["accepted_per_s"]),
        ("requests", figures["requests"]),
        ("duplicates sent", figures["duplicates_sent"]),
        ("HTTP errors", figures["http_errors"]),
        ("response p50 ms", figures["response_p50_ms"]),
        ("response p95 ms", figures["response_p95_ms"]),
        ("response p99 ms", figures["response_p99_ms"]),
        ("inbox rows + tasks waiting after the load", figures["pending_after_load"]),
        ("all work done after s", figures["drained_after_s"]),
        ("threaded/s (start to all done)", figures["threaded_per_s"]),
        ("provider ids", figures["provider_ids"]),
        ("stored once", figures["provider_ids_stored_once"]),
        ("stored twice or more", figures["provider_ids_stored_twice_or_more"]),
        ("not stored", figures["provider_ids_not_stored"]),
        ("live events missed (manager)", figures["live_missed_manager"]),
        ("live events missed (general agent)", figures["live_missed_general_agent"]),
        ("on the console after, p50 ms", figures.get("visible_p50_ms")),
        ("on the console after, p99 ms", figures.get("visible_p99_ms")),
        ("server CPU % (gunicorn + uvicorn + celery)", figures.get("server_cpu_pct")),
        ("  per process", figures.get("server_cpu_pct_per_process")),
        ("client CPU %", figures.get("client_cpu_pct")),
        ("PostgreSQL CPU % (cluster)", figures.get("postgres_cpu_pct")),
        ("machine busy %", figures.get("machine_busy_pct")),
    ]
    for name, value in rows:
        log(f"{name:<40}{value!s:>12}")


def warm_up(
    config: Config,
    setup: Setup,
    host: str,
    loop: asyncio.AbstractEventLoop,
    port: int,
    ws_port: int,
    database: harness.ScratchDatabase,
) -> None:
    """A short run at a quarter of the rate, drained, then ANALYZE: a live installation
    has planner statistics, a scratch database has none until autovacuum's next round
    (its tables grow from empty during the run, and the planner meanwhile joins as if
    each held one row)."""
    import psycopg2

    warm = dataclasses.replace(
        config, rate=max(1.0, config.rate / 4), duration=config.warmup, grace=0.5
    )
    plan = build_plan(warm, setup, host, first_id=WARM_UP_IDS)
    log(f"  warm-up: {len(plan)} webhooks at {warm.rate:.0f}/s, then ANALYZE")
    loop.run_until_complete(drive(warm, plan, port, ws_port, setup))
    connection = psycopg2.connect(harness.pg_dsn(database.name))
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    connection.close()


def main(argv: list[str] | None = None) -> int:
    config = parse_args(sys.argv[1:] if argv is None else argv)
    database = harness.ScratchDatabase(config.database)
    load_at_start = os.getloadavg()[0]
    if load_at_start > 0.5:
        log(f"warning: load average {load_at_start:.2f} at start: other work shares the CPUs")
    _setup_django(database.url)
    env = harness.app_environment(DATABASE_URL=database.url, REDIS_URL=config.redis_url)
    figures: dict[str, Any] = {}
    try:
        log(f"setting up {database.name}")
        database.recreate()
        harness.manage(["migrate", "--no-input", "-v", "0"], env)
        live.flush_redis(config.redis_url)
        setup = build_setup()
        port, ws_port = harness.free_port(), harness.free_port()
        plan = build_plan(config, setup, f"127.0.0.1:{port}")
        log(f"  {len(plan)} webhooks planned at {config.rate:.0f}/s for {config.duration:.0f} s")
        web = harness.wsgi_server(port, config.web_workers, env, threads=config.web_threads)
        sockets = live.uvicorn_server(ws_port, 1, env)
        worker = harness.celery_worker(config.inbox_workers, env, config.inbox_nice)
        with contextlib.ExitStack() as stack:
            stack.enter_context(web)
            stack.enter_context(sockets)
            stack.enter_context(worker)
            harness.wait_until_ready(web, f"http://127.0.0.1:{port}")
            harness.wait_until_ready(sockets, f"http://127.0.0.1:{ws_port}")
            redis_pid = live.redis_pid(config.redis_url)
            window = live.CpuWindow([web, sockets, worker], redis_pid, database)
            loop = asyncio.new_event_loop()
            if config.warmup:
                warm_up(config, setup, f"127.0.0.1:{port}", loop, port, ws_port, database)
            window.start()
            run = loop.run_until_complete(drive(config, plan, port, ws_port, setup))
            cpu = window.stop()
            loop.close()
            for process in (web, worker):
                if not process.alive():
                    log(f"{process.name} died:\n{process.tail()}")
        figures = analyse(config, plan, run, cpu)
    finally:
        if not config.keep_db:
            from django.db import connections

            connections.close_all()
            database.drop()
    figures.update(
        server=f"gunicorn {config.web_workers} x {config.web_threads} threads",
        inbox_workers=config.inbox_workers,
        inbox_nice=config.inbox_nice,
        connections=config.connections,
        senders=config.senders,
        cpus=os.cpu_count(),
        loadavg_at_start=load_at_start,
    )
    report(figures)
    print(json.dumps({"bench": BENCH, "metrics": figures, "targets": TARGETS, "met": met(figures)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
