"""Headless Chromium (Debian's package) driven by Playwright against a live server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

# Playwright's sync API keeps an event loop in the test thread; the ORM calls these
# tests make (fixtures) happen between browser calls, never concurrently with them.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def browser():
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    page = context.new_page()
    external: list[str] = []

    def refuse_external(route):
        external.append(route.request.url)
        route.abort()

    page.route(
        "http*://**",
        lambda route: (
            refuse_external(route)
            if not route.request.url.startswith(("http://localhost", "http://127.0.0.1"))
            else route.continue_()
        ),
    )
    page.external_requests = external
    yield page
    context.close()


@pytest.fixture
def screenshot():
    def save(page, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=False)
        return path

    return save


# --- a real ASGI server (HTTP + websockets) for the console tests ----------------------
# pytest-django's live_server is WSGI only. The console needs websockets, so these tests
# run uvicorn on omniservice.asgi in a subprocess, against the SAME test database (a file
# on SQLite, see settings). Live events are published by the server process itself (the
# tests act through HTTP: the browser or the partner API), so the in-memory channel
# layer is enough; with REDIS_URL set the server uses Redis like production.


@dataclass(frozen=True)
class AsgiServer:
    url: str
    log: Path


def _database_url(settings_dict: dict) -> str:
    from urllib.parse import quote

    if settings_dict["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{settings_dict['NAME']}"
    user = quote(settings_dict.get("USER") or "")
    password = quote(settings_dict.get("PASSWORD") or "")
    credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or "localhost"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{credentials}{host}:{port}/{quote(settings_dict['NAME'])}"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def asgi_server(django_db_setup, django_db_blocker, tmp_path_factory):
    from django.conf import settings
    from django.db import connection

    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.fail("the ASGI server needs a file test database (settings TEST NAME)")
    port = _free_port()
    log = tmp_path_factory.mktemp("asgi") / "server.log"
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(connection.settings_dict),
        "DJANGO_SETTINGS_MODULE": "omniservice.settings",
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    layer = settings.CHANNEL_LAYERS["default"]
    if "prefix" in layer.get("CONFIG", {}):  # this run's Redis prefix: what the tests publish
        env["CHANNEL_LAYER_PREFIX"] = layer["CONFIG"]["prefix"]  # reaches the browsers
    command = [
        *(sys.executable, "-m", "uvicorn", "omniservice.asgi:application"),
        *("--host", "127.0.0.1", "--port", str(port), "--lifespan", "off"),
        *("--log-level", "warning", "--no-access-log"),
    ]
    with log.open("wb") as output:
        server = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            command, env=env, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(server, f"{url}/healthz", log)
        yield AsgiServer(url=url, log=log)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _wait_until_serving(server: subprocess.Popen, url: str, log: Path, limit: float = 30) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"the ASGI server exited:\n{log.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - localhost
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)  # polling for a socket to open, not waiting for async work
    pytest.fail(f"the ASGI server did not answer in {limit} s:\n{log.read_text(errors='replace')}")


def _refuse_external(page) -> None:
    external: list[str] = []

    def route(route):
        if route.request.url.startswith(("http://localhost", "http://127.0.0.1")):
            route.continue_()
        else:
            external.append(route.request.url)
            route.abort()

    page.route("http*://**", route)
    page.external_requests = external


@pytest.fixture
def console_page(browser, asgi_server):
    """``console_page(user)``: a browser tab of its own, logged in as ``user``."""
    from django.conf import settings
    from django.test import Client

    contexts = []

    def open_as(user, *, locale: str = "en-US", width: int = 1280, height: int = 800):
        client = Client()
        client.force_login(user)
        context = browser.new_context(viewport={"width": width, "height": height}, locale=locale)
        context.add_cookies(
            [
                {
                    "name": settings.SESSION_COOKIE_NAME,
                    "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                    "url": asgi_server.url,
                }
            ]
        )
        contexts.append(context)
        page = context.new_page()
        _refuse_external(page)
        return page

    yield open_as
    for context in contexts:
        context.close()
