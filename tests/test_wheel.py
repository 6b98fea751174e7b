"""The built wheel works outside the source tree (issue 14): `tabdiff impute`, `tabdiff-pretrain experiment=smoke`
and `tabdiff-evaluate evaluation=tiny` from a fresh virtual environment, in a folder with no `conf/` or `data/`.

The fresh environment gets tabdiff from the wheel only (no editable install); its dependencies are this
environment's site-packages, added by a plain path in a .pth file (which does not run this environment's own
.pth files, so the editable tabdiff stays invisible)."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel_env(tmp_path_factory) -> Path:
    """bin/ of a fresh venv with the wheel built from this checkout installed."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"  # a clean copy: a stale build/ in the checkout must not leak into the wheel
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "tabdiff", "conf", "data"):
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy2
        copy(
            ROOT / name,
            source / name,
            **({"ignore": shutil.ignore_patterns("__pycache__")} if copy is shutil.copytree else {}),
        )
    isolation = ["--no-build-isolation"] if importlib.util.find_spec("setuptools") else []
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "-q", "-w", str(work / "dist"), str(source)],
        check=True,
        timeout=600,
    )
    (wheel,) = (work / "dist").glob("tabdiff-*.whl")
    env = work / "env"
    venv.EnvBuilder(with_pip=False).create(env)
    python = env / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    Path(purelib, "tabdiff-deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
        timeout=600,
    )
    return env / "bin"


def _run(bin_dir: Path, cwd: Path, *command: str) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [str(bin_dir / command[0]), *command[1:]], cwd=cwd, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def test_the_installed_package_is_the_wheel_not_the_checkout(wheel_env, tmp_path):
    done = _run(
        wheel_env,
        tmp_path,
        "python",
        "-c",
        "import tabdiff, tabdiff.resources as r; print(tabdiff.__file__, r.resource_dir('conf'))",
    )
    assert str(ROOT) not in done.stdout and "share/tabdiff/conf" in done.stdout and "site-packages" in done.stdout


def test_the_cli_imputes_with_the_bundled_checkpoint(wheel_env, tmp_path):
    table = pd.read_parquet(ROOT / "data" / "tables" / "airquality.parquet")
    table.to_csv(tmp_path / "in.csv", index=False)
    _run(wheel_env, tmp_path, "tabdiff", "impute", "in.csv", "-o", "out.csv", "-q", "--seed", "0", "--n-ensemble", "1")
    filled = pd.read_csv(tmp_path / "out.csv")
    assert filled.shape == table.shape and not filled.isna().any().any()


def test_pretraining_and_evaluation_find_their_configs(wheel_env, tmp_path):
    _run(wheel_env, tmp_path, "tabdiff-pretrain", "experiment=smoke", "trainer.max_steps=2", "callbacks.zero_shot=null")
    assert (tmp_path / "outputs" / "smoke" / "export" / "tabdiff.safetensors").exists()
    done = _run(wheel_env, tmp_path, "tabdiff-evaluate", "evaluation=tiny")
    assert "tabdiff" in done.stdout
