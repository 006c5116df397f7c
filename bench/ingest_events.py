"""Batch event ingest over the partner API, with identity resolution, on PostgreSQL.

    python -m bench.ingest_events            # 1,000,000 customers (a few minutes)
    python -m bench.ingest_events --quick    # 20,000 customers, a few batches (CI smoke)

Sets everything up itself: a scratch database ``omniservice_bench`` (dropped and
recreated), migrations, customers with a phone (and for 40% an email) bulk-loaded with
COPY, a few stores, an API key, a private Redis and uvicorn with N workers. Then:

- ingest: concurrent clients POST batches of 1000 events to ``/api/v1/events/``, ~70%
  for existing customers (by phone, sometimes verified, sometimes with their email or a
  new one), ~25% for new customers, ~5% resent duplicates; throughput is the accepted
  events (created + duplicate) over the wall time;
- lookup: concurrent clients call ``/api/v1/customers/lookup/?phone=...``.

The last line of output is the JSON summary of the bench conventions.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
from psycopg2 import sql

from bench import _harness as harness
from bench._harness import log

BENCH = "ingest_events"
TARGETS = {"events_per_s": 3000, "lookup_p95_ms": 15}
BATCH_SIZE = 1000
EXISTING_PREFIXES = ("135", "136", "137", "138", "139", "150", "151", "152", "158", "159")
EXISTING_PREFIXES += ("186", "187", "188")
NEW_PREFIX = "199"  # customers created during the run: disjoint from the loaded ones
EMAIL_DOMAINS = ("example.com", "example.cn", "example.net")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = ("伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "艳", "杰", "婷", "涛", "明")
EVENT_KINDS = ("order", "order_status", "browse", "store_visit", "return", "feedback")
EVENT_WEIGHTS = (30, 25, 20, 10, 5, 10)
CST = timezone(timedelta(hours=8))


@dataclass
class Config:
    customers: int
    clients: int
    batches: int  # timed batches per client
    warmup_batches: int
    workers: int
    server: str
    lookups: int
    lookup_clients: int
    stores: int
    seed: int
    redis: bool
    keep_db: bool
    database: str


def parse_args(argv: list[str]) -> Config:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest_events", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small smoke run (CI)")
    parser.add_argument("--customers", type=int, help="customers to load (default 1,000,000)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent ingest clients")
    parser.add_argument("--batches", type=int, help="timed batches of 1000 per client")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument(
        "--server",
        choices=["gunicorn", "uvicorn"],
        default="gunicorn",
        help="gunicorn (WSGI, production HTTP) or uvicorn (ASGI)",
    )
    parser.add_argument("--lookups", type=int, help="timed lookups in total")
    parser.add_argument(
        "--lookup-clients", type=int, default=2, help="concurrent lookup clients (= workers)"
    )
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--no-redis", action="store_true", help="run without a private Redis")
    parser.add_argument("--keep-db", action="store_true", help="keep the database afterwards")
    parser.add_argument("--database", default="omniservice_bench")
    args = parser.parse_args(argv)
    if not args.database.startswith(harness.DATABASE_PREFIX):
        parser.error(f"--database must start with {harness.DATABASE_PREFIX}")
    if not 1 <= args.clients <= 10:
        parser.error("--clients must be between 1 and 10")
    quick = args.quick
    return Config(
        customers=args.customers or (20_000 if quick else 1_000_000),
        clients=2 if quick and args.clients == 4 else args.clients,
        batches=args.batches or (3 if quick else 40),
        warmup_batches=1,
        workers=args.workers,
        server=args.server,
        lookups=args.lookups or (400 if quick else 4000),
        lookup_clients=args.lookup_clients,
        stores=20,
        seed=args.seed,
        redis=not args.no_redis,
        keep_db=args.keep_db,
        database=args.database,
    )


# --- the loaded population: customer i is fully derived from i ---------------------------


def _suffix(n: int) -> str:
    """Eight digits, a bijection of n modulo 10**8 (numbers look random, never repeat)."""
    return f"{(n * 7919 + 4201) % 100_000_000:08d}"


def phone_of(i: int) -> str:
    return (
        f"+86{EXISTING_PREFIXES[i % len(EXISTING_PREFIXES)]}{_suffix(i // len(EXISTING_PREFIXES))}"
    )


def email_of(i: int) -> str | None:
    return f"c{i}@{EMAIL_DOMAINS[i % 3]}" if i % 5 in (0, 2) else None


def public_id_of(i: int, alphabet: str) -> str:
    """cus_ + 16 base32 characters; an odd multiplier modulo 2**80 keeps them unique."""
    value = (i * 0x9E3779B97F4A7C15 + 0x5BD1E995) % (1 << 80)
    chars = []
    for _ in range(16):
        value, digit = divmod(value, 32)
        chars.append(alphabet[digit])
    return "cus_" + "".join(chars)


def _copy_text(value: Any) -> str:
    if value is None:
        return r"\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    return str(value)


def _copy_rows(cursor: Any, model: Any, rows: Iterator[dict[str, Any]], chunk: int) -> int:
    """COPY rows (dicts keyed by field attname) into the model's table; columns from _meta."""
    fields = model._meta.concrete_fields
    names = [f.attname for f in fields]
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(model._meta.db_table),
        sql.SQL(", ").join(sql.Identifier(f.column) for f in fields),
    )
    total = 0
    buffer = io.StringIO()
    for row in rows:
        if total == 0 and set(row) != set(names):
            raise SystemExit(
                f"{model.__name__} fields changed: bench gives {sorted(row)}, model has "
                f"{sorted(names)}. Update bench/ingest_events.py."
            )
        buffer.write("\t".join(_copy_text(row[name]) for name in names))
        buffer.write("\n")
        total += 1
        if total % chunk == 0:
            buffer.seek(0)
            cursor.copy_expert(statement, buffer)
            buffer = io.StringIO()
    if buffer.tell():
        buffer.seek(0)
        cursor.copy_expert(statement, buffer)
    return total


