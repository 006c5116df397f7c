"""What every benchmark needs around its workload: a scratch PostgreSQL database, the
production ASGI server (and a private Redis) started as subprocesses and always stopped,
an API key, and latency percentiles."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, TypeVar

import httpx
import psycopg2
from psycopg2 import sql

T = TypeVar("T")
R = TypeVar("R")

PROJECT_DIR = Path(__file__).resolve().parent.parent
MANAGE = str(PROJECT_DIR / "manage.py")
DATABASE_PREFIX = "omniservice_bench"
PG_HOST = os.environ.get("BENCH_PG_HOST", "127.0.0.1")
PG_PORT = os.environ.get("BENCH_PG_PORT", "5432")
PG_USER = os.environ.get("BENCH_PG_USER", "postgres")  # trust authentication, local only


def pg_dsn(database: str) -> str:
    return f"host={PG_HOST} port={PG_PORT} user={PG_USER} dbname={database}"


def log(message: str) -> None:
    print(message, flush=True)


def percentiles_ms(seconds: Sequence[float]) -> dict[str, float]:
    """p50 / p95 / p99 / max of durations given in seconds, in milliseconds."""
    if not seconds:
        return {"p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0}
    if len(seconds) == 1:
        only = round(seconds[0] * 1000, 2)
        return {"p50": only, "p95": only, "p99": only, "max": only}
    cuts = statistics.quantiles(seconds, n=100, method="inclusive")
    return {
        "p50": round(cuts[49] * 1000, 2),
        "p95": round(cuts[94] * 1000, 2),
        "p99": round(cuts[98] * 1000, 2),
        "max": round(max(seconds) * 1000, 2),
    }


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- database ---------------------------------------------------------------------------


class ScratchDatabase:
    """A PostgreSQL database dropped and recreated for one run (name must be a bench one)."""

    def __init__(self, name: str) -> None:
        if not name.startswith(DATABASE_PREFIX):
            raise ValueError(f"bench databases must be named {DATABASE_PREFIX}*")
        self.name = name
        self.url = f"postgres://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"

    def _admin(self, statement: sql.Composable) -> None:
        connection = psycopg2.connect(pg_dsn("postgres"))
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(statement)
        finally:
            connection.close()

    def recreate(self) -> None:
        self.drop()
        self._admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.name)))

    def drop(self) -> None:
        self._admin(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.name))
        )

    def connect(self) -> psycopg2.extensions.connection:
        return psycopg2.connect(pg_dsn(self.name))


class BackendSampler:
    """Samples how many PostgreSQL backends serve the database, in a thread; keeps the max."""

    def __init__(self, database: ScratchDatabase, interval: float = 0.25) -> None:
        self.database = database
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        connection = psycopg2.connect(pg_dsn("postgres"))
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                while not self._stop.is_set():
                    cursor.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s",
                        [self.database.name],
                    )
                    self.peak = max(self.peak, cursor.fetchone()[0])
                    self._stop.wait(self.interval)
        finally:
            connection.close()

    def __enter__(self) -> BackendSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def app_environment(**extra: str) -> dict[str, str]:
    """The environment of the app processes: production-like, quiet.

    ``DB_CONN_MAX_AGE=0``: under ASGI every request runs in a new thread, so a persistent
    connection is never reused and only piles up idle backends until garbage collection
    (``too many clients`` on a shared server). Pass ``DB_CONN_MAX_AGE`` to override.
    """
    env = dict(os.environ)
    env.update({"DEBUG": "false", "LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1"})
    env.setdefault("DB_CONN_MAX_AGE", "0")
    env.pop("REDIS_URL", None)
    env.update(extra)
    return env


def manage(args: list[str], env: dict[str, str]) -> str:
    """Run ``manage.py`` with ``args``; its stdout, or SystemExit with its stderr."""
    done = subprocess.run(
        [sys.executable, MANAGE, *args],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{done.stderr[-4000:]}")
    return done.stdout


def create_api_key(name: str, scopes: list[str], rate: int, env: dict[str, str]) -> str:
    output = manage(
        ["create_api_key", name, "--scopes", ",".join(scopes), "--rate", str(rate)], env
    )
    return output.strip().splitlines()[-1]


# --- processes --------------------------------------------------------------------------


class Background:
    """A subprocess in its own process group, stopped (TERM, then KILL) on exit."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], niceness: int = 0) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.niceness = niceness
        self.log_dir = Path(tempfile.mkdtemp(prefix=f"omniservice-bench-{name}-"))
        self.log_path = self.log_dir / "output.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> None:
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            self.argv,
            cwd=PROJECT_DIR,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if self.niceness:
            self._lower_priority()

    def _lower_priority(self) -> None:
        """Lower the CPU priority of the whole session, not only of its processes.

        With the kernel's autogroup scheduling (``kernel.sched_autogroup_enabled``, on by
        default on desktop and many server kernels) every session is a scheduling group
        of its own, and a process's nice value only ranks it inside its group: a niced
        worker in a session of its own still got as much CPU as the web server. The
        group's own niceness is set through ``/proc/<pid>/autogroup``.
        """
        assert self.process is not None
        try:
            Path(f"/proc/{self.process.pid}/autogroup").write_text(str(self.niceness))
        except OSError as exc:  # no autogroup support: the process's own nice value rules
            log(f"  {self.name}: session niceness not set ({exc}); process niceness only")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the live processes of the group."""
        if self.process is None:
            return 0.0
        ticks = 0
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == self.process.pid:  # process group id
                ticks += int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, keep_log: bool = False) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        if process is not None:
            with contextlib.suppress(ProcessLookupError):  # workers of a dead supervisor
                os.killpg(process.pid, signal.SIGKILL)
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if not keep_log:
            shutil.rmtree(self.log_dir, ignore_errors=True)

    def __enter__(self) -> Background:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop(keep_log=exc_info[0] is not None)


def redis_server(port: int) -> Background | None:
    """A private, non-persistent Redis, or None if redis-server is not installed."""
    binary = shutil.which("redis-server")
    if binary is None:
        return None
    argv = [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"]
    return Background("redis", argv, dict(os.environ))


def wait_for_redis(port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"redis did not answer on port {port}")


def asgi_server(port: int, workers: int, env: dict[str, str]) -> Background:
    """The production ASGI server: uvicorn with N worker processes, no access log."""
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "omniservice.asgi:application",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
        "--log-level",
        "warning",
        "--lifespan",
        "off",
        "--ws-per-message-deflate",
        "false",
    ]
    return Background("uvicorn", argv, env)


def wsgi_server(port: int, workers: int, env: dict[str, str], threads: int = 4) -> Background:
    """The production HTTP server: gunicorn with threaded WSGI workers.

    Under WSGI a worker thread keeps its database connection (``DB_CONN_MAX_AGE``) and a
    request crosses no event-loop/thread boundary, which roughly halves the CPU a short
    API request costs compared with Django under ASGI.
    """
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "omniservice.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        "gthread",
        "--threads",
        str(threads),
        "--log-level",
        "warning",
    ]
    return Background("gunicorn", argv, {**env, "DB_CONN_MAX_AGE": "60"})


def celery_worker(concurrency: int, env: dict[str, str], niceness: int = 0) -> Background:
    """A Celery worker of the project (prefork), as ``make worker`` starts it; ``niceness``
    lowers its CPU priority below the web servers' (one machine playing every node)."""
    argv = [
        *(["nice", "-n", str(niceness)] if niceness else []),
        sys.executable,
        "-m",
        "celery",
        "-A",
        "omniservice",
        "worker",
        "--concurrency",
        str(concurrency),
        "--loglevel",
        "WARNING",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    return Background("celery", argv, {**env, "DB_CONN_MAX_AGE": "60"}, niceness=niceness)


def http_server(kind: str, port: int, workers: int, env: dict[str, str]) -> Background:
    if kind == "gunicorn":
        return wsgi_server(port, workers, env)
    if kind == "uvicorn":
        return asgi_server(port, workers, env)
    raise ValueError(f"unknown server {kind!r}")


def wait_until_ready(server: Background, base_url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not server.alive():
            raise SystemExit(f"the server exited during start-up:\n{server.tail()}")
        try:
            if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the server was not ready after {timeout:.0f} s:\n{server.tail()}")


def run_concurrently(work: Callable[[T], R], jobs: Sequence[T]) -> tuple[float, list[R]]:
    """Run ``work(job)`` for every job in its own thread, started together.

    Returns the wall time from the common start to the last finish, and the results
    in job order. An exception in a job is re-raised here.
    """
    results: list[R | None] = [None] * len(jobs)
    failures: list[BaseException] = []
    start = threading.Barrier(len(jobs) + 1)

    def run(position: int) -> None:
        start.wait()
        try:
            results[position] = work(jobs[position])
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(p,), daemon=True) for p in range(len(jobs))]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    if failures:
        raise failures[0]
    return wall, [r for r in results if r is not None]
