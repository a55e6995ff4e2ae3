# Every user-facing target builds .venv itself when it is missing or stale.
# The stamp depends on the lock file, so a changed pin rebuilds the environment.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
UV_VERSION := 0.13.8
KERNEL := crm-workbench
# This machine sets PYTHONDONTWRITEBYTECODE; compile .pyc at install time (imports are ~3x faster).
export UV_COMPILE_BYTECODE := 1
PROFILE ?= quarterly
SIZE ?= small
DATA ?= data/demo

.PHONY: env report test test-fast lab bench demo-data browser clean

env: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip install --python $(BIN)/python --quiet -r requirements.lock
	$(BIN)/uv pip install --python $(BIN)/python --quiet --no-deps -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "CRM Workbench (.venv)" >/dev/null
	@touch $(STAMP)

$(DATA)/warehouse.duckdb: | $(STAMP)
	$(BIN)/crm-workbench demo-data --size $(SIZE) --out $(DATA)

demo-data: $(DATA)/warehouse.duckdb

# The last closed period's pack (built once; FORCE=1 rebuilds it, keeping the old one aside).
report: $(STAMP) $(DATA)/warehouse.duckdb
	$(BIN)/crm-workbench run $(PROFILE) --source $(DATA)/warehouse.duckdb $(if $(FORCE),--force,--if-missing)

# Debian's chromium for the real-browser tests (installed once, when missing).
browser:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

test: $(STAMP) browser
	$(BIN)/python -m pytest -n 2 --dist loadfile --durations=15

test-fast: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile -m "not slow"

lab: $(STAMP) $(DATA)/warehouse.duckdb
	$(BIN)/jupyter lab notebooks/

# lifetimes 0.11.3 is the CLV benchmark's comparison only: its own venv, never the project's lock.
LIFETIMES := benchmarks/work/lifetimes-venv/bin/python
$(LIFETIMES):
	$(PYTHON) -m venv benchmarks/work/lifetimes-venv
	$@ -m pip install --quiet --disable-pip-version-check lifetimes==0.11.3

bench: $(STAMP) $(LIFETIMES)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) reports/*/ .pytest_cache
