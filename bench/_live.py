"""Helpers of the live-push bench that ``bench/_harness.py`` does not have: daphne as a
subprocess, a Redis database of its own on the shared Redis, and CPU accounting of the
machine and of the processes that serve the run (ASGI server, Redis, PostgreSQL)."""

from __future__ import annotations

import os
import resource
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from bench import _harness as harness

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def daphne_server(port: int, env: dict[str, str]) -> harness.Background:
    """One daphne process (daphne has no workers option), no access log."""
    argv = [
        sys.executable,
        "-m",
        "daphne",
        "-b",
        "127.0.0.1",
        "-p",
        str(port),
        "-v",
        "0",
        "omniservice.asgi:application",
    ]
    return harness.Background(f"daphne-{port}", argv, env)


def uvicorn_server(port: int, workers: int, env: dict[str, str]) -> harness.Background:
    """The production server, exactly as the other benches start it."""
    return harness.asgi_server(port, workers, env)


def flush_redis(url: str) -> None:
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


def redis_pid(url: str) -> int | None:
    client = redis.Redis.from_url(url)
    try:
        return int(client.info("server")["process_id"])
    except (redis.RedisError, KeyError, ValueError):
        return None
    finally:
        client.close()


def sockets_per_process(url: str, groups: list[str]) -> list[int]:
    """How many channels of ``groups`` each server process holds (channels-redis names a
    process's channels ``specific.<process>!<channel>``), largest first."""
    client = redis.Redis.from_url(url)
    members: set[bytes] = set()
    try:
        for group in groups:
            members.update(client.zrange(f"asgi:group:{group}", 0, -1))
    finally:
        client.close()
    per_process = Counter(m.split(b"!", 1)[0] for m in members)
    return sorted(per_process.values(), reverse=True)


def process_cpu(pids: list[int]) -> dict[int, float]:
    """CPU seconds (user + system) of each live process among ``pids``."""
    seconds = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        seconds[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return seconds


def group_pids(server: harness.Background) -> list[int]:
    """The live processes of a server's process group (supervisor and workers)."""
    if server.process is None:
        return []
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == server.process.pid:
            pids.append(int(entry))
    return pids


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU used in between by the processes alive at the end (new ones count from 0)."""
    return sum(value - before.get(pid, 0.0) for pid, value in after.items())


def postmaster_pid(database: harness.ScratchDatabase) -> int | None:
    """The PostgreSQL postmaster: the parent of our own backend."""
    connection = database.connect()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backend = cursor.fetchone()[0]
    finally:
        connection.close()
    try:
        return int(Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def cluster_cpu_seconds(postmaster: int | None) -> float:
    """CPU of the whole PostgreSQL cluster: the postmaster, its live children, and the
    children it has reaped (a backend per request under ASGI, ``DB_CONN_MAX_AGE=0``)."""
    if postmaster is None:
        return 0.0
    try:
        fields = Path(f"/proc/{postmaster}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            child = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(child[1]) == postmaster:
            ticks += int(child[11]) + int(child[12])
    return ticks / CLOCK_TICKS


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])
    return total - idle, total


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class CpuWindow:
    """CPU used between ``start()`` and ``stop()`` by this process, the given server
    processes, Redis, PostgreSQL (the whole cluster: other databases' work included) and
    the whole machine."""

    servers: list[harness.Background]
    redis_pid: int | None
    database: harness.ScratchDatabase

    def start(self) -> None:
        self._wall = time.monotonic()
        self._own = own_cpu_seconds()
        self._server = sum(s.cpu_seconds() for s in self.servers)
        self._per_process = process_cpu([p for s in self.servers for p in group_pids(s)])
        self._redis = process_cpu([self.redis_pid] if self.redis_pid else [])
        self._postmaster = postmaster_pid(self.database)
        self._postgres = cluster_cpu_seconds(self._postmaster)
        self._machine = machine_ticks()

    def stop(self) -> dict[str, Any]:
        wall = time.monotonic() - self._wall
        busy, total = machine_ticks()
        machine_busy = (busy - self._machine[0]) / max(1, total - self._machine[1])
        redis_cpu = cpu_delta(self._redis, process_cpu(list(self._redis)))
        now = process_cpu(list(self._per_process))
        per_process = sorted(
            (round(100 * (now[pid] - self._per_process[pid]) / wall, 1) for pid in now),
            reverse=True,
        )
        postgres_cpu = cluster_cpu_seconds(self._postmaster) - self._postgres
        return {
            "window_s": round(wall, 2),
            "client_cpu_pct": round(100 * (own_cpu_seconds() - self._own) / wall, 1),
            "server_cpu_pct": round(
                100 * (sum(s.cpu_seconds() for s in self.servers) - self._server) / wall, 1
            ),
            "server_cpu_pct_per_process": [v for v in per_process if v >= 1.0],
            "redis_cpu_pct": round(100 * redis_cpu / wall, 1),
            "postgres_cpu_pct": round(100 * postgres_cpu / wall, 1),
            "machine_busy_pct": round(100 * machine_busy, 1),
        }