def load_population(database: harness.ScratchDatabase, config: Config) -> dict[str, int]:
    """Stores, then customers and their identities with COPY; sequences; VACUUM ANALYZE."""
    from customers.models import PUBLIC_ID_ALPHABET, Customer, Identity
    from omniservice.org.models import Store

    rng = random.Random(config.seed)
    now = datetime.now(UTC)
    stores = Store.objects.bulk_create(
        Store(code=f"s{n:03d}", name=f"{n}号店", name_en=f"Store {n}", city="上海")
        for n in range(1, config.stores + 1)
    )
    store_ids = [store.pk for store in stores]
    tiers = ["standard"] * 80 + ["silver"] * 12 + ["gold"] * 6 + ["vip"] * 2
    created = [
        (now - timedelta(seconds=rng.randrange(3 * 365 * 86400))).isoformat(sep=" ")
        for _ in range(config.customers)
    ]

    def customers() -> Iterator[dict[str, Any]]:
        for i in range(config.customers):
            yield {
                "id": i + 1,
                "public_id": public_id_of(i, PUBLIC_ID_ALPHABET),
                "name": rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(("", *GIVEN)),
                "language": "en" if i % 10 == 3 else "zh-hans",
                "timezone": "Asia/Shanghai",
                "tier": tiers[i % 100],
                "preferred_channel": ("", "", "sms", "wechat", "email")[i % 5],
                "contact_hours_start": None,
                "contact_hours_end": None,
                "home_store_id": store_ids[i % len(store_ids)] if i % 3 == 0 else None,
                "status": "active",
                "merged_into_id": None,
                "merged_at": None,
                "created_at": created[i],
                "updated_at": created[i],
            }

    def identities() -> Iterator[dict[str, Any]]:
        next_id = 1
        for i in range(config.customers):
            values = [("phone", phone_of(i), i % 5 != 1)]
            email = email_of(i)
            if email:
                values.append(("email", email, i % 2 == 0))
            for kind, value, verified in values:
                yield {
                    "id": next_id,
                    "customer_id": i + 1,
                    "kind": kind,
                    "value": value,
                    "verified": verified,
                    "source": "crm",
                    "created_at": created[i],
                }
                next_id += 1

    connection = database.connect()
    try:
        with connection, connection.cursor() as cursor:
            started = time.perf_counter()
            n_customers = _copy_rows(cursor, Customer, customers(), 100_000)
            n_identities = _copy_rows(cursor, Identity, identities(), 100_000)
            for model in (Customer, Identity):
                table = sql.Identifier(model._meta.db_table)
                cursor.execute(
                    sql.SQL(
                        "SELECT setval(pg_get_serial_sequence(%s, 'id'), (SELECT max(id) FROM {}))"
                    ).format(table),
                    [model._meta.db_table],
                )
        log(
            f"  loaded {n_customers:,} customers and {n_identities:,} identities "
            f"in {time.perf_counter() - started:.1f} s"
        )
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("VACUUM (ANALYZE)")
    finally:
        connection.close()
    return {"customers": n_customers, "identities": n_identities, "stores": len(store_ids)}


