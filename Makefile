# chuishao: four nameko services (whistle, dispatch, roster, metrics) over RabbitMQ.
# `make` alone lists the targets.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PY ?= $(shell command -v python3.11 >/dev/null 2>&1 && echo python3.11 || echo python3)
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
ARGS ?=
PYTEST_ARGS ?=

LOCK_IMPORTS := nameko, eventlet, kombu, amqp, werkzeug, sqlalchemy, psycopg2, psycogreen, \
                pydantic, pika, prometheus_client, honcho, shapely, chinese_calendar, \
                hypothesis, schemathesis, yaml, jwt, cryptography, typer, dateutil, icalendar, jinja2, \
                babel, click, rich, requests, playwright

.PHONY: help venv broker prometheus chromium db migration provision token run demo lint test unit bench chaos dlq catalogs lock clean

help:
	@echo "make venv    create .venv and install the project with requirements.lock as constraints"
	@echo "make broker  make sure RabbitMQ answers at AMQP_URI (starts or installs a local one)"
	@echo "make db      create every service's database, upgrade it to its newest revision, load reference data"
	@echo "make migration SERVICE=whistle MSG='add postings'   write the next revision of a service (or all) from its orm.py"
	@echo "make provision  one confined broker account per street, department and service (rabbitmqctl, as root)"
	@echo "make token   bearer tokens: T=\$$(make -s token ARGS='issue --street daxigou') | ARGS='revoke ID' | ARGS='list'"
	@echo "make prometheus  make sure prometheus and promtool are installed (the tests run them)"
	@echo "make chromium  make sure Chromium is installed (the browser tests drive it with Playwright)"
	@echo "make run     start all four services under honcho (Ctrl-C stops them all)"
	@echo "make demo    a demo load against the running services (ARGS='run --whistles 200', ARGS=drill)"
	@echo "make test    whole suite on SQLite, and on PostgreSQL alongside when one is reachable"
	@echo "make unit    unit tests only (no broker, no database server)"
	@echo "make lint    static checks: ruff over the tree, mypy over services/common (make test runs them first)"
	@echo "make bench   run the benchmark (python -m bench)"
	@echo "make chaos   run the failure tests in tests/chaos"
	@echo "make cluster-test  1,000 whistles through a 3-node RabbitMQ cluster while nodes are stopped and killed"
	@echo "make replica-test  2-3 replicas per service on PostgreSQL: kill -9 of single replicas, rolling restarts under load"
	@echo "make dlq     dead letters: make dlq ARGS='list' | ARGS='show ID' | ARGS='replay ID' (chuishao dlq)"
	@echo "make catalogs  extract text for people into services/locale/chuishao.pot and update the .po catalogs"
	@echo "make lock    re-resolve pyproject.toml in a temporary venv and rewrite requirements.lock"
	@echo "make clean   remove var/ and .venv"

venv: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	@if ! command -v $(PY) >/dev/null 2>&1; then \
	    echo "$(PY) not found: install Python 3.11, e.g. 'sudo apt-get install python3.11 python3.11-venv'" >&2; \
	    echo "(or 'pyenv install 3.11'), or name another interpreter: make venv PY=/path/to/python3.11" >&2; \
	    exit 1; \
	fi
	@if ! $(PY) -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] < (3, 13))'; then \
	    echo "$(PY) is Python $$($(PY) -c 'import platform; print(platform.python_version())'); this project needs 3.11 or 3.12:" >&2; \
	    echo "install python3.11 (and python3.11-venv), or run: make venv PY=/path/to/python3.11" >&2; \
	    exit 1; \
	fi
	$(PY) -m venv $(VENV)
	$(VPY) -m pip install --quiet --upgrade pip
	$(VENV)/bin/pip install -c requirements.lock -e '.[test]'
	touch $(STAMP)

broker:
	bash scripts/ensure-rabbitmq.sh

prometheus:
	bash scripts/ensure-prometheus.sh >/dev/null

chromium:
	bash scripts/ensure-chromium.sh >/dev/null

db: venv
	$(VPY) -m services.common.migrate upgrade all
	$(VPY) -m services.common.setup_all

migration: venv
	@if [[ -z "$${SERVICE:-}" || -z "$${MSG:-}" ]]; then \
	    echo "usage: make migration SERVICE=whistle|dispatch|roster|metrics|all MSG='what changed'" >&2; exit 2; fi
	$(VPY) -m services.common.migrate revision --autogenerate -m "$(MSG)" $(SERVICE)

provision: venv broker
	$(VPY) -m services.common.provision $(or $(ARGS),apply)

