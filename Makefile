# opsdash: `make demo` starts everything with demo data; `make test` runs the suite.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.12 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
export PORT

.PHONY: demo test test-fast lint typecheck bench browser-deps db-stop db-reset clean

# Every machine installs the same versions: those in the lock files, which `make lock` writes
# from pyproject.toml (lock.txt: the runtime dependencies, what the Docker image installs;
# dev-lock.txt: those plus the dev and demo extras). opsdash itself goes on top, editable.
LOCK := requirements/lock.txt
DEV_LOCK := requirements/dev-lock.txt

$(BIN)/.installed: pyproject.toml $(LOCK) $(DEV_LOCK)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 12) else 1)' || \
	  { echo "opsdash needs Python 3.12 (found $$($(PYTHON) --version 2>&1) at $(PYTHON)); install it or run make PYTHON=/path/to/python3.12"; exit 2; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --requirement $(DEV_LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --editable .
	@touch $@

# After changing a dependency in pyproject.toml: rewrite the lock files. Versions already
# locked stay where they still fit; `make lock LOCK_FLAGS=--upgrade` moves everything to the
# newest versions pyproject.toml allows. The development set is resolved first and the
# runtime set within it, so the two files never disagree on a version. Resolved for Python
# 3.12 on every platform, whatever machine runs it.
UV_VERSION := 0.13.10
LOCK_FLAGS ?=
UV_COMPILE = $(BIN)/uv pip compile --quiet --universal --python-version 3.12 --custom-compile-command 'make lock' $(LOCK_FLAGS)

.PHONY: lock
lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet 'uv==$(UV_VERSION)'
	@mkdir -p $(dir $(LOCK))
	$(UV_COMPILE) --extra dev --output-file $(DEV_LOCK) pyproject.toml
	$(UV_COMPILE) --constraint $(DEV_LOCK) --output-file $(LOCK) pyproject.toml

demo: $(BIN)/.installed
	@scripts/demo.sh

# Debian's Chromium drives the browser tests; installed here when missing and we may.
browser-deps:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian's chromium for the browser tests..."; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
	      echo "could not install chromium: browser tests will be skipped"; \
	  else echo "chromium not found and cannot be installed: browser tests will be skipped"; fi; }

test: $(BIN)/.installed browser-deps
	$(BIN)/python -m pytest

test-fast: $(BIN)/.installed
	$(BIN)/python -m pytest -m "not browser and not worker"

# The clock-sensitive tests at midnight, month starts and ends (Feb 28/29 too) and each
# 3 hours of a day, a pytest run per instant (OPSDASH_TEST_NOW); DATABASE_URL passes through.
.PHONY: test-clock-sweep
test-clock-sweep: $(BIN)/.installed
	@scripts/test-clock-sweep.sh

lint: $(BIN)/.installed
	$(BIN)/ruff check opsdash tests bench
	$(BIN)/ruff format --check opsdash tests bench
	$(BIN)/lint-imports --no-cache

typecheck: $(BIN)/.installed
	OPSDASH_DEBUG=1 $(BIN)/mypy opsdash

bench: $(BIN)/.installed
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

db-stop:
	@$(BIN)/python -m opsdash.lib.embedded_db stop
	@$(BIN)/python -m opsdash.lib.embedded_broker stop

db-reset:
	@$(BIN)/python -m opsdash.lib.embedded_db reset

clean: db-stop
	rm -rf $(VENV) .opsdash test-output
