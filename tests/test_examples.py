"""examples/pool_regression.py: Rubin's rules against their definition, and the example end to end."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "pool_regression.py"
spec = importlib.util.spec_from_file_location("pool_regression", EXAMPLE)
pool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pool)


def _frame(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=60)
    return pd.DataFrame({"x": x, "y": 1.0 + 2.0 * x + rng.normal(size=60)})


def test_identical_imputations_pool_to_the_single_fit():
    frame = _frame(0)
    coef, var, _ = pool.ols(frame, "y", ["x"])
    pooled = pool.pool_ols([frame] * 5, "y", ["x"])
    np.testing.assert_allclose(pooled.estimate, coef)
    np.testing.assert_allclose(pooled.std_error, np.sqrt(var))
    assert (pooled.missing_info == 0).all()


def test_rubins_total_variance_is_within_plus_inflated_between():
    frames = [_frame(seed) for seed in range(4)]
    fits = [pool.ols(f, "y", ["x"]) for f in frames]
    estimates, variances = np.stack([f[0] for f in fits]), np.stack([f[1] for f in fits])
    expected = variances.mean(axis=0) + (1 + 1 / 4) * estimates.var(axis=0, ddof=1)
    pooled = pool.pool_ols(frames, "y", ["x"])
    np.testing.assert_allclose(pooled.std_error**2, expected)
    np.testing.assert_allclose(pooled.estimate, estimates.mean(axis=0))
    assert ((pooled.low < pooled.estimate) & (pooled.estimate < pooled.high)).all()


def test_the_example_runs_on_the_bundled_table():
    done = subprocess.run([sys.executable, str(EXAMPLE), "-m", "3"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Rubin's rules" in done.stdout and "Temp" in done.stdout


def test_generation_example_plots_each_columns_real_and_synthetic_distribution(tmp_path):
    path = Path(__file__).resolve().parents[1] / "examples" / "generate_rows.py"
    spec = importlib.util.spec_from_file_location("generate_rows", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    rng = np.random.default_rng(0)
    real = pd.DataFrame({"x": rng.normal(size=80), "k": rng.choice(["a", "b"], 80), "y": rng.integers(0, 3, 80)})
    fake = real.sample(frac=1.0, random_state=1).reset_index(drop=True)
    out = example.plot_marginals(real, fake, tmp_path / "plots" / "marginals.png")
    assert out.exists() and out.stat().st_size > 10_000
