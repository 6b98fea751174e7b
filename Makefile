# The same interpreter choice as scripts/setup.sh: the active virtualenv/conda env, else ./.venv
PY ?= $(if $(VIRTUAL_ENV)$(CONDA_PREFIX),python,.venv/bin/python)

.PHONY: setup test test-full lint format demo evaluate

setup:  ## create the environment and install torch + tabdiff[dev]
	PY=$(PY) bash scripts/setup.sh

test:  ## the fast suite (CI runs exactly this)
	$(PY) -m pytest -m "not slow"

test-full:  ## everything, including the slow real-training tests
	$(PY) -m pytest

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
