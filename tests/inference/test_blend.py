"""Blending with classical imputers: the exact convex weights, the holdout, and TabDiffImputer(blend=...)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from _tables import FAST, assert_known_cells_identical, mixed_frame
from hypothesis import given, settings
from hypothesis import strategies as st

from tabdiff import TabDiffImputer
from tabdiff.evaluation.baselines import impute_baseline
from tabdiff.experts.blend import (
    MIN_KNOWN,
    check_blend,
    convex_weights,
    fill_matrix,
    holdout_mask,
    spread_scale,
)
from tabdiff.experts.blend import classical_imputer as make_imputer


def _grid_best(predictions: np.ndarray, truth: np.ndarray, step: float = 0.01) -> float:
    """The least squared error over a grid of the 3-method simplex."""
    best = np.inf
    for a in np.arange(0, 1 + step / 2, step):
        for b in np.arange(0, 1 - a + step / 2, step):
            w = np.array([a, b, max(0.0, 1 - a - b)])
            best = min(best, float(np.sum((predictions @ w - truth) ** 2)))
    return best


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000))
def test_convex_weights_are_on_the_simplex_and_beat_every_grid_point(seed):
    rng = np.random.default_rng(seed)
    truth = rng.normal(size=40)
    predictions = truth[:, None] * rng.uniform(-1, 2, 3) + rng.normal(size=(40, 3)) * rng.uniform(0.1, 2, 3)
    w = convex_weights(predictions, truth)
    assert w.shape == (3,) and (w >= 0).all() and w.sum() == pytest.approx(1.0)
    assert np.sum((predictions @ w - truth) ** 2) <= _grid_best(predictions, truth) + 1e-9


def test_convex_weights_of_two_unbiased_methods_are_their_inverse_variances():
    # closed form: for truth + independent noise of sd s1, s2, the best convex weight on the first is s2^2 / (s1^2 + s2^2)
    rng = np.random.default_rng(0)
    truth = rng.normal(size=200_000)
    s1, s2 = 0.5, 1.0
    predictions = np.stack([truth + s1 * rng.normal(size=truth.size), truth + s2 * rng.normal(size=truth.size)], 1)
    assert convex_weights(predictions, truth)[0] == pytest.approx(s2**2 / (s1**2 + s2**2), abs=0.01)


def test_convex_weights_pick_an_exact_method_and_prefer_the_first_on_a_tie():
    truth = np.linspace(-1, 1, 30)
    assert np.allclose(convex_weights(np.stack([truth + 1, truth, truth - 3], 1), truth), [0, 1, 0])
    assert np.allclose(convex_weights(np.stack([truth, truth], 1), truth), [1, 0])


def test_holdout_hides_a_share_of_known_cells_in_the_columns_asked_and_never_a_whole_row():
    rng = np.random.default_rng(0)
    known = rng.random((2_000, 6)) < 0.7
    known[:, 5] = False
    known[: MIN_KNOWN - 1, 5] = True  # too few known cells: none hidden
    columns = np.array([True, True, True, False, True, True])
    held = holdout_mask(known, columns, 0.2, rng)
    assert not (held & ~known).any() and not held[:, ~columns].any() and not held[:, 5].any()
    assert held[:, :3].sum() / known[:, :3].sum() == pytest.approx(0.2, abs=0.02)
    assert ((known & ~held).any(axis=1) | ~known.any(axis=1)).all()  # every row keeps a known cell


def test_fill_matrix_keeps_known_cells_and_fills_the_rest():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 4)) * [1, 10, 100, 1000]
    x[rng.random(x.shape) < 0.3] = np.nan
    x[:, 3] = np.nan  # a column with no known cell
    for name in ("knn", "mice"):
        out = fill_matrix(make_imputer(name), x)
        known = ~np.isnan(x)
        assert np.allclose(out[known], x[known]) and np.isfinite(out).all()


def _linear_frame(n: int = 300, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Columns that are exact linear functions of two factors (MICE recovers them), 30% of the cells hidden."""
    rng = np.random.default_rng(seed)
    factors = rng.normal(size=(n, 2))
    truth = pd.DataFrame(factors @ rng.normal(size=(2, 5)), columns=[f"c{j}" for j in range(5)])
    hidden = rng.random(truth.shape) < 0.3
    hidden[0] = False
    return truth, truth.mask(hidden)