token: venv
	@$(VPY) -m services.common.auth $(ARGS)

run: venv broker db
	mkdir -p var
	$(VPY) -m services.common.auth keys init
	exec $(VENV)/bin/honcho -f deploy/Procfile start

demo: venv
	$(VPY) -m services.demo $(or $(ARGS),run)

test: venv broker prometheus chromium lint
	REQUIRE_PROMETHEUS=1 REQUIRE_CHROMIUM=1 PYTEST_ARGS="$(PYTEST_ARGS)" bash scripts/test.sh

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

unit: venv
	$(VPY) -m pytest tests/unit -q $(PYTEST_ARGS)

bench: venv broker
	@test -x $(VENV)/bin/py-spy || $(VENV)/bin/pip install --quiet -c requirements.lock -e '.[test,bench]'
	$(VPY) -m bench $(ARGS)

chaos: venv broker
	CHAOS_WHISTLES=$${CHAOS_WHISTLES:-10000} $(VPY) -m pytest tests/chaos -q -s $(PYTEST_ARGS)

.PHONY: cluster-test replica-test
cluster-test: venv broker
	CLUSTER_WHISTLES=$${CLUSTER_WHISTLES:-1000} CLUSTER_RATE=$${CLUSTER_RATE:-8} \
	CLUSTER_DOWN_SECONDS=$${CLUSTER_DOWN_SECONDS:-15} \
	    $(VPY) -m pytest tests/chaos/test_cluster.py -q -s -p no:cacheprovider $(PYTEST_ARGS)

replica-test: venv broker
	@url="$$(bash scripts/postgres-url.sh)"; \
	if [[ -z "$$url" ]]; then echo "make replica-test needs PostgreSQL (TEST_POSTGRES_URL): replicas share their service's database" >&2; exit 1; fi; \
	DATABASE_URL="$$url" CHAOS_REPLICAS=$${CHAOS_REPLICAS:-whistle=3,dispatch=3,roster=2,metrics=2} \
	CHAOS_FAULT_ROUNDS=$${CHAOS_FAULT_ROUNDS:-2} CHAOS_WHISTLES=$${CHAOS_WHISTLES:-1000} \
	REPLICAS=$${REPLICAS:-whistle=3,dispatch=3,roster=2,metrics=2} REPLICA_WHISTLES=$${REPLICA_WHISTLES:-600} \
	    $(VPY) -m pytest tests/chaos/test_faults.py tests/chaos/test_replicas.py -q -s -p no:cacheprovider $(PYTEST_ARGS)

dlq: venv broker
	$(VENV)/bin/chuishao dlq $(ARGS)

# Text for people: extract every marked message into the template, merge it into each language's
# catalog, then translate what is new (tests/unit/test_catalogs.py fails until every one is).
catalogs: venv
	$(VENV)/bin/pybabel extract -F babel.cfg -o services/locale/chuishao.pot --project chuishao --version 0.1 \
	    --no-location --sort-output --no-wrap --omit-header .
	$(VENV)/bin/pybabel update -i services/locale/chuishao.pot -d services/locale -D chuishao \
	    --no-wrap --no-fuzzy-matching --ignore-obsolete

# A fresh resolve of pyproject.toml's ranges (no constraints) in a throwaway venv, checked by
# importing every dependency, frozen into requirements.lock.
lock:
	@command -v $(PY) >/dev/null 2>&1 || { echo "$(PY) not found: install Python 3.11" >&2; exit 1; }
	@tmp="$$(mktemp -d)"; trap 'rm -rf "$$tmp"' EXIT; \
	echo "== resolving into $$tmp/venv =="; \
	$(PY) -m venv "$$tmp/venv"; \
	"$$tmp/venv/bin/python" -m pip install --quiet --upgrade pip; \
	"$$tmp/venv/bin/pip" install --quiet -e '.[test,bench]'; \
	(cd "$$tmp" && "$$tmp/venv/bin/python" -W ignore -c "import $(LOCK_IMPORTS)"); \
	{ echo "# Exact tested versions of chuishao[test,bench]'s dependencies, used as pip constraints by 'make venv'."; \
	  echo "# Regenerate with 'make lock' (fresh resolve of pyproject.toml in a temporary venv)."; \
	  "$$tmp/venv/bin/pip" freeze --exclude-editable | grep -v '^-e'; \
	} > requirements.lock.tmp; \
	mv requirements.lock.tmp requirements.lock; \
	echo "== requirements.lock: $$(grep -vc '^#' requirements.lock) pinned packages =="

clean:
	rm -rf var .venv
