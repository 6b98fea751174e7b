"""Generator families and column post-processing: shapes, finiteness, seeding, and the structure each promises."""

from __future__ import annotations

import numpy as np
import pytest

from tabdiff.prior import (
    ColumnConfig,
    ColumnProcessor,
    GaussianMixturePrior,
    GPPrior,
    LatentFactorConfig,
    LatentFactorPrior,
    MechanismConfig,
    RawTable,
    SCMConfig,
    SCMPrior,
)
from tabdiff.prior.mechanisms import tree_mechanism

GENERATORS = [LatentFactorPrior(), SCMPrior(), GaussianMixturePrior(), GPPrior()]
SHAPES = [(2, 1), (8, 3), (33, 16), (200, 40)]


@pytest.mark.parametrize("gen", GENERATORS, ids=lambda g: g.family)
def test_generator_shapes_finite_and_seeded(gen):
    for n_rows, n_cols in SHAPES:
        for seed in range(5):
            raw = gen.sample(np.random.default_rng(seed), n_rows, n_cols)
            assert raw.values.shape == (n_rows, n_cols) and raw.values.dtype == np.float64
            assert np.isfinite(raw.values).all()
            assert (raw.n_categories == 0).all() and not raw.is_integer.any()
        again = gen.sample(np.random.default_rng(seed), n_rows, n_cols)
        np.testing.assert_array_equal(raw.values, again.values)


def test_linear_latent_factor_table_has_its_rank():
    cfg = LatentFactorConfig(max_rank=1, warp_prob=0.0, beta_warp_prob=0.0, noise_range=(1e-9, 1e-8))
    raw = LatentFactorPrior(cfg).sample(np.random.default_rng(0), 50, 8)
    s = np.linalg.svd(raw.values - raw.values.mean(axis=0), compute_uv=False)
    assert s[1] < 1e-6 * s[0]


def test_scm_effect_target_is_the_last_column():
    gen = SCMPrior(SCMConfig(effect_target_prob=1.0))
    raw = gen.sample(np.random.default_rng(0), 30, 6)
    assert raw.target_col == 5


def test_tree_mechanism_is_piecewise_constant():
    cfg = MechanismConfig(tree_depth_range=(2, 2), max_trees=1)
    x = np.random.default_rng(0).standard_normal((500, 3))
    y = tree_mechanism(np.random.default_rng(1), cfg, x)
    assert y.shape == (500,) and len(np.unique(y)) <= 4


def _processed(cfg: ColumnConfig, n: int = 150, shape=(40, 10)) -> list[RawTable]:
    rng = np.random.default_rng(0)
    proc, gen = ColumnProcessor(cfg), LatentFactorPrior()
    return [proc.apply(rng, gen.sample(rng, *shape)) for _ in range(n)]


def test_columns_mixed_types_are_valid():
    tables = _processed(ColumnConfig(max_categories=4, integer_prob=0.3))
    n_cat = np.concatenate([t.n_categories for t in tables])
    assert abs((n_cat > 0).mean() - 0.2) < 0.05  # the configured categorical fraction
    assert n_cat.max() <= 4 and np.concatenate([t.is_integer for t in tables]).any()
    for t in tables:
        assert np.isfinite(t.values).all()
        for j in np.flatnonzero(t.n_categories):
            codes = t.values[:, j]
            # compacted: every code 0..K-1 occurs, K >= 2
            assert t.n_categories[j] >= 2 and set(np.unique(codes)) == set(range(t.n_categories[j]))
        ints = t.values[:, t.is_integer]
        np.testing.assert_array_equal(ints, np.round(ints))
        assert not (t.is_integer & (t.n_categories > 0)).any()


def test_columns_target_duplicate_and_constant_oddities():
    tables = _processed(ColumnConfig(target_prob=1.0, duplicate_prob=1.0, constant_prob=1.0), n=20)
    for t in tables:
        assert t.target_col is not None
        assert any(np.ptp(t.values[:, j]) == 0 for j in range(t.values.shape[1]))  # the constant column


def test_columns_single_column_table():
    rng = np.random.default_rng(0)
    proc = ColumnProcessor(ColumnConfig(categorical_frac=0.5, argmax_prob=1.0, target_prob=1.0))
    for _ in range(20):
        t = proc.apply(rng, RawTable.numeric(rng.standard_normal((5, 1))))
        assert t.values.shape == (5, 1) and np.isfinite(t.values).all() and t.target_col is None
