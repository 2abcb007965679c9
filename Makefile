# The few commands a newcomer needs. `make demo` runs the function locally; `make test` runs every check.
# Any Python 3.11-3.13 works; another interpreter needs its own virtualenv, e.g.
# `make demo PYTHON=python3.13 VENV=.venv-313`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements-dev.txt src/handler/requirements.txt | cksum | cut -d' ' -f1)

.DEFAULT_GOAL := help
.PHONY: help setup lint format test unit integration demo demo-313 py313-dir mutation local-api ddl bench bench-quick chaos calibrate preflight sam-setup checkov-setup validate build-IngestFunction mutation-setup events clean

help:
	@echo "make demo        run the function over events/*.json against the local stack (PostgreSQL + local Data API)"
	@echo "make test        lint, type-check and run every test (unit, integration, template, package, quick benchmark)"
	@echo "make local-api   serve the local Data API on http://127.0.0.1:4599 (for sam local invoke)"
	@echo "make bench       full benchmark: old designs vs this project on the same cluster model"
	@echo "make chaos       seeded random faults over many redelivery rounds (CHAOS_ARGS=--seeds 50)"
	@echo "make calibrate   measure a cluster's latency and commit rate, print template settings"
	@echo "                 (CALIBRATE_ARGS='--cluster-id C --db-user U --database dev'; --help: all flags)"
	@echo "make preflight   prove the function's contract against a target before go-live: every"
	@echo "                 statement shape and refusal, OK or MISMATCH (PREFLIGHT_ARGS: as CALIBRATE_ARGS)"
	@echo "make validate    sam validate --lint and sam build"
	@echo "make mutation    mutation testing of src/handler modules (MUTATE=...) with the unit tests"
	@echo "make demo-313    make demo with python3.13 in .venv-313 (the function's runtime)"
	@echo "make ddl         regenerate sql/create_table.sql (the AppsFlyer example) from local/appsflyer.py"
	@echo "make events      regenerate events/*.json from scripts/generate_events.py (seeded)"

$(STAMP): requirements-dev.txt src/handler/requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	rm -f $(VENV)/.installed-* && touch $@

setup: $(STAMP)

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

format: setup
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

unit: setup
	$(PY) -m pytest tests/unit

integration: setup
	$(PY) -m pytest tests/integration

test: lint sam-setup checkov-setup mutation-setup
	$(PY) -m pytest

# pytest reads its pythonpath from pyproject.toml; plain `python -m` needs it spelled out.
RUN := PYTHONPATH=src/handler:. $(PY)

demo: setup
	$(RUN) -m demo.run

# 0.0.0.0 so that `sam local invoke` containers reach it through host.docker.internal;
# local-cluster is the cluster local/env.json names (add --cluster/--workgroup NAME[:db,db]).
local-api: setup
	$(RUN) -m local.server --host 0.0.0.0 --port 4599 --cluster local-cluster

ddl: setup
	$(RUN) -m local.ddl > sql/create_table.sql.tmp && mv sql/create_table.sql.tmp sql/create_table.sql

bench: setup
	$(RUN) -m bench.run

bench-quick: setup
	$(RUN) -m bench.run --quick

# Long seeded chaos runs (make test runs a quick seed set): faults, rounds, duplicates, losses.
chaos: setup
	$(RUN) -m tests.chaos $(CHAOS_ARGS)

# Measures a real cluster or workgroup through the Data API in a scratch table it drops
# (docs/capacity.md, "Measure your cluster"); --endpoint-url points it at `make local-api`.
calibrate: setup
	$(RUN) -m calibrate $(CALIBRATE_ARGS)

# Runs every statement shape the function sends, and provokes every refusal it must classify,
# in a scratch table it drops; exits 1 on a MISMATCH (docs/deploy.md, "Preflight"). Same target
# flags as calibrate; --endpoint-url points it at `make local-api`.
preflight: setup
	$(RUN) -m preflight $(PREFLIGHT_ARGS)

# The SAM CLI pins its own boto3, so it lives in a venv of its own.
SAM_VENV := .venv-sam
SAM_STAMP := $(SAM_VENV)/.installed-$(shell cat requirements-sam.txt 2>/dev/null | cksum | cut -d' ' -f1)

