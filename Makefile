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

.PHONY: env report test test-fast lab bench bench-large demo-data browser fonts catalogues i18n-extract clean

env: $(STAMP) catalogues

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip install --python $(BIN)/python --quiet -r requirements.lock
	$(BIN)/uv pip install --python $(BIN)/python --quiet --no-deps -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "CRM Workbench (.venv)" >/dev/null
	$(BIN)/python -m crm_lib.i18n compile
	@# pyspark is published only as a source archive: every fresh environment builds it again, and uv keeps
	@# each build (1.4 GB) until pruned; dropping the outdated ones keeps the cache from filling the disk.
	@$(BIN)/uv cache prune --quiet || true
	@touch $(STAMP)

# Translation catalogues (crm_lib/i18n.py): .po files are the source, .mo files are built here
# (git-ignored). `make i18n-extract` refreshes the template and merges new messages into each .po.
PO_FILES := $(wildcard crm_lib/locale/*/LC_MESSAGES/crm.po)
MO_FILES := $(PO_FILES:.po=.mo)
catalogues: $(MO_FILES)

crm_lib/locale/%/LC_MESSAGES/crm.mo: crm_lib/locale/%/LC_MESSAGES/crm.po | $(STAMP)
	$(BIN)/python -m crm_lib.i18n compile

i18n-extract: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k lazy -k tr -c "Translators:" --no-wrap --sort-by-file \
		--project crm-workbench -o crm_lib/locale/crm.pot .
	$(BIN)/pybabel update -i crm_lib/locale/crm.pot -d crm_lib/locale -D crm --no-wrap

$(DATA)/warehouse.duckdb: | $(STAMP)
	$(BIN)/crm-workbench demo-data --size $(SIZE) --out $(DATA)

demo-data: $(DATA)/warehouse.duckdb

# The last closed period's pack (built once; FORCE=1 rebuilds it, keeping the old one aside).
# History on first use: the HISTORY periods before the pack's are built first as facts only (no pages;
# `crm-workbench backfill`), by the notebooks that feed the scorecard's headline KPIs, so the pack has
# trends, a previous period and the same period a year ago. HISTORY=0 builds the pack alone.
HISTORY ?= 8
HISTORY_NOTEBOOKS ?= 00_data_overview,10_segmentation,20_churn,30_satisfaction,31_complaints_sla,40_clv,90_effectiveness_review
report: $(STAMP) catalogues $(DATA)/warehouse.duckdb
	$(if $(filter-out 0,$(HISTORY)),$(BIN)/crm-workbench backfill $(PROFILE) --periods $(HISTORY) \
		--notebooks $(HISTORY_NOTEBOOKS) --source $(DATA)/warehouse.duckdb)
	$(BIN)/crm-workbench run $(PROFILE) --source $(DATA)/warehouse.duckdb $(if $(FORCE),--force,--if-missing)

# A CJK font for zh-CN figures and pages (Debian's fonts-noto-cjk, installed once, when missing).
# Needs root and apt; elsewhere it says so and goes on (`crm-workbench doctor` reports the font).
fonts:
	@fc-list 2>/dev/null | grep -q "Noto Sans CJK SC" || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-noto-cjk >/dev/null; \
	  else \
	    echo "fonts: 'Noto Sans CJK SC' is missing and this is not a root Debian shell: install fonts-noto-cjk" \
	         "(or any font providing Noto Sans CJK SC); zh-CN figures would show boxes" >&2; \
	  fi; }

# Debian's chromium for the real-browser tests (installed once, when missing); the CJK font too.
browser: fonts
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# lint-imports: the layering contracts of pyproject.toml (tests/test_layers.py also plants violations)
test: $(STAMP) catalogues browser
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder --durations=15

test-fast: $(STAMP) catalogues
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder -m "not slow"

lab: $(STAMP) catalogues $(DATA)/warehouse.duckdb
	$(BIN)/jupyter lab notebooks/

# lifetimes 0.11.3 is the CLV benchmark's comparison only: its own venv, never the project's lock.
LIFETIMES := benchmarks/work/lifetimes-venv/bin/python
$(LIFETIMES):
	$(PYTHON) -m venv benchmarks/work/lifetimes-venv
	$@ -m pip install --quiet --disable-pip-version-check lifetimes==0.11.3

bench: $(STAMP) $(LIFETIMES)
	$(BIN)/python benchmarks/run.py

# The feature table at 100k, 1M and 10M customers on DuckDB (Parquet-only banks made in bounded memory; the
# 10M bank is ~11 GB of Parquet and takes about half an hour to make), and at 1M on local Spark beside it.
bench-large: $(STAMP)
	$(BIN)/python benchmarks/run.py --only scale --sizes 100k,1m,10m

clean:
	rm -rf $(VENV) reports/*/ .pytest_cache