# --- the workload ------------------------------------------------------------------------


@dataclass
class ClientWork:
    client: int
    bodies: list[bytes] = field(default_factory=list)
    warmup: list[bytes] = field(default_factory=list)
    expected_duplicates: int = 0  # among the timed batches


def _phone_as_sent(e164: str, rng: random.Random) -> str:
    national = e164[3:]
    return rng.choice(
        (e164, national, f"+86 {national[:3]} {national[3:7]} {national[7:]}", f"86{national}")
    )


def _event(
    rng: random.Random, external_id: str, identities: list[dict[str, Any]], stores: list[str]
) -> dict[str, Any]:
    kind = rng.choices(EVENT_KINDS, EVENT_WEIGHTS)[0]
    occurred = datetime.now(CST) - timedelta(seconds=rng.randrange(30 * 86400))
    event: dict[str, Any] = {
        "kind": kind,
        "source": {"browse": "app", "store_visit": "pos", "feedback": "survey"}.get(kind, "shop"),
        "external_id": external_id,
        "occurred_at": occurred.isoformat(timespec="seconds"),
        "identities": identities,
    }
    sku = f"SKU{rng.randrange(5000):05d}"
    if kind == "order":
        event["amount"] = f"{rng.randrange(1990, 299_900) / 100:.2f}"
        event["currency"] = "CNY"
        event["data"] = {"items": [{"sku": sku, "qty": rng.randint(1, 3)}], "channel": "online"}
        if rng.random() < 0.3:
            event["store"] = rng.choice(stores)
            event["data"]["channel"] = "store"
    elif kind == "order_status":
        status = rng.choice(("paid", "shipped", "delivered"))
        event["data"] = {"status": status, "order": f"o-{rng.randrange(10**7)}"}
    elif kind == "browse":
        event["data"] = {"url": f"/p/{sku}", "seconds": rng.randint(3, 600)}
    elif kind == "store_visit":
        event["store"] = rng.choice(stores)
        event["data"] = {"minutes": rng.randint(2, 90)}
    elif kind == "return":
        event["amount"] = f"{rng.randrange(1990, 99_900) / 100:.2f}"
        event["currency"] = "CNY"
        event["data"] = {"order": f"o-{rng.randrange(10**7)}", "reason": "size"}
    else:
        event["data"] = {"rating": rng.randint(1, 5), "comment": rng.choice(("好", "一般", "慢"))}
    return event


def _existing_identities(i: int, rng: random.Random) -> list[dict[str, Any]]:
    phone: dict[str, Any] = {"kind": "phone", "value": _phone_as_sent(phone_of(i), rng)}
    if rng.random() < 0.5:
        phone["verified"] = True
    identities = [phone]
    email = email_of(i)
    if email and rng.random() < 0.5:
        identities.append({"kind": "email", "value": email.capitalize()})
    elif not email and rng.random() < 0.05:
        identities.append({"kind": "email", "value": f"n{i}@example.org", "verified": True})
    return identities


