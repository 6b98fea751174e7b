"""The unpredictable-table filter: noise out, structure in, exact leave-one-out, and the redraw loop."""

from __future__ import annotations

import dataclasses

import numpy as np

from tabdiff.prior import (
    ColumnConfig,
    FilterConfig,
    LatentFactorConfig,
    LatentFactorPrior,
    PriorConfig,
    PriorSampler,
    RawTable,
)
from tabdiff.prior.filtering import loo_ridge_r2, predictability

CFG = FilterConfig()


def test_filter_rejects_noise_and_keeps_low_rank():
    rng = np.random.default_rng(0)
    low_rank = LatentFactorPrior(LatentFactorConfig(max_rank=2, warp_prob=0.0))
    for _ in range(10):
        noise = rng.standard_normal((64, 8))
        assert predictability(rng, noise, np.zeros(8, dtype=np.int64), CFG) < CFG.min_score
        table = low_rank.sample(rng, 64, 8)
        assert predictability(rng, table.values, table.n_categories, CFG) > 0.3


def test_filter_sees_categorical_columns():
    rng = np.random.default_rng(1)
    z = rng.integers(0, 3, 100)
    values = np.column_stack([z, z + 0.1 * rng.standard_normal(100), -z + 0.1 * rng.standard_normal(100)])
    assert predictability(rng, values, np.array([3, 0, 0]), CFG) > 0.5


def test_loo_ridge_r2_equals_refitting():
    rng = np.random.default_rng(2)
    for n, p in [(20, 4), (8, 12)]:
        x = rng.standard_normal((n, p))
        y = x[:, :1] + rng.standard_normal((n, 1))
        errors = []
        for i in range(n):
            keep = np.arange(n) != i
            w = np.linalg.solve(x[keep].T @ x[keep] + 2.0 * np.eye(p), x[keep].T @ y[keep])
            errors.append(y[i] - x[i] @ w)
        expected = 1.0 - (np.square(errors)).sum() / (y**2).sum()
        assert abs(loo_ridge_r2(x, y, 2.0) - expected) < 1e-9


class NoiseGenerator:
    family = "latent_factor"

    def __init__(self) -> None:
        self.calls = 0

    def sample(self, rng, n_rows, n_cols):
        self.calls += 1
        return RawTable.numeric(rng.standard_normal((n_rows, n_cols)))


def test_sampler_redraws_then_gives_up():
    # no added target, duplicate or (multi-column) categorical: each would give noise something to predict
    columns = ColumnConfig(target_prob=0.0, duplicate_prob=0.0, categorical_frac=0.0)
    cfg = PriorConfig(family_weights={"latent_factor": 1.0}, rows=(64, 64), cols=(8, 8), columns=columns)
    sampler = PriorSampler(dataclasses.replace(cfg, filter=FilterConfig(max_redraws=3)))
    noise = sampler.generators["latent_factor"] = NoiseGenerator()
    sampler.sample_table(np.random.default_rng(3))
    assert noise.calls == 4  # 1 draw + 3 redraws, then the last one is kept
