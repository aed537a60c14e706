# Two commands for people:  `make run`  and  `make test`.  Everything else is plumbing they call.
# Each installs what is missing into .venv first (from the lock files), so a machine with only
# Python 3.11 and pip is enough.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RAW := data/01_raw/diabetic_data.csv
NEW_ENCOUNTERS := data/01_raw/new_encounters
export KEDRO_DISABLE_TELEMETRY := true
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export NO_MKDOCS_2_WARNING := 1

.PHONY: run test install install-dev lock viz notebook docs browser

## run: install what is missing, make demo data if there is no raw file, run the whole job,
##      then score and monitor the new extracts (the demo makes one, January 2009)
run: $(VENV)/.installed
	@if [ -f "$(RAW)" ]; then echo "Using the raw file already at $(RAW)"; \
	else $(BIN)/kedro run --pipelines synthetic; fi
	$(BIN)/kedro run
	@if compgen -G "$(NEW_ENCOUNTERS)/*.csv" > /dev/null; then $(BIN)/kedro run --pipelines batch; \
	else echo "No new extracts in $(NEW_ENCOUNTERS)/: nothing to score or monitor"; fi

## test: install what is missing (runtime + test tools), lint, check formatting, build the
##      docs (--strict: a broken link fails), run the tests. Never installs system packages:
##      the browser tests skip, saying why, until `make browser` has installed Chromium.
test: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mkdocs build --strict --quiet
	bash tools/ensure_airflow_venv.sh
	bash tools/ensure_mlflow_venv.sh
	$(BIN)/python -m pytest

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

$(VENV)/.installed: requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps -e .
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.lock
	$(BIN)/python -m pip install -q -r requirements-dev.lock
	@touch $@

## lock: re-pin requirements*.lock after changing pyproject.toml or requirements-dev.in
lock:
	$(PYTHON) -m pip install -q uv
	uv pip compile pyproject.toml --python-version 3.11 --no-header -o requirements.lock
	uv pip compile requirements-dev.in --python-version 3.11 --no-header -o requirements-dev.lock

viz: $(VENV)/.installed
	$(BIN)/kedro viz run

## browser: one-off setup of Debian's chromium for the browser tests (apt-get: needs root or
##      password-less sudo; does nothing, and needs neither, when Chromium is already there)
browser:
	bash tools/ensure_chromium.sh

## docs: serve the documentation site (docs/, mkdocs.yml) at http://127.0.0.1:8000
docs: $(VENV)/.installed-dev
	$(BIN)/mkdocs serve

## notebook: install what is missing (incl. JupyterLab), open notebooks/explore_registry.ipynb
##      in JupyterLab with the project's kernel (`%load_ext kedro.ipython` is its first cell)
notebook: $(VENV)/.installed-dev
	$(BIN)/kedro jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) $(JUPYTER_ARGS) notebooks/explore_registry.ipynb
