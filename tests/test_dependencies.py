"""The declared dependency floors are the tested ones (issue 42): constraints/min.txt, which `make test-min` installs
the suite with, pins each lower bound of pyproject.toml exactly, and every runtime dependency imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]

# distribution -> a module it must make importable
IMPORTS = {
    "torch": "torch",
    "lightning": "lightning",
    "hydra-core": "hydra",
    "omegaconf": "omegaconf",
    "wandb": "wandb",
    "datasets": "datasets",
    "einops": "einops",
    "numpy": "numpy",
    "pandas": "pandas",
    "scikit-learn": "sklearn",
    "scipy": "scipy",
    "threadpoolctl": "threadpoolctl",
    "safetensors": "safetensors",
    "tqdm": "tqdm",
    "pyarrow": "pyarrow.parquet",  # pandas' parquet engine: without it read_parquet finds "no engine"
    "matplotlib": "matplotlib",
}


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _bounds(lines: list[str], operator: str) -> dict[str, Version]:
    """name -> version of requirement lines that each hold exactly one `operator` bound."""
    bounds = {}
    for line in lines:
        requirement = Requirement(line)
        (specifier,) = requirement.specifier
        assert specifier.operator == operator, f"{line!r}: expected one {operator} bound"
        version = Version(specifier.version)
        assert bounds.setdefault(requirement.name.lower(), version) == version, f"{line!r}: two different bounds"
    return bounds


def test_constraints_pin_every_floor_exactly():
    project = _project()
    declared = project["dependencies"] + [line for extra in project["optional-dependencies"].values() for line in extra]
    pinned = [line.split("#")[0].strip() for line in (ROOT / "constraints" / "min.txt").read_text().splitlines()]
    assert _bounds([line for line in pinned if line], "==") == _bounds(declared, ">=")


def test_every_runtime_dependency_imports():
    # tabdiff imports wandb (a logger config) and datasets (remote tables) only when used, so no other test would
    # notice one that does not import (wandb < 0.16.4 did `import pkg_resources`, which setuptools no longer has)
    assert set(IMPORTS) == {Requirement(line).name.lower() for line in _project()["dependencies"]}
    code = "\n".join(f"import {module}" for module in IMPORTS.values())
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