def _nrmse(truth: pd.DataFrame, given: pd.DataFrame, out: pd.DataFrame) -> float:
    hidden = given.isna().to_numpy()
    error = (out.to_numpy() - truth.to_numpy()) / truth.to_numpy().std(axis=0)
    return float(np.sqrt(np.mean(error[hidden] ** 2)))


def test_blend_leans_on_the_imputer_that_fits_the_held_cells(tiny):
    truth, given = _linear_frame()
    before = given.copy()
    imputer = TabDiffImputer(tiny, n_ensemble=1, blend=("mice", "knn"), **FAST)
    out = imputer.fit_transform(given)
    pd.testing.assert_frame_equal(given, before)
    assert_known_cells_identical(given, out)
    weights = imputer.blend_weights_
    assert list(weights) == ["tabdiff", "mice", "knn"] and sum(weights.values()) == pytest.approx(1.0)
    assert weights["mice"] > 0.75  # an untrained model and KNN add little to an exact linear fit (measured 0.89)
    alone = TabDiffImputer(tiny, n_ensemble=1, **FAST).fit_transform(given)
    mice = impute_baseline("mice", given)
    assert _nrmse(truth, given, out) < 0.5 * _nrmse(truth, given, alone)
    assert _nrmse(truth, given, out) < 1.5 * _nrmse(truth, given, mice) + 0.01


def test_blend_keeps_dtypes_and_known_cells_of_a_mixed_frame_and_categories_from_the_model(tiny):
    frame = mixed_frame(60)
    out = TabDiffImputer(tiny, n_ensemble=1, blend="knn", **FAST).fit_transform(frame)
    alone = TabDiffImputer(tiny, n_ensemble=1, **FAST).fit_transform(frame)
    assert_known_cells_identical(frame, out)
    assert (out.dtypes == frame.dtypes).all()
    for column in ("cat", "s", "obj", "nb"):  # categorical cells: the model's
        pd.testing.assert_series_equal(out[column], alone[column])


def test_no_blend_is_the_model_alone_and_too_few_cells_keep_the_model(tiny):
    frame = mixed_frame(8)  # a few known numeric cells: fewer than MIN_HELD can be hidden
    imputer = TabDiffImputer(tiny, blend=("mice",), **FAST)
    out = imputer.fit_transform(frame)
    assert imputer.blend_weights_ == {"tabdiff": 1.0, "mice": 0.0}
    pd.testing.assert_frame_equal(out, TabDiffImputer(tiny, **FAST).fit_transform(frame))


@pytest.mark.parametrize(
    ("blend", "holdout", "message"),
    [(("mice", "forest"), 0.1, "blend must name"), (("knn", "knn"), 0.1, "blend must name"),
     ("mice", 0.0, "blend_holdout must be"), ("mice", 1.0, "blend_holdout must be"), ((), True, "blend_holdout")],
)  # fmt: skip
def test_bad_blend_arguments_are_refused_at_fit(tiny, blend, holdout, message):
    with pytest.raises(ValueError, match=message):
        TabDiffImputer(tiny, blend=blend, blend_holdout=holdout, **FAST).fit(mixed_frame())


def test_check_blend_takes_one_name_or_several():
    assert check_blend("knn", 0.1) == ("knn",)
    assert check_blend(["mice", "missforest"], 0.5) == ("mice", "missforest")
    assert check_blend((), 0.1) == () and check_blend(None, 0.1) == ()


def test_the_evaluations_model_free_blend_fills_every_cell_and_keeps_known_ones():
    truth, given = _linear_frame(seed=1)
    frame = given.assign(kind=pd.Categorical(np.where(truth["c0"] > 0, "a", "b")).astype(object))
    frame.loc[::7, "kind"] = None
    out = impute_baseline("mice+knn", frame)
    assert not out.isna().any().any()
    assert_known_cells_identical(frame, out)
    mice, knn = impute_baseline("mice", frame), impute_baseline("knn", frame)
    scores = [_nrmse(truth, given, f[truth.columns]) for f in (out, mice, knn)]
    assert scores[0] <= max(scores[1:]) + 1e-9  # a convex blend fit on held cells is not the worse expert here


