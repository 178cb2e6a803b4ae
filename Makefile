# Two commands on a fresh machine: `make repro` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PATH := $(CURDIR)/$(BIN):$(PATH)
export DVC_NO_ANALYTICS := 1
export MLFLOW_ENABLE_TELEMETRY := false

# This machine's pip config names local mirrors that may be absent; pip warns once per
# package about them. Drop those lines, keep everything else (pipefail keeps pip's status).
QUIET_PIP := { grep -v '^WARNING: Location' || true; }

.PHONY: install repro test ui paper clean-venv

install: $(STAMP)

# requirements.txt pins the direct dependencies; requirements.lock pins everything they pull
# in, as resolved and tested together.
$(STAMP): requirements.txt requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -r requirements.txt -c requirements.lock 2>&1 | $(QUIET_PIP)
	$(BIN)/pip install --quiet --no-deps -e . 2>&1 | $(QUIET_PIP)
	$(BIN)/pip check
	touch $@

repro: install
	$(BIN)/dvc repro
	$(BIN)/langgeo summary

test: install
	$(BIN)/python -m pytest

# The paper's configuration (needs network and a GPU): params.paper.yaml replaces params.yaml.
paper: install
	cp params.paper.yaml params.yaml
	$(BIN)/dvc repro
	$(BIN)/langgeo summary

# MLflow UI on http://127.0.0.1:5000 (MLFLOW_PORT=... for another port) over the store that
# `dvc repro` fills; prints the link to the experiment's runs table once the server is up.
ui: install
	$(BIN)/langgeo ui

clean-venv:
	rm -rf $(VENV)
