# The same interpreter choice as scripts/setup.sh: the active virtualenv/conda env, else ./.venv
PY ?= $(if $(VIRTUAL_ENV)$(CONDA_PREFIX),python,.venv/bin/python)

# `make test-min`: its own environment with the lowest versions pyproject.toml admits (constraints/min.txt)
MIN_PY := .venv-min/bin/python

.PHONY: setup test test-full setup-min test-min lint format demo evaluate

setup:  ## create the environment and install torch + tabdiff[dev]
	PY=$(PY) bash scripts/setup.sh

test:  ## the fast suite (CI runs exactly this)
	$(PY) -m pytest -m "not slow"

test-full:  ## everything, including the slow real-training tests
	$(PY) -m pytest

setup-min:  ## ./.venv-min: torch + tabdiff[dev] at the dependency floors (constraints/min.txt)
	PY=$(MIN_PY) TABDIFF_CONSTRAINTS=constraints/min.txt bash scripts/setup.sh

test-min: setup-min  ## the fast suite at the dependency floors, in ./.venv-min (CI runs it after `make test`)
	$(MIN_PY) -m pytest -m "not slow"

lint:
	$(PY) -m ruff check tabdiff tests scripts examples
	$(PY) -m ruff format --check tabdiff tests scripts examples

format:
	$(PY) -m ruff format tabdiff tests scripts
	$(PY) -m ruff check --fix tabdiff tests scripts

demo:  ## the main job on the shipped defaults: impute a bundled table with the bundled checkpoint
	mkdir -p outputs/demo
	$(PY) -m tabdiff.inference.cli impute data/tables/airquality.parquet -o outputs/demo/airquality_imputed.csv --seed 0

evaluate:  ## zero-shot evaluation of the bundled checkpoint on the held-out tables (reduced setting, minutes)
	$(PY) scripts/evaluate.py
