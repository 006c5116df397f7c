"""What every benchmark needs around its workload: a scratch PostgreSQL database, the
production ASGI server (and a private Redis) started as subprocesses and always stopped,
an API key, and latency percentiles."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import httpx
import psycopg2
from psycopg2 import sql

PROJECT_DIR = Path(__file__).resolve().parent.parent
MANAGE = str(PROJECT_DIR / "manage.py")
DATABASE_PREFIX = "omniservice_bench"
PG_ADMIN_DSN = os.environ.get(
    "BENCH_PG_ADMIN_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
)
PG_URL_BASE = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432")


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
        self.url = f"{PG_URL_BASE}/{name}"
        self.dsn = f"{PG_ADMIN_DSN.replace('dbname=postgres', '')} dbname={name}"

    def _admin(self, statement: sql.Composable) -> None:
        connection = psycopg2.connect(PG_ADMIN_DSN)
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
        return psycopg2.connect(self.dsn)


def app_environment(**extra: str) -> dict[str, str]:
    """The environment of the app processes: production-like, quiet."""
    env = dict(os.environ)
    env.update({"DEBUG": "false", "LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1"})
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
    output = manage(["create_api_key", name, "--scopes", ",".join(scopes), "--rate", str(rate)], env)
    return output.strip().splitlines()[-1]


# --- processes --------------------------------------------------------------------------


class Background:
    """A subprocess in its own process group, stopped (TERM, then KILL) on exit."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        self.name = name
        self.argv = argv
        self.env = env
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

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

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
            try:  # workers left behind by a dead supervisor share its group
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
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
    ]
    return Background("uvicorn", argv, env)


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
