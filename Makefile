# omniservice: `make run` for the embedded quick start, `make test` for the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
HOST ?= 127.0.0.1
PORT ?= 8000
STAMP := $(VENV)/.installed-dev

.PHONY: run install test lint messages migrate seed worker beat serve serve-ws clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

messages: install
	cd $(CURDIR) && $(PY) manage.py compilemessages --ignore '.venv/*' --verbosity 0

migrate: install
	$(PY) manage.py migrate --no-input --verbosity 1

seed: migrate
	$(PY) manage.py seed_demo

# The embedded quick start: SQLite under var/, in-memory channel layer, in-process Celery.
run: messages seed
	$(PY) manage.py collectstatic --no-input --verbosity 0
	@echo ""
	@echo "omniservice is starting on http://$(HOST):$(PORT)/  (admin: /admin/, API docs: /api/docs/, /readyz)"
	@# Embedded mode (no REDIS_URL): tasks run in-process, and one beat beside the server runs
	@# the periodic tasks itself (eager, no broker; EMBEDDED_BEAT=0 to leave it out).
	@if [ -z "$$REDIS_URL" ] && [ "$${EMBEDDED_BEAT:-1}" != 0 ]; then \
	  $(BIN)/celery -A omniservice beat --loglevel WARNING --pidfile= & beat=$$!; \
	  trap 'kill $$beat 2>/dev/null' EXIT INT TERM; \
	fi; \
	DEBUG=$${DEBUG:-true} $(BIN)/uvicorn omniservice.asgi:application --host $(HOST) --port $(PORT) --lifespan off

# Production-style servers, behind a proxy that sends /ws/ to serve-ws (deploy/nginx.conf):
# HTTP on threaded WSGI workers, websockets on the ASGI application.
serve: messages
	DB_CONN_MAX_AGE=$${DB_CONN_MAX_AGE:-60} $(BIN)/gunicorn omniservice.wsgi:application --bind $(HOST):$(PORT) --workers $${WEB_WORKERS:-2} --worker-class gthread --threads $${WEB_THREADS:-4}

serve-ws: messages
	$(BIN)/uvicorn omniservice.asgi:application --host $(HOST) --port $${WS_PORT:-8001} --workers $${WS_WORKERS:-2} --no-access-log --proxy-headers --lifespan off --ws-per-message-deflate false

worker: install
	@test -n "$$REDIS_URL" || { echo "make worker needs REDIS_URL (without it tasks run inside the web process)"; exit 1; }
	$(BIN)/celery -A omniservice worker --loglevel INFO --concurrency $${CELERY_CONCURRENCY:-2}

# One beat per installation; periodic tasks live in the database (django-celery-beat),
# editable in the admin, seeded from CELERY_BEAT_SCHEDULE (omniservice/beat.py).
beat: install
	@test -n "$$REDIS_URL" || { echo "make beat needs REDIS_URL (the broker the workers read; without it make run starts its own beat)"; exit 1; }
	$(BIN)/celery -A omniservice beat --loglevel INFO

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(PY) manage.py makemigrations --check --dry-run --verbosity 0

# The browser tests run in their own pytest process: Playwright's session-wide event loop
# must not share a process with the asyncio websocket tests.
test: messages lint
	$(BIN)/pytest -q --ignore=tests/e2e
	$(BIN)/pytest -q tests/e2e

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache
