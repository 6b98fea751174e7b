#!/usr/bin/env bash
# One-command setup on a fresh machine: a Python environment, torch, then tabdiff with its dev extras.
#
# - Environment: the active virtualenv/conda env if there is one, else ./.venv (created with $PYTHON, >= 3.10);
#   PY=.venv-NAME/bin/python picks (and creates) another one, as `make test-min` does.
# - torch: kept as it is when it already imports (a GPU cluster's own CUDA build stays); otherwise
#   $TABDIFF_TORCH (default torch==2.13.0, a CPU build that lies on this project's dev machines' disk) is
#   installed first, so that the project's `torch>=2.13` is already satisfied and pip pulls no other build.
# - $TABDIFF_CONSTRAINTS: a pip constraints file for the tabdiff install (`make test-min`: constraints/min.txt).
set -euo pipefail
cd "$(dirname "$0")/.."

# PY may come from the Makefile (same rule); an explicit PY=/path/to/python is honoured too
if [[ -z "${PY:-}" ]]; then
  if [[ -n "${VIRTUAL_ENV:-}${CONDA_PREFIX:-}" ]]; then PY=python; else PY=.venv/bin/python; fi
fi
if [[ "$PY" == .venv*/bin/python && ! -x "$PY" ]]; then
  "${PYTHON:-python3}" -m venv "${PY%/bin/python}"
fi
echo "tabdiff setup: using $("$PY" -c 'import sys; print(sys.executable, sys.version.split()[0])')"

if "$PY" -c "import torch" 2>/dev/null; then
  echo "tabdiff setup: keeping the installed torch $("$PY" -c 'import torch; print(torch.__version__)')"
else
  "$PY" -m pip install --quiet "${TABDIFF_TORCH:-torch==2.13.0}"
fi
"$PY" -m pip install --quiet ${TABDIFF_CONSTRAINTS:+-c "$TABDIFF_CONSTRAINTS"} -e ".[dev]"
echo "tabdiff setup: done. Run the tests with: make test"
