# MindHit developer commands. `make up` runs everything; `make test` runs every test.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

.PHONY: install up test test-python lint dev-up dev-down kind-up kind-build kind-deploy kind-down clean

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	touch $@

## install: create .venv and install MindHit with its development tools
install: $(VENV)/.installed

## up: install, then run MindHit end to end (embedded Redis/PostgreSQL when none is local)
up: install
	./scripts/build-web.sh
	$(VENV)/bin/mindhit up

## test: install everything, start what the tests need, run the whole suite
test: install
	./scripts/test.sh

## test-python: only the Python tests (assumes `make install` and running services)
test-python: install
	$(PY) -m pytest

## lint: ruff and mypy
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy schema mindhit ingest processors projector web

## dev-up / dev-down: PostgreSQL 16 and Redis 7 from compose.yaml for `make up` (needs Docker)
dev-up:
	./scripts/dev-up.sh
dev-down:
	./scripts/dev-down.sh

## kind-up / kind-build / kind-deploy / kind-down: MindHit on a local kind cluster (needs Docker, kind, kubectl, helm)
kind-up:
	./scripts/kind-up.sh
kind-build:
	./scripts/kind-build.sh
kind-deploy:
	./scripts/kind-deploy.sh
kind-down:
	./scripts/kind-down.sh

clean:
	rm -rf $(VENV) .mindhit .pytest_cache .ruff_cache .mypy_cache
