# Slotwise — the commands. `make demo` and `make test` work from a fresh clone.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
# Python 3.12: pyenv's build if there is one, else whatever python3.12 is on PATH.
PYTHON312 ?= $(shell ls -d $$HOME/.pyenv/versions/3.12*/bin/python3.12 2>/dev/null | sort -V | tail -1 || true)
ifeq ($(PYTHON312),)
PYTHON312 := $(shell command -v python3.12 2>/dev/null)
endif
PG_URL ?= postgres://postgres@127.0.0.1:5432/slotwise
HOST ?= 127.0.0.1
PORT ?= 8000
BENCH ?=
# The local Swish fake the demo's Swedish organisation pays with (auto-pays after 8 seconds).
SWISH_FAKE_PORT ?= 9443
SWISH_FAKE_DIR := $(CURDIR)/var/swish-fake

.PHONY: help install venv node demo serve test test-fast test-sqlite browsers lint fmt bench messages clean

help:
	@echo "make demo   — install, load the demo organisations, run worker + web at http://$(HOST):$(PORT)"
	@echo "make test   — install, lint and run the whole test suite"
	@echo "make bench  — run the benchmarks (PostgreSQL); BENCH=<name> for one"
	@echo "make lint | make fmt | make messages"

$(PY):
	@test -n "$(PYTHON312)" || { echo "Python 3.12 not found: install it (pyenv install 3.12) and retry." >&2; exit 1; }
	$(PYTHON312) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check uv

venv: $(PY)

# Idempotent: uv only installs what the lock file says and is missing.
install: $(PY) node
	$(BIN)/uv pip sync --quiet --python $(PY) requirements.lock

node: node_modules/.package-lock.json
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --silent --no-audit --no-fund
	@touch $@

# The demo's console channels check simulated customers' messages (manage.py messaging_simulate)
# with this secret: a demo value, never one for a real installation.
demo: export CONSOLE_CHANNEL_SECRET ?= demo-console-secret
demo: install browsers
	@mkdir -p var
	DEBUG=1 $(PY) manage.py migrate --noinput
	DEBUG=1 $(PY) manage.py createcachetable
	DEBUG=1 $(PY) manage.py compilemessages --ignore=.venv --ignore=node_modules -v 0
	SWISH_FAKE_URL=https://127.0.0.1:$(SWISH_FAKE_PORT)/swish-cpcapi/api DEBUG=1 $(PY) manage.py demo_data
	@echo "Starting the Swish fake, the worker and the web server on http://$(HOST):$(PORT) (Ctrl-C stops all)"
	@export SWISH_CERT=$(SWISH_FAKE_DIR)/client.pem SWISH_KEY=$(SWISH_FAKE_DIR)/client-key.pem SWISH_CA=$(SWISH_FAKE_DIR)/ca.pem; \
	  $(PY) -m slotwise.payments.fakes.swish --port $(SWISH_FAKE_PORT) --certs-dir $(SWISH_FAKE_DIR) --auto-pay 8 >/dev/null & SWISH=$$!; \
	  DEBUG=1 $(PY) manage.py worker --queue-name '*' --interval 0.5 --no-messaging & WORKER=$$!; \
	  trap "kill $$WORKER $$SWISH 2>/dev/null" EXIT INT TERM; \
	  DEBUG=1 MESSAGING_PUMP_IN_WEB=1 $(BIN)/uvicorn slotwise.asgi:application --host $(HOST) --port $(PORT) --workers 1

# Debian packages: chromium for Playwright (its own browser download is not used), gettext.
browsers:
	@{ command -v chromium >/dev/null 2>&1 && command -v msgfmt >/dev/null 2>&1; } || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium gettext >/dev/null; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium gettext >/dev/null; fi; }

# PostgreSQL when DATABASE_URL is set or a server answers on 127.0.0.1:5432; SQLite otherwise.
test: install browsers lint
	@DB="$${DATABASE_URL:-}"; \
	if [ -z "$$DB" ] && $(PY) -c "import socket; socket.create_connection(('127.0.0.1', 5432), 1)" 2>/dev/null; then DB="$(PG_URL)"; fi; \
	if [ -n "$$DB" ]; then echo "make test: database PostgreSQL ($${DB%%@*}@…)"; else echo "make test: database SQLite"; fi; \
	DATABASE_URL="$$DB" $(MAKE) --no-print-directory _pytest && \
	if [ -n "$$DB" ]; then echo "make test: the non-browser suite again on SQLite"; $(MAKE) --no-print-directory _pytest_sqlite; fi

_pytest:
	DEBUG=0 SLOTWISE_TESTING=1 $(PY) manage.py compilemessages --ignore=.venv --ignore=node_modules -v 0
	SLOTWISE_TESTING=1 $(PY) -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

# The non-browser suite on SQLite as well (the demo's database).
test-sqlite: install _pytest_sqlite

_pytest_sqlite:
	DATABASE_URL= SLOTWISE_TESTING=1 $(PY) -m pytest -n 2 -m "not browser and not postgres" $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check slotwise bench
	$(BIN)/ruff format --check slotwise bench
	DATABASE_URL= SLOTWISE_TESTING=1 $(PY) manage.py makemigrations --check --dry-run >/dev/null

fmt: install
	$(BIN)/ruff check --fix slotwise bench
	$(BIN)/ruff format slotwise bench

messages: install
	$(PY) manage.py makemessages -l en -l sv -l ru -l nl --ignore=.venv --ignore=node_modules --ignore=var --ignore="slotwise/scheduling/engine/*" --ignore="tests_browser/*" --no-obsolete -v 0

bench: install
	@DATABASE_URL="$${DATABASE_URL:-$(PG_URL)}" SLOTWISE_TESTING=1 $(PY) -m bench $(if $(BENCH),--only $(BENCH),)

clean:
	rm -rf var .pytest_cache
