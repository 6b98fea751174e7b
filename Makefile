# The same interpreter choice as scripts/setup.sh: the active virtualenv/conda env, else ./.venv
PY ?= $(if $(VIRTUAL_ENV)$(CONDA_PREFIX),python,.venv/bin/python)

.PHONY: setup test test-full lint format demo

setup:  ## create the environment and install torch + tabdiff[dev]
	PY=$(PY) bash scripts/setup.sh

test:  ## the fast suite (CI runs exactly this)
	$(PY) -m pytest -m "not slow"

test-full:  ## everything, including the slow real-training tests
	$(PY) -m pytest

lint:
	$(PY) -m ruff check tabdiff tests scripts
	$(PY) -m ruff format --check tabdiff tests scripts

format:
	$(PY) -m ruff format tabdiff tests scripts
	$(PY) -m ruff check --fix tabdiff tests scripts

demo:  ## the samplers against the closed-form Gaussian denoiser (until a checkpoint ships)
	$(PY) scripts/analytic_check.py
