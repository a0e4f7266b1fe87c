# Assistente Tasks: every routine command. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help setup run test lint format migrate api bench bench-quick clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev,embedded]"
	@touch $(STAMP)

setup: $(STAMP) ## Create .venv and install the service, its dev tools and embedded Postgres

BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/pip install --quiet -e ".[dev,embedded,bench]"
	@touch $(BENCH_STAMP)

run: $(STAMP) ## Run API, worker and relay locally (embedded Postgres if DATABASE_URL is unset)
	$(BIN)/assistente dev

test: $(STAMP) ## Run the whole test suite against real Postgres (and RabbitMQ)
	$(BIN)/pytest

lint: $(STAMP) ## ruff, mypy strict, import layering, compose file
	$(BIN)/ruff check app workers tests
	$(BIN)/ruff format --check app workers tests
	$(BIN)/mypy
	$(BIN)/lint-imports
	@if command -v docker-compose >/dev/null; then docker-compose config --quiet && echo "docker-compose.yml is valid"; \
	elif docker compose version >/dev/null 2>&1; then docker compose config --quiet && echo "docker-compose.yml is valid"; fi

format: $(STAMP) ## Format and autofix
	$(BIN)/ruff format app workers tests
	$(BIN)/ruff check --fix app workers tests

migrate: $(STAMP) ## Apply migrations to DATABASE_URL
	$(BIN)/assistente migrate

api: $(STAMP) ## Serve the REST API only
	$(BIN)/assistente api

bench: $(BENCH_STAMP) ## The benchmark suite against the local Postgres and RabbitMQ (about 40 min)
	$(BIN)/python -m tests.bench

bench-quick: $(BENCH_STAMP) ## The short form of the suite, run by CI (3 to 5 min)
	$(BIN)/python -m tests.bench --quick

clean: ## Remove the virtual environment, caches and local data
	rm -rf $(VENV) .data .pytest_cache .mypy_cache .ruff_cache

.PHONY: contract-long
contract-long: $(STAMP) ## The API against its OpenAPI document, about 6 500 cases (about 2 min)
	CONTRACT_MAX_EXAMPLES=400 CONTRACT_TIMEOUT=3600 $(BIN)/pytest tests/contract -q -s