def build_workload(config: Config, stores: list[str]) -> list[ClientWork]:
    """Every batch body, serialised before the clock starts (clients only send)."""
    work = []
    for client in range(config.clients):
        rng = random.Random(config.seed * 100 + client)
        mine = ClientWork(client)
        new_people = 0
        previous: list[dict[str, Any]] = []
        for batch in range(config.warmup_batches + config.batches):
            duplicates = BATCH_SIZE // 20 if previous else 0
            fresh_people = BATCH_SIZE // 4
            items = rng.sample(previous, duplicates)
            this_batch_new: list[list[dict[str, Any]]] = []
            for j in range(BATCH_SIZE - duplicates):
                external_id = f"e-{client}-{batch}-{j}"
                if j < fresh_people:
                    if this_batch_new and rng.random() < 0.2:  # a second event, same person
                        identities = rng.choice(this_batch_new)
                    else:
                        new_people += 1
                        phone = f"+86{NEW_PREFIX}{_suffix(client * 10_000_000 + new_people)}"
                        identities = [{"kind": "phone", "value": _phone_as_sent(phone, rng)}]
                        if rng.random() < 0.5:
                            identities.append(
                                {"kind": "email", "value": f"new{client}.{new_people}@example.net"}
                            )
                        this_batch_new.append(identities)
                    event = _event(rng, external_id, identities, stores)
                    event["customer"] = {"name": rng.choice(SURNAMES) + rng.choice(GIVEN)}
                else:
                    customer = rng.randrange(config.customers)
                    event = _event(rng, external_id, _existing_identities(customer, rng), stores)
                items.append(event)
            rng.shuffle(items)
            previous = items
            body = json.dumps({"events": items}, ensure_ascii=False).encode()
            if batch < config.warmup_batches:
                mine.warmup.append(body)
            else:
                mine.bodies.append(body)
                mine.expected_duplicates += duplicates
        work.append(mine)
    return work


# --- the two phases ----------------------------------------------------------------------


@dataclass
class BatchOutcome:
    seconds: float
    status: int
    created: int = 0
    duplicates: int = 0
    errors: int = 0
    sample_error: Any = None


def _post_batches(base_url: str, key: str, bodies: list[bytes]) -> list[BatchOutcome]:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    outcomes = []
    with httpx.Client(base_url=base_url, headers=headers, timeout=120) as client:
        for body in bodies:
            began = time.perf_counter()
            response = client.post("/api/v1/events/", content=body)
            seconds = time.perf_counter() - began
            outcome = BatchOutcome(seconds, response.status_code)
            if response.status_code == 200:
                answer = response.json()
                outcome.created = answer["created"]
                outcome.duplicates = answer["duplicates"]
                outcome.errors = answer["errors"]
                if outcome.errors:
                    outcome.sample_error = next(
                        r["error"] for r in answer["results"] if r["status"] == "error"
                    )
            else:
                outcome.errors = BATCH_SIZE
                outcome.sample_error = response.text[:500]
            outcomes.append(outcome)
    return outcomes


def run_ingest(
    base_url: str, key: str, work: list[ClientWork], server: harness.Background
) -> dict[str, Any]:
    harness.run_concurrently(lambda w: _post_batches(base_url, key, w.warmup), work)
    cpu_before = server.cpu_seconds()
    wall, per_client = harness.run_concurrently(
        lambda w: _post_batches(base_url, key, w.bodies), work
    )
    server_cpu = server.cpu_seconds() - cpu_before
    outcomes = [o for client in per_client for o in client]
    created = sum(o.created for o in outcomes)
    duplicates = sum(o.duplicates for o in outcomes)
    samples = [o.sample_error for o in outcomes if o.sample_error is not None]
    latency = harness.percentiles_ms([o.seconds for o in outcomes])
    return {
        "events_per_s": round((created + duplicates) / wall, 1),
        "events_sent": sum(len(w.bodies) for w in work) * BATCH_SIZE,
        "events_created": created,
        "events_duplicate": duplicates,
        "duplicates_expected": sum(w.expected_duplicates for w in work),
        "event_errors": sum(o.errors for o in outcomes),
        "http_errors": sum(1 for o in outcomes if o.status != 200),
        "batches": len(outcomes),
        "batch_size": BATCH_SIZE,
        "ingest_wall_s": round(wall, 2),
        "batch_p50_ms": latency["p50"],
        "batch_p95_ms": latency["p95"],
        "batch_p99_ms": latency["p99"],
        "batch_max_ms": latency["max"],
        "server_cpu_ms_per_batch": round(server_cpu * 1000 / max(1, len(outcomes)), 1),
        "_error_samples": samples[:3],
    }