$(SAM_STAMP): requirements-sam.txt
	test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install -q --disable-pip-version-check -r requirements-sam.txt
	rm -f $(SAM_VENV)/.installed-* && touch $@

sam-setup: $(SAM_STAMP)

# checkov pins conflict with the SAM CLI's: a venv of its own too (tests/template runs it).
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-$(shell cat requirements-checkov.txt 2>/dev/null | cksum | cut -d' ' -f1)

$(CHECKOV_STAMP): requirements-checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install -q --disable-pip-version-check -r requirements-checkov.txt
	rm -f $(CHECKOV_VENV)/.installed-* && touch $@

checkov-setup: $(CHECKOV_STAMP)

# sam build needs the function's runtime (python3.13) on PATH; a pyenv install counts even
# when pyenv has not selected it (its shim then fails).
PY313_DIR := $(shell for p in "$$(command -v python3.13)" $$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.13*/bin/python3.13 2>/dev/null | sort -r); do \
	[ -n "$$p" ] && "$$p" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null && { dirname "$$p"; break; }; done)

# Where python3.13 lives (empty: nowhere), for .ci/run.
py313-dir:
	@echo "$(PY313_DIR)"

# The demo on the function's own runtime, in a virtualenv of its own (.ci/run runs it).
demo-313:
	@test -n "$(PY313_DIR)" || { echo "demo-313 needs a python3.13 (pyenv install 3.13, or apt)"; exit 1; }
	$(MAKE) demo PYTHON="$(PY313_DIR)/python3.13" VENV=.venv-313

validate: sam-setup
	@test -n "$(PY313_DIR)" || { echo "sam build needs python3.13 on PATH (pyenv install 3.13, or apt)"; exit 1; }
	$(SAM_VENV)/bin/sam validate --lint
	PATH="$(PY313_DIR):$$PATH" $(SAM_VENV)/bin/sam build

# `sam build` runs this target for the function (template.yaml: BuildMethod makefile, ContextPath
# .), in a scratch copy of src/handler, with ARTIFACTS_DIR the function's build directory. It is
# the bundled Python builder's work (pinned wheels for the function's architecture, arm64) plus
# bytecode: Lambda cannot write __pycache__ into /var/task, so without it every cold start
# compiles every module anew. Unchecked-hash pycs are never compared with their source's mtime,
# which packaging may change (https://docs.python.org/3/library/compileall.html, PEP 552).
LAMBDA_PYTHON ?= python3.13
build-IngestFunction:
	$(LAMBDA_PYTHON) -m pip install -q --disable-pip-version-check --no-compile --target "$(ARTIFACTS_DIR)" \
		--only-binary=:all: --implementation cp --python-version 3.13 \
		--platform manylinux2014_aarch64 --platform manylinux_2_28_aarch64 -r requirements.txt
	tar -c --exclude=__pycache__ --exclude='*.pyc' . | tar -x -C "$(ARTIFACTS_DIR)"
	$(LAMBDA_PYTHON) -m compileall -q -j 0 --invalidation-mode unchecked-hash "$(ARTIFACTS_DIR)"

# mutmut over the shipped modules named in MUTATE, unit tests only; prints each module's killed
# share. Not part of `make test` (many minutes; tests/mutation runs it on ingest/names.py there,
# so it keeps working). The survivors: cd .mutation && ../.venv/bin/mutmut browse
MUTATE ?= src/handler/ingest/records.py src/handler/ingest/sql.py src/handler/ingest/writer.py \
	src/handler/ingest/settle.py src/handler/ingest/batch.py src/handler/ingest/names.py
MUTATION_STAMP := $(VENV)/.mutation-$(shell cat requirements-mutation.txt | cksum | cut -d' ' -f1)

$(MUTATION_STAMP): requirements-mutation.txt $(STAMP)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-mutation.txt
	rm -f $(VENV)/.mutation-* && touch $@

mutation-setup: $(MUTATION_STAMP)

mutation: setup $(MUTATION_STAMP)
	$(PY) -m scripts.mutation $(MUTATE)

events: setup
	$(RUN) -m scripts.generate_events

clean:
	rm -rf .aws-sam .local-stack .mutation .pytest_cache .mypy_cache .ruff_cache
