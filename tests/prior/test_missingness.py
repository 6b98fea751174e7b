"""Masks: calibrated rates for MCAR / MAR / MNAR, value dependence, the target pattern, and validity guarantees."""

from __future__ import annotations

import numpy as np
import pytest

from tabdiff.prior import ColumnProcessor, LatentFactorPrior, MaskSampler, MissingnessConfig, RawTable
from tabdiff.prior.draws import normal_scores
from tabdiff.prior.missingness import calibrated_probs, column_signal, ensure_valid, mar_mask


def _tables(n: int, shape=(48, 8), seed: int = 0) -> list[RawTable]:
    rng = np.random.default_rng(seed)
    proc, gen = ColumnProcessor(), LatentFactorPrior()
    return [proc.apply(rng, gen.sample(rng, *shape)) for _ in range(n)]


TABLES = _tables(120)


def _only(kind: str, rate: float) -> MaskSampler:
    return MaskSampler(MissingnessConfig(weights={kind: 1.0}, rate_range=(rate, rate)))


@pytest.mark.parametrize("kind", ["mcar", "mnar"])
@pytest.mark.parametrize("rate", [0.1, 0.35, 0.6])
def test_realised_rate_matches_configured(kind, rate):
    rng, sampler = np.random.default_rng(1), _only(kind, rate)
    realised = [1.0 - sampler.sample(rng, t)[0].mean() for t in TABLES]
    assert abs(np.mean(realised) - rate) < 0.03


@pytest.mark.parametrize("rate", [0.1, 0.35, 0.6])
def test_mar_rate_on_masked_columns_and_drivers_fully_known(rate):
    rng, cfg = np.random.default_rng(2), MissingnessConfig()
    realised = []
    for t in TABLES:
        known_mask, drivers = mar_mask(rng, column_signal(rng, t.values, t.n_categories), rate, cfg)
        assert drivers.any() and known_mask[:, drivers].all()
        realised.append(1.0 - known_mask[:, ~drivers].mean())
    assert abs(np.mean(realised) - rate) < 0.03


def _abs_corr_value_vs_missing(kind: str) -> float:
    rng, sampler = np.random.default_rng(3), _only(kind, 0.4)
    corrs = []
    for _ in range(20):
        values = rng.standard_normal((256, 4))
        known_mask, _ = sampler.sample(rng, RawTable.numeric(values))
        for j in range(4):
            corrs.append(abs(np.corrcoef(normal_scores(values)[:, j], ~known_mask[:, j])[0, 1]))
    return float(np.mean(corrs))


def test_mnar_depends_on_the_value_and_mcar_does_not():
    assert _abs_corr_value_vs_missing("mnar") > 0.25
    assert _abs_corr_value_vs_missing("mcar") < 0.1


def test_target_mask_hides_part_of_exactly_one_column():
    rng = np.random.default_rng(4)
    sampler = MaskSampler(MissingnessConfig(weights={"target": 1.0}, rate_range=(0.3, 0.3), target_col_prob=1.0))
    for _ in range(20):
        values = rng.standard_normal((20, 5))
        known_mask, kind = sampler.sample(rng, RawTable.numeric(values, target_col=2))
        assert kind == "target"
        partly_unknown = np.flatnonzero(~known_mask.all(axis=0))
        assert partly_unknown.tolist() == [2] and (~known_mask[:, 2]).sum() == 6


def test_every_column_keeps_a_known_cell_and_some_cell_is_unknown():
    rng = np.random.default_rng(5)
    sampler = MaskSampler(MissingnessConfig(rate_range=(0.6, 0.6)))
    small = [RawTable.numeric(rng.standard_normal((2, 6))) for _ in range(100)]
    for t in small + TABLES[:40]:
        known_mask, _ = sampler.sample(rng, t)
        assert known_mask.any(axis=0).all() and not known_mask.all()


def test_ensure_valid_repairs_both_extremes():
    rng = np.random.default_rng(6)
    fixed = ensure_valid(rng, np.zeros((4, 3), dtype=bool), np.ones(3, dtype=bool))
    assert fixed.any(axis=0).all()
    fixed = ensure_valid(rng, np.ones((4, 3), dtype=bool), np.array([False, True, False]))
    assert (~fixed).sum() == 1 and not fixed[:, 1].all()


def test_calibrated_probs_hit_the_rate_per_column():
    logit = np.random.default_rng(7).standard_normal((100, 5)) * np.array([0.0, 1.0, 3.0, 10.0, 30.0])
    np.testing.assert_allclose(calibrated_probs(logit, 0.27).mean(axis=0), 0.27, atol=1e-6)


def test_mar_always_leaves_a_column_to_mask():
    rng, cfg = np.random.default_rng(8), MissingnessConfig(max_driver_frac=1.0)
    for n_cols in (2, 3, 5):
        known_mask, drivers = mar_mask(rng, rng.standard_normal((10, n_cols)), 0.5, cfg)
        assert 1 <= drivers.sum() <= n_cols - 1 and not known_mask.all()