def test_all_subsets_are_tried():
    # a case where the best convex weights need a method the unconstrained fit would give a negative weight
    truth = np.array([0.0, 1.0, 2.0, 3.0])
    predictions = np.stack([truth + [0.1, -0.1, 0.1, -0.1], truth * 2, truth - 5], 1)
    w = convex_weights(predictions, truth)
    losses = []
    for subset in itertools.product([0, 1], repeat=3):
        if any(subset):
            losses.append(np.sum((predictions @ (np.array(subset) / sum(subset)) - truth) ** 2))
    assert np.sum((predictions @ w - truth) ** 2) <= min(losses) + 1e-12


def test_blended_draws_are_the_models_deviations_scaled_around_the_blended_point(tiny):
    truth, given = _linear_frame(120)
    options = {"sampler": "conditional", "n_steps": 2, "n_ensemble": 1}
    plain = TabDiffImputer(tiny, **options, draw_centre="draws", **FAST).fit(given).sample(given, 4)
    imputer = TabDiffImputer(tiny, **options, blend=("mice",), **FAST).fit(given)
    blended = imputer.sample(given, 4)
    hidden = given.isna().to_numpy()
    spread = imputer.blend_spread_
    assert 0 <= spread < 1  # the blend's point (MICE on an exact linear table) needs less than the model's spread
    plain_cells = np.stack([p.to_numpy()[hidden] for p in plain])
    blended_cells = np.stack([b.to_numpy()[hidden] for b in blended])
    np.testing.assert_allclose(
        blended_cells - blended_cells.mean(axis=0), spread * (plain_cells - plain_cells.mean(axis=0)), atol=1e-9
    )  # the same draws, scaled
    for draw in blended:
        assert_known_cells_identical(given, draw)
    error = [np.sqrt(np.mean((c.mean(axis=0) - truth.to_numpy()[hidden]) ** 2)) for c in (blended_cells, plain_cells)]
    assert error[0] < error[1]  # the draws' mean moved towards the exact linear fill


def _crps(draws: np.ndarray, truth: np.ndarray) -> float:
    """Mean CRPS of (m, n) draws, straight from the definition E|X - y| - E|X - X'| / 2 (all m^2 pairs)."""
    pairs = np.abs(draws[:, None, :] - draws[None, :, :]).mean(axis=(0, 1))
    return float((np.abs(draws - truth).mean(axis=0) - 0.5 * pairs).mean())


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 12))
def test_spread_scale_is_the_exact_crps_minimiser(seed, m):
    rng = np.random.default_rng(seed)
    n = 30
    scale = rng.uniform(0.5, 3, n)
    center = rng.normal(size=n) * scale
    truth = center + rng.normal(size=n) * scale * rng.uniform(0.1, 2)
    draws = rng.normal(size=(m, n)) * scale * rng.uniform(0.1, 3)
    deviations = draws - draws.mean(axis=0)
    best = spread_scale(deviations, center, truth, scale)
    assert best >= 0

    def loss(s):
        return _crps((center + s * deviations) / scale, truth / scale)

    grid = np.linspace(0, 10, 2001)
    assert loss(best) <= min(loss(s) for s in grid) + 1e-9
    assert loss(best) <= loss(best * 1.01) + 1e-12 and loss(best) <= loss(best * 0.99) + 1e-12


def test_spread_scale_undoes_a_known_overdispersion_and_makes_calibrated_draws():
    # truth ~ N(center, 1), m draws ~ N(center, 2^2) centred on their mean: the CRPS-best factor is about 1/2 and
    # makes the truth's rank among the scaled draws uniform (calibrated), also at small m where the centred draws
    # are fewer than they look (measured by simulation: the most uniform ranks at 0.45 for m = 5, 0.49 for m = 20)
    rng = np.random.default_rng(0)
    n = 40_000
    center, scale = np.zeros(n), np.ones(n)
    for m, expected in ((5, 0.45), (20, 0.49), (50, 0.5)):
        draws = 2.0 * rng.normal(size=(m, n))
        deviations = draws - draws.mean(axis=0)
        s = spread_scale(deviations, center, rng.normal(size=n), scale)
        assert s == pytest.approx(expected, abs=0.02)
        truth = rng.normal(size=n)  # fresh cells
        rank = (s * deviations < truth).sum(axis=0)
        assert np.bincount(rank, minlength=m + 1) / n == pytest.approx(np.full(m + 1, 1 / (m + 1)), abs=0.015)
    assert spread_scale(np.zeros((5, n)), center, rng.normal(size=n), scale) == 1.0  # no spread to scale
    assert spread_scale(np.zeros((1, n)), center, rng.normal(size=n), scale) == 1.0  # one draw: none either