def _lookups(base_url: str, key: str, phones: list[str]) -> tuple[list[float], list[str]]:
    seconds: list[float] = []
    errors: list[str] = []
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
        for phone in phones:
            began = time.perf_counter()
            response = client.get("/api/v1/customers/lookup/", params={"phone": phone})
            seconds.append(time.perf_counter() - began)
            if response.status_code != 200 or not response.json()["id"].startswith("cus_"):
                errors.append(f"{response.status_code} {response.text[:300]}")
    return seconds, errors


def run_lookups(
    base_url: str, key: str, config: Config, server: harness.Background
) -> dict[str, Any]:
    rng = random.Random(config.seed + 7)
    per_client = max(1, config.lookups // config.lookup_clients)

    def phones(count: int) -> list[str]:
        return [
            _phone_as_sent(phone_of(rng.randrange(config.customers)), rng) for _ in range(count)
        ]

    warmup = [phones(50) for _ in range(config.lookup_clients)]
    harness.run_concurrently(lambda p: _lookups(base_url, key, p), warmup)
    jobs = [phones(per_client) for _ in range(config.lookup_clients)]
    cpu_before = server.cpu_seconds()
    wall, results = harness.run_concurrently(lambda p: _lookups(base_url, key, p), jobs)
    server_cpu = server.cpu_seconds() - cpu_before
    seconds = [s for client_seconds, _errors in results for s in client_seconds]
    latency = harness.percentiles_ms(seconds)
    return {
        "lookup_requests": len(seconds),
        "lookup_errors": sum(len(errors) for _seconds, errors in results),
        "_lookup_error_samples": [e for _seconds, errors in results for e in errors][:3],
        "lookups_per_s": round(len(seconds) / wall, 1),
        "lookup_p50_ms": latency["p50"],
        "lookup_p95_ms": latency["p95"],
        "lookup_p99_ms": latency["p99"],
        "lookup_max_ms": latency["max"],
        "server_cpu_ms_per_lookup": round(server_cpu * 1000 / max(1, len(seconds)), 2),
    }


def _stored_counts(database: harness.ScratchDatabase) -> dict[str, int]:
    from customers.models import Customer, CustomerEvent, Identity, MergeSuggestion

    counts = {}
    connection = database.connect()
    try:
        with connection.cursor() as cursor:
            for label, model in (
                ("customers_after", Customer),
                ("identities_after", Identity),
                ("events_in_db", CustomerEvent),
                ("merge_suggestions", MergeSuggestion),
            ):
                table = sql.Identifier(model._meta.db_table)
                cursor.execute(sql.SQL("SELECT count(*) FROM {}").format(table))
                counts[label] = cursor.fetchone()[0]
    finally:
        connection.close()
    return counts


# --- main --------------------------------------------------------------------------------


def _setup_django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omniservice.settings")
    os.environ["DEBUG"] = "false"
    os.environ["LOG_LEVEL"] = "WARNING"
    os.environ.pop("REDIS_URL", None)
    import django

    django.setup()


def _report(config: Config, metrics: dict[str, Any]) -> None:
    log("")
    log(
        f"ingest  {metrics['events_per_s']:>9,.0f} events/s (target >= {TARGETS['events_per_s']:,})"
    )
    log(
        f"        {metrics['events_created']:,} created, {metrics['events_duplicate']:,} "
        f"duplicates (expected {metrics['duplicates_expected']:,}), "
        f"{metrics['event_errors']:,} item errors, {metrics['http_errors']} HTTP errors"
    )
    log(
        f"        batch of {BATCH_SIZE}: p50 {metrics['batch_p50_ms']:.0f} ms, "
        f"p95 {metrics['batch_p95_ms']:.0f} ms, p99 {metrics['batch_p99_ms']:.0f} ms "
        f"({metrics['batches']} batches, {config.clients} clients, {config.workers} workers)"
    )
    log(
        f"lookup  p50 {metrics['lookup_p50_ms']:.2f} ms, p95 {metrics['lookup_p95_ms']:.2f} ms "
        f"(target <= {TARGETS['lookup_p95_ms']}), p99 {metrics['lookup_p99_ms']:.2f} ms, "
        f"{metrics['lookups_per_s']:,.0f}/s, {metrics['lookup_errors']} errors "
        f"({metrics['lookup_requests']:,} requests, {config.lookup_clients} clients)"
    )
    log(
        f"data    {metrics['customers_loaded']:,} customers loaded, "
        f"{metrics['customers_after']:,} after the run, {metrics['events_in_db']:,} events stored"
    )


def main(argv: list[str] | None = None) -> int:
    config = parse_args(sys.argv[1:] if argv is None else argv)
    database = harness.ScratchDatabase(config.database)
    redis_port, server_port = harness.free_port(), harness.free_port()
    redis = harness.redis_server(redis_port) if config.redis else None
    extra = {"DATABASE_URL": database.url}
    if redis is not None:
        extra["REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
    env = harness.app_environment(**extra)
    base_url = f"http://127.0.0.1:{server_port}"
    metrics: dict[str, Any] = {}
    load_at_start = os.getloadavg()[0]
    if load_at_start > 0.5:
        log(f"warning: load average {load_at_start:.2f} at start: other work shares the CPUs")
    _setup_django(database.url)
    try:
        log(f"setting up {database.name} with {config.customers:,} customers")
        database.recreate()
        harness.manage(["migrate", "--no-input", "-v", "0"], env)
        volume = load_population(database, config)
        key = harness.create_api_key(
            "bench", ["events:write", "customers:read"], rate=10_000_000, env=env
        )
        stores = [f"s{n:03d}" for n in range(1, config.stores + 1)]
        work = build_workload(config, stores)
        log(f"  built {sum(len(w.bodies) + len(w.warmup) for w in work)} batches")
        if redis is not None:
            redis.start()
            harness.wait_for_redis(redis_port)
        server = harness.http_server(config.server, server_port, config.workers, env)
        with server:
            harness.wait_until_ready(server, base_url)
            log(f"ingest: {config.clients} clients x {config.batches} batches of {BATCH_SIZE}")
            with harness.BackendSampler(database) as backends:
                metrics.update(run_ingest(base_url, key, work, server))
            metrics["db_backends_peak_ingest"] = backends.peak
            log(f"lookup: {config.lookup_clients} clients, {config.lookups:,} requests")
            with harness.BackendSampler(database) as backends:
                metrics.update(run_lookups(base_url, key, config, server))
            metrics["db_backends_peak_lookup"] = backends.peak
            if metrics["http_errors"] or metrics["lookup_errors"]:
                log(f"server log (last lines):\n{server.tail(15)}")
        metrics.update(_stored_counts(database))
    finally:
        if redis is not None:
            redis.stop()
        if not config.keep_db:
            from django.db import connections

            connections.close_all()
            database.drop()
    samples = metrics.pop("_error_samples", []) + metrics.pop("_lookup_error_samples", [])
    metrics.update(
        customers_loaded=volume["customers"],
        identities_loaded=volume["identities"],
        stores=volume["stores"],
        server=f"{config.server} --workers {config.workers}",
        ingest_clients=config.clients,
        lookup_clients=config.lookup_clients,
        redis=redis is not None,
        cpus=os.cpu_count(),
        loadavg_at_start=round(load_at_start, 2),
    )
    _report(config, metrics)
    for sample in samples:
        log(f"error sample: {sample}")
    errors = metrics["event_errors"] + metrics["http_errors"] + metrics["lookup_errors"]
    met = (
        metrics["events_per_s"] >= TARGETS["events_per_s"]
        and metrics["lookup_p95_ms"] <= TARGETS["lookup_p95_ms"]
        and errors == 0
    )
    print(json.dumps({"bench": BENCH, "metrics": metrics, "targets": TARGETS, "met": met}))
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
